"""Database health: a background ping that drives gRPC health and lets ingest fail fast.

While the database does not answer, every service reports NOT_SERVING and writes are refused
at once with UNAVAILABLE instead of each waiting out the server-selection timeout. Recovery
is noticed by the next ping; nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from collector.metrics import DATABASE_UP
from collector.storage import Storage

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PING_TIMEOUT_S = 1.5


async def _set_all(health: health_aio.HealthServicer, services: Sequence[str], up: bool) -> None:
    for name in ("", *services):
        await health.set(name, SERVING if up else NOT_SERVING)


async def _watch(
    storage: Storage,
    health: health_aio.HealthServicer,
    services: Sequence[str],
    interval_s: float,
    stopping: asyncio.Event,
) -> None:
    while not stopping.is_set():
        was_up = storage.available
        up = await storage.probe(PING_TIMEOUT_S)
        DATABASE_UP.set(1 if up else 0)
        if up != was_up:
            await _set_all(health, services, up)
            if up:
                log.info("database reachable again: serving")
            else:
                log.warning("database unreachable: NOT_SERVING until it answers again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)


@contextlib.asynccontextmanager
async def monitor_database(
    storage: Storage,
    health: health_aio.HealthServicer,
    services: Sequence[str],
    interval_s: float,
) -> AsyncIterator[None]:
    DATABASE_UP.set(1 if storage.available else 0)
    await _set_all(health, services, storage.available)
    stopping = asyncio.Event()
    task = asyncio.create_task(_watch(storage, health, services, interval_s, stopping))
    try:
        yield
    finally:
        # Stop between pings rather than cancel: a PyMongo operation cancelled mid-read can
        # stay "cancelling" until its socket timeout, which stalled shutdown (seen: 20 s+).
        stopping.set()
        await task
