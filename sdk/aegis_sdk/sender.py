"""The one delivery core, run as a task on an asyncio loop: the sync client's background loop,
or the application's own loop for the async client.

One session (a gRPC stream, or a run of REST requests) at a time. A feeder cuts batches out
of the buffer (a full batch at once, a partial one after flush_interval, all of it on flush)
and keeps up to `window` of them in flight, keyed by sequence; a reader settles them as acks
arrive, in any order. When a session fails, everything unacknowledged goes back to the front
and is resent, with the same event ids, on the next session after a backoff.

What a failed session means (`_on_failure`):
- Whatever the failure, the batches it left unacked go back to the front of the queue.
- UNAUTHENTICATED: log in again at once; a second one in a row backs off like any failure.
- A FINAL refusal drops the batch the transport names (REST), else the session's only unacked
  batch; with several unacked, the window narrows to 1 so that the next refusal names one.
- Anything else backs off and resends: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from aegis_sdk.batch import Ack, Batch
from aegis_sdk.batcher import Batcher
from aegis_sdk.buffer import Buffer
from aegis_sdk.config import Config
from aegis_sdk.errors import BufferFullError
from aegis_sdk.events import Event, Kind
from aegis_sdk.outstanding import Outstanding
from aegis_sdk.retry import Backoff, TransportError
from aegis_sdk.route import Route
from aegis_sdk.stats import Counters, Stats
from aegis_sdk.tokens import TokenSource
from aegis_sdk.transport import Session, Transport
from aegis_sdk.window import Window

log = logging.getLogger("aegis_sdk")

IDLE_CLOSE_S = 30.0  # a session with nothing to do for this long is closed
WATCH_S = 0.5  # how often the ack deadline is checked
MIN_SESSION_S = 1.0  # even with a very short token lifetime
SEND_FAILED_GRACE_S = 5.0  # after a failed send, how long the reader may take to say why


def refused_batch(unacked: list[Batch], named: int | None) -> Batch | None:
    """The batch a FINAL refusal is about: the one the transport named, else the only one."""
    if named is not None:
        return next((b for b in unacked if b.sequence == named), None)
    return unacked[0] if len(unacked) == 1 else None


class Sender:
    def __init__(self, config: Config, buffer: Buffer, client_id: str, client_secret: str) -> None:
        self._config = config
        self._buffer = buffer
        self._tokens = TokenSource(client_id, client_secret)
        self._route = Route(config)
        self._current: Transport = self._route.primary
        self._window = Window(config.max_in_flight)
        self._backoff = Backoff(config.initial_backoff, config.max_backoff)
        self._outstanding = Outstanding()
        self._batcher = Batcher(config, buffer, self._drop)
        self._sequence = 0
        self._flushers: list[tuple[int, asyncio.Future[None]]] = []
        self._reauthenticated = False
        self._counters = Counters(transport=self._current.name)
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle and the application-facing calls (all on the sender's loop) ---------------

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._buffer.wakeup = self._wake_threadsafe
        self._buffer.on_release = self._space.set
        self._task = self.loop.create_task(self._run(), name="aegis-sdk-sender")

    def _wake_threadsafe(self) -> None:
        if self.loop is not None:
            # A log_* racing with close() may find the loop already gone; its event is
            # then counted by abandon().
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._wake.set)

    # Timeouts are budgets these calls spend themselves, then carry on (close still stops).
    async def put(
        self,
        kind: Kind,
        event: Event,
        *,
        block: bool,
        timeout: float | None,  # noqa: ASYNC109
    ) -> None:
        """log_* for a caller on this loop: waits for room without blocking the loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._space.clear()
            if self._buffer.offer(kind, event):
                return
            if not block:
                self._buffer.count_dropped()
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._buffer.count_dropped()
                raise BufferFullError(f"buffer full for {timeout}s; event dropped")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._space.wait()

    async def flush(self, timeout: float | None) -> None:  # noqa: ASYNC109
        target = self._buffer.logged
        if self._floor() >= target:
            return
        self._batcher.flush_upto = max(self._batcher.flush_upto, target)
        assert self.loop is not None, "start() first"
        waiter = (target, self.loop.create_future())
        self._flushers.append(waiter)
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                await waiter[1]
        except TimeoutError:
            raise TimeoutError(
                f"flush: {self._buffer.held} events not acknowledged within {timeout}s"
            ) from None
        finally:
            self._flushers.remove(waiter)

    async def close(self, timeout: float | None) -> None:  # noqa: ASYNC109
        self._buffer.close()
        self._batcher.closing = True
        self._wake.set()
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.warning(
                "AegisAI client closing with %d events unacknowledged after %ss: dropped",
                self._buffer.held,
                timeout,
            )
        finally:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._buffer.abandon()
            await self._route.aclose()

    def stats(self) -> Stats:
        c = self._counters
        return Stats(
            logged=self._buffer.logged,
            sent=c.sent,
            acked=c.acked,
            accepted=c.accepted,
            duplicates=c.duplicates,
            rejected=c.rejected,
            dropped=self._buffer.dropped,
            pending=self._buffer.held,
            batches_sent=c.batches_sent,
            batches_acked=c.batches_acked,
            retries=c.retries,
            server_delays=c.server_delays,
            logins=self._tokens.logins,
            reauthentications=c.reauthentications,
            fallbacks=self._route.switches,
            transport=c.transport,
            errors=dict(c.errors),
        )

    # -- the delivery loop -------------------------------------------------------------------

    def _has_work(self) -> bool:
        return bool(self._outstanding.resend) or self._buffer.queued > 0

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._has_work():
                await self._wake.wait()
                continue
            try:
                delay = await self._attempt()
            except Exception:
                # A bug of ours must not silently end delivery: log it, back off, go on.
                log.exception("AegisAI SDK: unexpected error in the sender; retrying")
                delay = self._backoff.next_delay()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _attempt(self) -> float:
        """One session; returns how long to wait before the next."""
        transport = self._route.choose()
        unacked: list[Batch] = []  # filled as the session ends: what it left unacknowledged
        try:
            await self._session(transport, unacked)
        except TransportError as exc:
            return self._on_failure(exc, transport, unacked)
        return 0.0

    async def _session(self, transport: Transport, unacked: list[Batch]) -> None:
        token = await self._tokens.get(transport)
        session = await transport.open(token)
        self._current = transport
        self._counters.transport = transport.name
        # Ends when the token is due for refresh (the next session logs in anew), or when a
        # REST fallback period is over (the next session tries gRPC again).
        deadline = max(
            min(self._tokens.refresh_at, self._route.session_ends(transport)),
            time.monotonic() + MIN_SESSION_S,
        )
        reader = asyncio.create_task(self._read(session))
        feeder = asyncio.create_task(self._feed(session, deadline))
        try:
            await self._supervise(reader, feeder)
        finally:
            unacked.extend(self._outstanding.requeue())
            session.abort()
            for task in (reader, feeder):
                task.cancel()
            await asyncio.gather(reader, feeder, return_exceptions=True)

    async def _supervise(self, reader: asyncio.Task[None], feeder: asyncio.Task[None]) -> None:
        send_failed_at: float | None = None
        while True:
            tasks = {reader} if feeder.done() else {reader, feeder}
            await asyncio.wait(tasks, timeout=WATCH_S, return_when=asyncio.FIRST_COMPLETED)
            now = time.monotonic()
            if reader.done():
                reader.result()  # raises the session's TransportError
                if self._outstanding.in_flight or not feeder.done():
                    # Ended by the server before we were done: a failure, or we would spin.
                    raise TransportError("UNAVAILABLE", "session ended by the server early")
                return
            if feeder.done() and send_failed_at is None:
                error = feeder.exception()
                if error is not None and not isinstance(error, TransportError):
                    raise error
                send_failed_at = now if error is not None else math.inf
            if send_failed_at is not None and now - send_failed_at > SEND_FAILED_GRACE_S:
                feeder.result()  # the reader never said why the send failed: say it here
            oldest = self._outstanding.oldest_sent_at()
            if oldest is not None and now - oldest > self._config.ack_timeout:
                raise TransportError(
                    "DEADLINE_EXCEEDED", f"no ack within {self._config.ack_timeout}s"
                )

    async def _read(self, session: Session) -> None:
        while (ack := await session.next_ack()) is not None:
            self._on_ack(ack)

    async def _feed(self, session: Session, deadline: float) -> None:
        while (batch := await self._next_batch(deadline)) is not None:
            self._sequence += 1
            self._outstanding.sent(batch, self._sequence)
            await session.send(batch.sequence, batch)
            self._counters.sent += len(batch)
            self._counters.batches_sent += 1
        await session.done_sending()

    async def _next_batch(self, deadline: float) -> Batch | None:
        """The next batch to send, once the window has room and one is due; None ends the
        session (token refresh due, idle, or closing with nothing left)."""
        idle_since = time.monotonic()
        while True:
            self._wake.clear()
            now = time.monotonic()
            may_send = len(self._outstanding.in_flight) < self._window.size
            if may_send:
                batch = self._take_ready(now)
                if batch is not None:
                    return batch
            if now >= deadline:
                return None
            if self._outstanding.in_flight or self._has_work():
                idle_since = now
            elif self._batcher.closing or now - idle_since >= IDLE_CLOSE_S:
                return None
            wake_at = min(deadline, idle_since + IDLE_CLOSE_S)
            if may_send:
                # With the window full, a batch already due must not set the timer: it would
                # be in the past and the loop would spin until an ack (measured: ~350 µs of
                # CPU per event under load). The ack itself wakes us.
                wake_at = min(wake_at, self._batcher.next_due())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake_at - now)):
                    await self._wake.wait()

    def _take_ready(self, now: float) -> Batch | None:
        if self._outstanding.resend:
            return self._outstanding.resend.popleft()
        return self._batcher.take_due(now)

    # -- settling ----------------------------------------------------------------------------

    def _on_ack(self, ack: Ack) -> None:
        batch = self._outstanding.acked(ack.sequence)
        if batch is None:
            log.warning("AegisAI: ack for unknown batch %d ignored", ack.sequence)
            return
        c = self._counters
        c.batches_acked += 1
        c.acked += len(batch)
        c.accepted += ack.accepted
        c.duplicates += ack.duplicates
        c.rejected += ack.rejected
        if ack.errors:
            first = ack.errors[0]
            event_id = batch.entries[first.index].event.event_id if first.index < len(batch) else ""
            log.warning(
                "AegisAI rejected %d of %d %s events (not retried); e.g. %s: %s: %s",
                ack.rejected,
                len(batch),
                batch.kind,
                event_id,
                first.field,
                first.reason,
            )
        self._route.delivered(self._current)
        self._backoff.reset()
        self._reauthenticated = False
        self._window.grow()
        self._settle(batch)

    def _settle(self, batch: Batch) -> None:
        self._buffer.release(len(batch))
        self._wake.set()
        if self._flushers:
            floor = self._floor()
            for target, future in self._flushers:
                if floor >= target and not future.done():
                    future.set_result(None)

    def _drop(self, batch: Batch) -> None:
        self._buffer.count_dropped(len(batch))
        self._settle(batch)

    def _floor(self) -> int:
        return self._outstanding.floor(self._buffer.floor())

    # -- failures ----------------------------------------------------------------------------

    def _on_failure(self, exc: TransportError, transport: Transport, unacked: list[Batch]) -> float:
        """What a failed session means (see the module docstring); returns how long to wait
        before the next one. `unacked`: the batches this session sent and never got acked."""
        c = self._counters
        c.errors[exc.code] += 1
        self._route.failed(transport, exc.code)
        if exc.code == "UNAUTHENTICATED":
            self._tokens.invalidate()
            if not self._reauthenticated:
                self._reauthenticated = True  # once; again only after an ack
                c.reauthentications += 1
                return 0.0
            log.error(
                "AegisAI refused client %r (%s); check its id and secret",
                self._tokens.client_id,
                exc.message,
            )
        elif exc.final:
            culprit = refused_batch(unacked, exc.sequence)
            if culprit is not None:
                log.warning(
                    "AegisAI refused a batch of %d %s events (%s: %s); dropped, not retried",
                    len(culprit),
                    culprit.kind,
                    exc.code,
                    exc.message,
                )
                self._outstanding.withdraw(culprit)
                self._drop(culprit)
                return 0.0
            if unacked:
                self._window.narrow()
                return 0.0
        elif exc.code == "RESOURCE_EXHAUSTED":
            self._window.shrink()
        c.retries += 1
        if exc.retry_after is not None:
            c.server_delays += 1
        delay = self._backoff.next_delay(exc.retry_after)
        log.warning(
            "AegisAI %s failed (%s: %s); %d batches to resend; retrying in %.2fs",
            transport.name,
            exc.code,
            exc.message,
            len(self._outstanding.resend),
            delay,
        )
        return delay
