"""gRPC streaming ingest through the SDK: `AegisClient.log_ml` per event, then `flush()`.

The application side runs in a worker thread, as in any synchronous program; the SDK
batches, streams and waits for acks on its own thread. Progress is read from its stats.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from aegis_sdk import AegisClient
from bench.events import Event
from bench.phase import Phase
from bench.stack import Credentials

POLL_S = 0.1
# flush() in short steps, so an interrupted bench gets its application thread back quickly.
FLUSH_STEP_S = 1.0
MAX_BUFFER = 100_000


class DeliveryFailed(RuntimeError):
    pass


def _log_and_flush(client: AegisClient, events: Sequence[Event], stop: threading.Event) -> None:
    """What the application does: log every event, then wait until all are acknowledged."""
    for event in events:
        if stop.is_set():
            return
        client.log_ml(**event)
    while not stop.is_set():
        try:
            client.flush(FLUSH_STEP_S)
            return
        except TimeoutError:
            continue


async def ingest_sdk(
    target: str,
    who: Credentials,
    warmup: Sequence[Event],
    events: Sequence[Event],
    *,
    batch_size: int,
    in_flight: int,
    phase: Phase,
) -> None:
    total = len(warmup) + len(events)
    client = AegisClient(
        target,
        who.client_id,
        who.client_secret,
        batch_size=batch_size,
        max_in_flight=in_flight,
        # Room for every event, so log_ml never waits: the bench measures delivery.
        max_buffer=max(MAX_BUFFER, total),
    )
    stop = threading.Event()
    application: asyncio.Future[None] | None = None

    async def application_thread(todo: Sequence[Event]) -> None:
        nonlocal application
        application = asyncio.ensure_future(asyncio.to_thread(_log_and_flush, client, todo, stop))
        # Shielded: if we are cancelled, the thread runs on and is waited for below.
        await asyncio.shield(application)

    try:
        # Logs in and opens the stream before the clock starts.
        await application_thread(warmup)
        before = client.stats.acked
        phase.start()
        delivery = asyncio.ensure_future(application_thread(events))
        while not delivery.done():
            phase.reached(client.stats.acked - before)
            await asyncio.wait({delivery}, timeout=POLL_S)
        await delivery
        stats = client.stats
        phase.reached(stats.acked - before)
        phase.stop()
    finally:
        stop.set()
        if application is not None:
            # close() stops the SDK's loop: the application thread must be out of it first.
            await asyncio.wait({application})
        await asyncio.to_thread(client.close, FLUSH_STEP_S)
    # A duplicate is an event stored by an earlier attempt whose answer was lost (e.g. its
    # commit landed after the request's time limit): stored once, as exactly-once means.
    if stats.accepted + stats.duplicates != total or stats.rejected or stats.dropped:
        raise DeliveryFailed(f"the SDK delivered {stats.accepted} of {total} events: {stats}")
