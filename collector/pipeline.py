"""The streaming ingest pipeline: several batches of one stream in flight, acks as they land.

Bounds, so memory cannot grow without limit:
- per stream: at most `window` batches are being written; past that we stop reading the
  stream, and HTTP/2 flow control pushes back on the sender;
- per process: every batch (stream or unary) needs a slot from `Admission`; when none frees
  up quickly the caller gets RESOURCE_EXHAUSTED with a RetryInfo delay.
On shutdown a stream stops reading, finishes and acks what it already read, then ends with
UNAVAILABLE so the client resends the rest to another collector.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from collector.errors import ResourceExhausted, Unavailable
from collector.ingest import IngestResult, IngestService, Kind
from collector.tokens import Principal

ADMISSION_WAIT_S = 0.25
RETRY_AFTER_S = 1.0


@dataclass
class Batch:
    sequence: int
    kind: Kind
    events: list[dict[str, Any]]


class Admission:
    """The process-wide bound on batches being written at once."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._slots.acquire(), ADMISSION_WAIT_S)
        except TimeoutError:
            raise ResourceExhausted(
                "collector busy: too many batches in flight, retry later",
                retry_after=RETRY_AFTER_S,
            ) from None
        try:
            yield
        finally:
            self._slots.release()


async def admitted(
    admission: Admission, write: Callable[[], Awaitable[IngestResult]]
) -> IngestResult:
    async with admission.slot():
        return await write()


async def run_stream(
    ingest: IngestService,
    principal: Principal,
    batches: AsyncIterator[Batch],
    *,
    window: int,
    admission: Admission,
    shutdown: asyncio.Event,
) -> AsyncIterator[tuple[int, IngestResult]]:
    """Yield (sequence, result) per batch once it is durably written; acks may be reordered."""
    in_flight: dict[asyncio.Task[IngestResult], int] = {}
    reading: asyncio.Task[Batch] | None = None
    stopping = asyncio.ensure_future(shutdown.wait())
    exhausted = False
    failure: BaseException | None = None
    try:
        while in_flight or not (exhausted or failure or shutdown.is_set()):
            can_read = not (exhausted or failure or shutdown.is_set())
            if can_read and reading is None and len(in_flight) < window:
                reading = asyncio.ensure_future(anext(batches))
            waiting: set[asyncio.Future[Any]] = set(in_flight)
            if reading is not None:
                waiting |= {reading, stopping}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if reading is not None and reading in done:
                finished_read, reading = reading, None
                try:
                    batch = finished_read.result()
                except StopAsyncIteration:
                    exhausted = True
                except Exception as exc:  # a malformed batch: ack what is in flight, then fail
                    failure = failure or exc
                else:
                    write = asyncio.ensure_future(
                        admitted(admission, _writer(ingest, principal, batch))
                    )
                    in_flight[write] = batch.sequence
            for written in [task for task in in_flight if task in done]:
                sequence = in_flight.pop(written)
                if written.exception() is not None:
                    failure = failure or written.exception()
                else:
                    yield sequence, written.result()
        if failure is not None:
            raise failure
        if shutdown.is_set() and not exhausted:
            raise Unavailable(
                "collector shutting down; resend unacknowledged batches", retry_after=0.0
            )
    finally:
        stopping.cancel()
        if reading is not None:
            reading.cancel()
        for pending in in_flight:
            pending.cancel()


def _writer(
    ingest: IngestService, principal: Principal, batch: Batch
) -> Callable[[], Awaitable[IngestResult]]:
    return lambda: ingest.ingest(principal, batch.kind, batch.events)
