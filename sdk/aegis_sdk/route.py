"""Which transport the next session uses: the configured one, or, when gRPC keeps failing to
connect and a rest_url is given, REST for a while (then gRPC is tried again)."""

from __future__ import annotations

import logging
import math
import time

from aegis_sdk.config import Config
from aegis_sdk.retry import UNREACHABLE
from aegis_sdk.transport import Transport
from aegis_sdk.transport_grpc import GrpcTransport
from aegis_sdk.transport_rest import RestTransport

log = logging.getLogger("aegis_sdk")


class Route:
    def __init__(self, config: Config) -> None:
        self._after = config.fallback_after
        self._period = config.fallback_period
        rest = None
        if config.rest_url:
            rest = RestTransport(config.rest_url, request_timeout=config.request_timeout)
        self.fallback: Transport | None = None
        self.primary: Transport
        if config.transport == "rest":
            assert rest is not None, "Config checks that REST has a URL"
            self.primary = rest
        else:
            assert config.target is not None, "Config checks that gRPC has a target"
            self.primary = GrpcTransport(
                config.target,
                config.credentials,
                request_timeout=config.request_timeout,
                max_backoff=config.max_backoff,
            )
            self.fallback = rest
        self._streak = 0  # failures to reach the primary in a row, with no ack in between
        self._until = 0.0
        self.switches = 0

    def choose(self) -> Transport:
        now = time.monotonic()
        if self.fallback is not None and self._streak >= self._after:
            log.warning(
                "AegisAI: gRPC unreachable %d times in a row; using REST for %.0fs",
                self._streak,
                self._period,
            )
            self._streak = 0
            self._until = now + self._period
            self.switches += 1
        if self.fallback is not None and now < self._until:
            return self.fallback
        return self.primary

    def session_ends(self, transport: Transport) -> float:
        """time.monotonic() by which a session on `transport` must end so that choose() runs
        again: the end of the fallback period for the fallback, never for the primary."""
        return self._until if transport is self.fallback else math.inf

    def failed(self, transport: Transport, code: str) -> None:
        # Only "cannot reach it" counts: REST would not help a busy or refusing collector.
        if transport is self.primary and code in UNREACHABLE:
            self._streak += 1

    def delivered(self, transport: Transport) -> None:
        if transport is self.primary:
            self._streak = 0

    async def aclose(self) -> None:
        for transport in (self.primary, self.fallback):
            if transport is not None:
                await transport.aclose()
