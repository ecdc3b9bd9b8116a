"""The deliverer: sends due webhooks in the background, many at once, fairly between tenants.

Each attempt (collector.alerts.webhooks.Sender) runs in a task of its own under its own
deadline. `wake()` (the alerts job, after each evaluation) starts a pump if none runs: it
starts the attempt of every due event at once, up to `per_tenant` per tenant and `concurrency`
in all, so one tenant's slow receivers hold only that tenant's slots, and every tenant's first
due event goes before any tenant's second. It goes on while attempts run or retries fall due
within the horizon, then rests until woken again. Nobody waits on it but `settled()` (one-shot
use: tests, tools).

The pump and its attempts run in a context of their own (`contextvars.Context()`): the
deadline of the job run that woke it (PyMongo keeps it in a context variable) must not follow
them, or a receiver's 200 could go unrecorded and be sent again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator

import httpx
from pymongo.errors import PyMongoError

from collector.alerts.webhooks import DeliveryCounts, DeliveryPolicy, Sender, ready_at
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)


class Deliverer:
    """One per process (collector/app/server.py), or one per call of deliver_pending."""

    def __init__(self, sender: Sender, policy: DeliveryPolicy) -> None:
        self._sender = sender
        self._policy = policy
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # by event id
        self._per_tenant: collections.Counter[str] = collections.Counter()
        self._stirred = asyncio.Event()  # woken, or an attempt finished
        self._horizon = 0.0  # monotonic: wait for retries falling due until then
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def counts(self) -> DeliveryCounts:
        return self._sender.counts

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def wake(self) -> None:
        """New events may be due: deliver them. Returns at once."""
        if self._closed:
            return
        self._horizon = time.monotonic() + self._policy.horizon_s
        self._stirred.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run(), context=contextvars.Context())

    async def settled(self) -> DeliveryCounts:
        """Wait until the pump rests and no attempt is left."""
        while True:
            pending = set(self._in_flight.values())
            if self._pump is not None and not self._pump.done():
                pending.add(self._pump)
            if not pending:
                return self.counts
            await asyncio.wait(pending)

    async def aclose(self, grace_s: float) -> None:
        """Stop starting attempts; give running ones `grace_s`, then cancel them (a cancelled
        attempt keeps its claim until it expires, and is then made again)."""
        self._closed = True
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.wait({self._pump})
        running = set(self._in_flight.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    async def _run(self) -> None:
        while True:
            self._stirred.clear()
            try:
                wait = await self._dispatch()
            except PyMongoError as exc:
                # The next wake (next evaluation) tries again; attempts under way go on.
                log.warning("webhook delivery paused: pending events not read (%s)", exc)
                return
            if self._stirred.is_set():
                continue  # woken while reading: the new events may not have been seen
            if not self._in_flight and (wait is None or time.monotonic() + wait > self._horizon):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stirred.wait(), wait)

    async def _dispatch(self) -> float | None:
        """Start every due attempt there is room for; seconds until the next event not under
        way falls due (None: none pending). A due event without room waits for an attempt
        to finish, which stirs the pump."""
        now = dt.datetime.now(dt.UTC)
        waiting = [e for e in await self._sender.heads() if e["_id"] not in self._in_flight]
        due = sorted((e for e in waiting if ready_at(e) <= now), key=ready_at)
        # Fair shares: every tenant's first due event before any tenant's second.
        rank: collections.Counter[str] = collections.Counter()
        order = []
        for event in due:
            order.append((rank[event["tenant"]], event))
            rank[event["tenant"]] += 1
        for _, event in sorted(order, key=lambda ranked: ranked[0]):
            tenant = event["tenant"]
            if len(self._in_flight) >= self._policy.concurrency:
                break
            if self._per_tenant[tenant] < self._policy.per_tenant:
                self._start(event)
        later = [(ready_at(e) - now).total_seconds() for e in waiting if ready_at(e) > now]
        return min(later, default=None)

    def _start(self, event: Document) -> None:
        event_id, tenant = event["_id"], event["tenant"]
        task = asyncio.create_task(self._sender.attempt(event))
        self._in_flight[event_id] = task
        self._per_tenant[tenant] += 1

        def finished(_: asyncio.Task[None]) -> None:
            del self._in_flight[event_id]
            self._per_tenant[tenant] -= 1
            if not self._per_tenant[tenant]:
                del self._per_tenant[tenant]
            self._stirred.set()

        task.add_done_callback(finished)


@contextlib.asynccontextmanager
async def open_deliverer(
    storage: Storage, *, allow_private: bool, policy: DeliveryPolicy, grace_s: float = 10.0
) -> AsyncIterator[Deliverer]:
    """A deliverer and its HTTP client for the duration of the block."""
    # httpx logs every request with its URL at INFO; a webhook URL may carry a token in its
    # path. Our own log lines name the event instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # trust_env=False: a proxy from the environment would bypass the address check.
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(policy.timeout_s), follow_redirects=False, trust_env=False
    ) as client:
        sender = Sender(storage, client, allow_private=allow_private, policy=policy)
        deliverer = Deliverer(sender, policy)
        try:
            yield deliverer
        finally:
            await deliverer.aclose(grace_s)


async def deliver_pending(
    storage: Storage, *, allow_private: bool, policy: DeliveryPolicy | None = None
) -> DeliveryCounts:
    """Deliver what is due, and retries falling due within the horizon; then return."""
    policy = policy or DeliveryPolicy()
    async with open_deliverer(storage, allow_private=allow_private, policy=policy) as deliverer:
        deliverer.wake()
        return await deliverer.settled()
