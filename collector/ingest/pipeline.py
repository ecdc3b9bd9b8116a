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
from typing import Any, TypeVar

from collector import prometheus as metrics
from collector.domain import Kind, Principal
from collector.errors import ResourceExhausted, Unavailable
from collector.ingest.batch import IngestResult, IngestService
from collector.ingest.validation import Invalid

ADMISSION_WAIT_S = 0.25
RETRY_AFTER_S = 1.0
R = TypeVar("R")


@dataclass
class StreamBatch:
    """One numbered batch of a StreamEvents call, its events converted and not yet checked."""

    sequence: int
    kind: Kind
    events: list[dict[str, Any] | Invalid]


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


async def admitted(admission: Admission, write: Callable[[], Awaitable[R]]) -> R:
    """Write one batch (of any transport) under an admission slot, counted in the batch
    metrics."""
    async with admission.slot():
        with metrics.INFLIGHT_BATCHES.track_inprogress(), metrics.INGEST_BATCH_SECONDS.time():
            return await write()


async def run_stream(
    ingest: IngestService,
    principal: Principal,
    batches: AsyncIterator[StreamBatch],
    *,
    window: int,
    admission: Admission,
    shutdown: asyncio.Event,
) -> AsyncIterator[tuple[int, IngestResult]]:
    """Yield (sequence, result) per batch once it is durably written; acks may be reordered."""
    stream = _Stream(ingest, principal, batches, window, admission, shutdown)
    try:
        while stream.writes or stream.reading_allowed():
            stream.read_next()
            done = await stream.next_completions()
            stream.take_read(done)
            for ack in stream.take_writes(done):
                yield ack
        stream.end()
    finally:
        stream.cancel()


class _Stream:
    """The state of one stream: the batch being read, the batches being written, and what
    ended reading. The rules are one method each."""

    def __init__(
        self,
        ingest: IngestService,
        principal: Principal,
        batches: AsyncIterator[StreamBatch],
        window: int,
        admission: Admission,
        shutdown: asyncio.Event,
    ) -> None:
        self._ingest = ingest
        self._principal = principal
        self._batches = batches
        self._window = window
        self._admission = admission
        self._shutdown = shutdown
        self._stopping = asyncio.ensure_future(shutdown.wait())
        self.reading: asyncio.Future[StreamBatch] | None = None
        self.writes: dict[asyncio.Future[IngestResult], int] = {}  # write → batch sequence
        self.exhausted = False  # the client closed its side
        self.failure: BaseException | None = None

    def reading_allowed(self) -> bool:
        """Shutdown rule: no batch is read once the client is done, a batch has failed, or the
        collector is shutting down. What is being written still finishes and is acked."""
        return not (self.exhausted or self.failure or self._shutdown.is_set())

    def read_next(self) -> None:
        """Window rule: one read at a time, and none while `window` batches are being written;
        an unread stream makes HTTP/2 flow control push back on the sender."""
        if self.reading_allowed() and self.reading is None and len(self.writes) < self._window:
            self.reading = asyncio.ensure_future(anext(self._batches))

    async def next_completions(self) -> set[asyncio.Future[Any]]:
        waiting: set[asyncio.Future[Any]] = set(self.writes)
        if self.reading is not None:
            # Shutdown interrupts a wait for the client, never a wait for our own writes.
            waiting |= {self.reading, self._stopping}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        return done

    def take_read(self, done: set[asyncio.Future[Any]]) -> None:
        """Admission rule: a batch that was read is written once it gets a process-wide slot
        (Admission: RESOURCE_EXHAUSTED when none frees up within ADMISSION_WAIT_S)."""
        if self.reading is None or self.reading not in done:
            return
        finished_read, self.reading = self.reading, None
        try:
            batch = finished_read.result()
        except StopAsyncIteration:
            self.exhausted = True
        except Exception as exc:  # a malformed batch: ack what is in flight, then fail
            self.failure = self.failure or exc
        else:
            write = asyncio.ensure_future(
                admitted(self._admission, _writer(self._ingest, self._principal, batch))
            )
            self.writes[write] = batch.sequence

    def take_writes(self, done: set[asyncio.Future[Any]]) -> list[tuple[int, IngestResult]]:
        """The acks of the writes that finished; a failed write ends the stream (later)."""
        acks = []
        for written in [task for task in self.writes if task in done]:
            sequence = self.writes.pop(written)
            if written.exception() is not None:
                self.failure = self.failure or written.exception()
            else:
                acks.append((sequence, written.result()))
        return acks

    def end(self) -> None:
        """Nothing is in flight any more: end as the client did, or with why we stopped."""
        if self.failure is not None:
            raise self.failure
        if self._shutdown.is_set() and not self.exhausted:
            raise Unavailable(
                "collector shutting down; resend unacknowledged batches", retry_after=0.0
            )

    def cancel(self) -> None:
        self._stopping.cancel()
        if self.reading is not None:
            self.reading.cancel()
        for pending in self.writes:
            pending.cancel()


def _writer(
    ingest: IngestService, principal: Principal, batch: StreamBatch
) -> Callable[[], Awaitable[IngestResult]]:
    return lambda: ingest.ingest(principal, batch.kind, batch.events)
