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
from pymongo.errors import PyMongoError

from collector.storage import Storage

log = logging.getLogger(__name__)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _set_all(health: health_aio.HealthServicer, services: Sequence[str], up: bool) -> None:
    for name in ("", *services):
        await health.set(name, SERVING if up else NOT_SERVING)


async def _watch(
    storage: Storage,
    health: health_aio.HealthServicer,
    services: Sequence[str],
    interval_s: float,
) -> None:
    while True:
        try:
            await storage.ping()
            up = True
        except PyMongoError:
            up = False
        if up != storage.available:
            storage.available = up
            await _set_all(health, services, up)
            if up:
                log.info("database reachable again: serving")
            else:
                log.warning("database unreachable: NOT_SERVING until it answers again")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def monitor_database(
    storage: Storage,
    health: health_aio.HealthServicer,
    services: Sequence[str],
    interval_s: float,
) -> AsyncIterator[None]:
    await _set_all(health, services, storage.available)
    task = asyncio.create_task(_watch(storage, health, services, interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
