"""The bounded buffer between log_* calls (any thread) and the sender (one event loop).

The bound counts every event the SDK still holds: queued here, or sent and not yet
acknowledged. Capacity comes back only when a batch is settled, so requeueing an unacked
batch after a reconnect can never overflow it. When full, `on_full` decides: "block" waits
(up to a timeout) for the sender to settle something; "drop" counts the event in `dropped`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from aegis_sdk.batch import FRAMING_BYTES, Entry
from aegis_sdk.errors import BufferFullError
from aegis_sdk.events import KINDS, Event, Kind


def _nothing() -> None:
    pass


class Buffer:
    def __init__(self, capacity: int, batch_size: int) -> None:
        self._capacity = capacity
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._queues: dict[Kind, deque[Entry]] = {kind: deque() for kind in KINDS}
        self._held = 0
        self._next_index = 0
        self._dropped = 0
        self._closed = False
        # Set by the sender: wake its loop (thread-safe), and tell async waiters about space.
        self.wakeup: Callable[[], None] = _nothing
        self.on_release: Callable[[], None] = _nothing

    # -- producers (any thread) -------------------------------------------------------------

    def put(self, kind: Kind, event: Event, *, block: bool, timeout: float | None) -> bool:
        """Queue an event; False if it was dropped (full with on_full="drop", or closed)."""
        size = event.ByteSize()
        with self._lock:
            if self._held >= self._capacity and not self._closed:
                if not block:
                    self._dropped += 1
                    return False
                if not self._space.wait_for(self._has_space, timeout):
                    self._dropped += 1
                    raise BufferFullError(
                        f"buffer full ({self._capacity} events) for {timeout}s; event dropped"
                    )
            if self._closed:
                self._dropped += 1
                return False
            wake = self._append(kind, event, size)
        if wake:
            self.wakeup()
        return True

    def offer(self, kind: Kind, event: Event) -> bool:
        """Without waiting: True once the event is dealt with (queued, or dropped because the
        buffer is closed); False when full, with nothing counted, so the caller may wait."""
        size = event.ByteSize()
        with self._lock:
            if self._closed:
                self._dropped += 1
                return True
            if self._held >= self._capacity:
                return False
            wake = self._append(kind, event, size)
        if wake:
            self.wakeup()
        return True

    def count_dropped(self, n: int = 1) -> None:
        with self._lock:
            self._dropped += n

    def _has_space(self) -> bool:
        return self._held < self._capacity or self._closed

    def _append(self, kind: Kind, event: Event, size: int) -> bool:
        queue = self._queues[kind]
        queue.append(Entry(self._next_index, kind, event, size, time.monotonic()))
        self._next_index += 1
        self._held += 1
        # Wake the sender only when it has something new to decide: a first event starts
        # the flush_interval clock, a full batch goes at once. Not once per event.
        return len(queue) == 1 or len(queue) % self._batch_size == 0

    # -- the sender (its event loop) --------------------------------------------------------

    def head(self, kind: Kind) -> tuple[int, int, float] | None:
        """(queued count, first index, first queued_at) of a kind, or None when empty."""
        with self._lock:
            queue = self._queues[kind]
            if not queue:
                return None
            return len(queue), queue[0].index, queue[0].queued_at

    def take(self, kind: Kind, max_events: int, max_bytes: int) -> list[Entry]:
        """Up to max_events from the front; at least one, even if that one is over max_bytes."""
        taken: list[Entry] = []
        budget = max_bytes
        with self._lock:
            queue = self._queues[kind]
            while queue and len(taken) < max_events:
                cost = queue[0].size + FRAMING_BYTES
                if taken and cost > budget:
                    break
                taken.append(queue.popleft())
                budget -= cost
        return taken

    def release(self, n: int) -> None:
        """n events are settled (acknowledged or given up): their room is free again."""
        with self._lock:
            self._held -= n
            self._space.notify_all()
        self.on_release()

    def floor(self) -> int:
        """Lowest index still queued here, or the next index when nothing is queued."""
        with self._lock:
            heads = [q[0].index for q in self._queues.values() if q]
            return min(heads, default=self._next_index)

    def close(self) -> None:
        """Refuse new events from now on; blocked producers return (their event dropped)."""
        with self._lock:
            self._closed = True
            self._space.notify_all()

    def abandon(self) -> int:
        """Give up everything still held (close timed out): count it dropped, free the room."""
        with self._lock:
            lost = self._held
            for queue in self._queues.values():
                queue.clear()
            self._dropped += lost
            self._held = 0
            self._space.notify_all()
        self.on_release()
        return lost

    @property
    def queued(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    @property
    def held(self) -> int:
        return self._held

    @property
    def logged(self) -> int:
        return self._next_index

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def closed(self) -> bool:
        return self._closed
