"""What the database client saw go wrong with its connections, logged.

PyMongo clears its connection pool when a heartbeat or an operation fails on the network, and
a cleared pool fails every operation in flight on it: each answered UNAVAILABLE "database
unavailable, retry later". Without these lines an operator, or a test that met one, sees only
the refusals and not their cause. The addresses and errors logged hold nothing secret.
"""

from __future__ import annotations

import logging

from pymongo import monitoring

from collector.errors import Warnings

log = logging.getLogger(__name__)


class ClientEvents(monitoring.ConnectionPoolListener, monitoring.ServerHeartbeatListener):
    """Logs a cleared pool and a failed heartbeat (WARNING, each at most every 10 s: while
    the database is down, heartbeats fail every half second), a connection closed by an error
    (INFO); every other event is ignored."""

    def __init__(self) -> None:
        self._cleared = Warnings("database connection pool cleared", log)
        self._heartbeat = Warnings("database heartbeat failed", log)

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        interrupted = ", operations in flight interrupted" if event.interrupt_connections else ""
        self._cleared.say("{}:{}{}".format(*event.address, interrupted))

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        if event.reason == monitoring.ConnectionClosedReason.ERROR:
            host, port = event.address
            log.info(
                "database connection %s to %s:%s closed by an error",
                event.connection_id,
                host,
                port,
            )

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        self._heartbeat.say(
            f"after {event.duration:.1f} s: {type(event.reply).__name__}: {event.reply!s:.200}"
        )

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        pass

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        pass

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pass

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        pass

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        pass

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        pass

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        pass
