"""Database health: a background ping and what requests just met drive gRPC health; a
database that cannot be reached makes ingest fail fast.

- Answering: the last ping was answered within PING_TIMEOUT_S, and no request has timed out
  on the database since that ping began: every service is SERVING.
- Busy: a ping or a request timed out on a database we are connected to. NOT_SERVING at once
  (a request that timed out turns it, not the next ping), until a ping that began after the
  timeout is answered in time. Requests still try; one that times out is refused with
  RESOURCE_EXHAUSTED and a Retry-After (collector.errors.DatabaseBusy).
- Unreachable: the ping cannot reach it (refused, no server to select). NOT_SERVING, and
  writes are refused at once with UNAVAILABLE instead of each waiting out the
  server-selection timeout.

Recovery is noticed by the next ping; nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from collector.errors import on_database_busy
from collector.prometheus import DATABASE_UP
from collector.store.storage import Storage

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The same limit a request's database operations have (MONGODB_REQUEST_TIMEOUT_MS' default):
# a ping answered within it says requests would be too.
PING_TIMEOUT_S = 1.5
# While not serving, the ping comes this often (or HEALTH_INTERVAL_S, if shorter), so that
# recovery is seen within about a second of it.
RECHECK_S = 1.0


class DatabaseMonitor:
    def __init__(
        self,
        storage: Storage,
        health: health_aio.HealthServicer,
        services: Sequence[str],
        interval_s: float,
    ) -> None:
        self._storage = storage
        self._health = health
        self._services = services
        self._interval_s = interval_s
        self._serving = storage.available
        self._busy_at = -1.0  # when a request last timed out on the database (monotonic)
        self._updates: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()  # a request timed out: ping now

    async def publish(self, up: bool) -> None:
        """Every service's status: SERVING or NOT_SERVING."""
        for name in ("", *self._services):
            await self._health.set(name, SERVING if up else NOT_SERVING)

    def request_timed_out(self) -> None:
        """A request was refused because the database did not answer in time: the next health
        check must say so, not wait for a ping to find out."""
        self._busy_at = time.monotonic()
        self._wake.set()
        if self._serving:
            self._serving = False
            log.warning(
                "database busy: a request timed out on it; NOT_SERVING until a ping is "
                "answered within %.1f s",
                PING_TIMEOUT_S,
            )
            update = asyncio.get_running_loop().create_task(self.publish(False))
            self._updates.add(update)
            update.add_done_callback(self._updates.discard)

    async def check(self) -> None:
        """One ping, and the status it leads to."""
        began = time.monotonic()
        answered = await self._storage.probe(PING_TIMEOUT_S)
        DATABASE_UP.set(1 if answered else 0)
        # A request that timed out while this ping was under way is not contradicted by it.
        serving = answered and began > self._busy_at
        if serving == self._serving:
            return
        self._serving = serving
        await self.publish(serving)
        if serving:
            log.info("database answering again: serving")
        elif not self._storage.available:
            log.warning("database unreachable: NOT_SERVING, writes refused until it answers")
        else:
            log.warning(
                "database busy: a ping was not answered within %.1f s; NOT_SERVING until one is",
                PING_TIMEOUT_S,
            )

    async def watch(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._wake.clear()
            await self.check()
            pause = self._interval_s if self._serving else min(self._interval_s, RECHECK_S)
            stop, wake = (
                asyncio.ensure_future(stopping.wait()),
                asyncio.ensure_future(self._wake.wait()),
            )
            try:
                await asyncio.wait({stop, wake}, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                wake.cancel()


@contextlib.asynccontextmanager
async def monitor_database(
    storage: Storage,
    health: health_aio.HealthServicer,
    services: Sequence[str],
    interval_s: float,
) -> AsyncIterator[DatabaseMonitor]:
    monitor = DatabaseMonitor(storage, health, services, interval_s)
    DATABASE_UP.set(1 if storage.available else 0)
    await monitor.publish(storage.available)
    stop_listening = on_database_busy(monitor.request_timed_out)
    stopping = asyncio.Event()
    task = asyncio.create_task(monitor.watch(stopping))
    try:
        yield monitor
    finally:
        stop_listening()
        # Stop between pings rather than cancel: a PyMongo operation cancelled mid-read can
        # stay "cancelling" until its socket timeout, which stalled shutdown (seen: 20 s+).
        stopping.set()
        await task
