"""Live tail: one MongoDB change stream per collector process, fanned out to subscribers.

A change stream costs ingest dearly on the embedded database (measured: raw insert_many
~20.7k docs/s with none open, ~12.0k with one), so the hub opens ONE, on the database's
inserts into the two event collections, only while someone is subscribed, and closes it when
the last subscriber leaves. Each stored event goes to every subscriber of its tenant (and
kind) in this process. Built on the database's own change feed, it sees events stored
through any collector replica.

A subscriber gets a bounded buffer. Offering to it never waits: when it is full, the
subscriber is dropped with RESOURCE_EXHAUSTED, so a slow viewer never slows the hub, let
alone ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import PyMongoError

from collector import prometheus as metrics
from collector.domain import Kind
from collector.errors import AegisError, InvalidArgument, ResourceExhausted, Unavailable
from collector.query.event_json import event_data
from collector.store.storage import Storage

log = logging.getLogger(__name__)

# Events a subscriber may be behind before it is dropped. The change stream delivers in
# bursts (a whole getMore batch at once), so this holds a few in-flight batches of 500. The
# buffered items are shared by all subscribers of a tenant: memory is bounded by the buffer,
# not by the number of subscribers.
BUFFER = 10_000
YIELD_EVERY = 100  # changes dispatched between turns given to the subscribers' tasks
MAX_SEND = 500  # events handed to a subscriber at once, at most
# How long one wait for changes lasts, so the hub notices promptly that it should close.
AWAIT_MS = 250
KIND_OF: dict[str, Kind] = {"ml_events": "ml", "llm_events": "llm"}


Render = Callable[[Kind, dict[str, Any]], Any]


def as_pair(kind: Kind, data: dict[str, Any]) -> tuple[Kind, dict[str, Any]]:
    return kind, data


@dataclass(eq=False)
class Subscription:
    tenant: str
    kinds: frozenset[Kind]
    buffer: int
    _queue: asyncio.Queue[Any] = field(init=False)
    _ended: AegisError | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.buffer + 1)  # + the end marker

    def wants(self, tenant: str, kind: Kind) -> bool:
        return self._ended is None and tenant == self.tenant and kind in self.kinds

    def offer(self, item: Any) -> bool:
        """Queue an event without waiting; False (and the subscription ends) when full."""
        if self._queue.qsize() >= self.buffer:
            self.end(
                ResourceExhausted(
                    f"tail: the subscriber fell more than {self.buffer} events behind and was "
                    "dropped; reconnect to resume from now"
                )
            )
            return False
        self._queue.put_nowait(item)
        return True

    def end(self, why: AegisError) -> None:
        """End the subscription: what is queued is dropped, the reader gets `why`."""
        if self._ended is not None:
            return
        self._ended = why
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[list[Any]]:
        """The hub's rendering of each event, in storage order: one at a time while the
        subscriber keeps up, what has piled up (at most MAX_SEND) when it does not."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_SEND and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch[-1] is None:
                assert self._ended is not None
                raise self._ended
            yield batch


def parse_kinds(text: str) -> frozenset[Kind]:
    """The kinds a tail asks for: "ml", "llm", or "" for both."""
    text = text.strip().lower()
    if not text:
        return frozenset(KIND_OF.values())
    if text in ("ml", "llm"):
        return frozenset([KIND_OF[f"{text}_events"]])
    raise InvalidArgument(f"kind: {text[:20]!r} is not one of ml, llm (or empty for both)")


class TailHub:
    def __init__(self, storage: Storage, *, buffer: int = BUFFER, render: Render = as_pair) -> None:
        """`render(kind, data)` makes what subscribers receive of an event, once per event
        however many subscribers get it (the servicer passes its message builder)."""
        self._storage = storage
        self._buffer = buffer
        self._render = render
        self._subscribers: set[Subscription] = set()
        self._lock = asyncio.Lock()
        self._run: asyncio.Task[None] | None = None
        self._live: asyncio.Future[None] | None = None
        self._stopping = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant: str, kinds: frozenset[Kind]) -> AsyncIterator[Subscription]:
        """A subscription that receives every event stored from the moment this yields."""
        sub = Subscription(tenant, kinds, self._buffer)
        async with self._lock:
            self._subscribers.add(sub)
            if self._run is None or self._run.done():
                self._stopping = asyncio.Event()
                self._live = asyncio.get_running_loop().create_future()
                self._run = asyncio.create_task(self._follow(self._live, self._stopping))
            live = self._live
        assert live is not None
        try:
            await asyncio.shield(live)  # raises Unavailable when the stream could not open
            metrics.TAIL_SUBSCRIBERS.inc()
            try:
                yield sub
            finally:
                metrics.TAIL_SUBSCRIBERS.dec()
        finally:
            await self._leave(sub)

    async def _leave(self, sub: Subscription) -> None:
        async with self._lock:
            self._subscribers.discard(sub)
            if self._subscribers or self._run is None:
                return
            # The last one left: close the stream (within AWAIT_MS) before anyone reopens it.
            run, self._run = self._run, None
            self._stopping.set()
            with contextlib.suppress(Exception):
                await run

    async def _follow(self, live: asyncio.Future[None], stopping: asyncio.Event) -> None:
        pipeline = [
            {"$match": {"operationType": "insert", "ns.coll": {"$in": sorted(KIND_OF)}}},
        ]
        database = self._storage.ml_events.database
        try:
            async with await database.watch(pipeline, max_await_time_ms=AWAIT_MS) as stream:
                with metrics.TAIL_STREAMS.track_inprogress():
                    live.set_result(None)
                    dispatched = 0
                    while not stopping.is_set():
                        change = await stream.try_next()
                        if change is not None:
                            self._dispatch(change)
                            dispatched += 1
                            if dispatched % YIELD_EVERY == 0:
                                await asyncio.sleep(0)  # let subscribers drain between bursts
        except PyMongoError as exc:
            log.warning("tail: change stream ended: %s", exc)
            self._fail_all(live)
        except Exception:
            # A bug: log it, and never leave subscribers waiting on a stream that is gone.
            log.exception("tail: change stream follower failed")
            self._fail_all(live)

    def _fail_all(self, live: asyncio.Future[None]) -> None:
        failure = Unavailable("tail: the database change stream ended; reconnect")
        if not live.done():
            live.set_exception(failure)
        for sub in list(self._subscribers):
            sub.end(failure)

    def _dispatch(self, change: dict[str, Any]) -> None:
        kind = KIND_OF.get(change.get("ns", {}).get("coll", ""))
        doc = change.get("fullDocument")
        if kind is None or doc is None:
            return
        tenant = doc.get("tenant")
        item: Any = None
        for sub in list(self._subscribers):
            if sub.wants(tenant, kind):
                if item is None:
                    item = self._render(kind, event_data(doc, content=False))
                if not sub.offer(item):
                    metrics.TAIL_DROPPED.inc()
