"""Acknowledged events over time for one ingest mode: overall rate and a rate series.

A mode may run in several segments (rounds); time counts only while a segment runs, so the
rate is events over the mode's own ingest time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Timeline:
    mode: str
    # (seconds of ingest so far, events acknowledged so far), one mark per acknowledgement.
    marks: list[tuple[float, int]] = field(default_factory=list)
    _started: float = 0.0
    _offset_s: float = 0.0
    _base: int = 0

    def resume(self) -> None:
        """A segment starts: acknowledgements count from here, on top of earlier segments."""
        self._started = time.perf_counter()
        self._offset_s = self.elapsed_s
        self._base = self.events

    def acked(self, events: int) -> None:
        """`events` more were acknowledged just now."""
        self.reached(self.events - self._base + events)

    def reached(self, total: int) -> None:
        """`total` events have been acknowledged since this segment started."""
        now = self._offset_s + time.perf_counter() - self._started
        self.marks.append((now, self._base + total))

    @property
    def events(self) -> int:
        return self.marks[-1][1] if self.marks else 0

    @property
    def elapsed_s(self) -> float:
        return self.marks[-1][0] if self.marks else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _total_at(self, when: float) -> float:
        """Events acknowledged by `when`, interpolated between acknowledgements."""
        before_t, before_n = 0.0, 0
        for t, n in self.marks:
            if t >= when:
                share = (when - before_t) / (t - before_t) if t > before_t else 1.0
                return before_n + share * (n - before_n)
            before_t, before_n = t, n
        return float(before_n)

    def rate(self, window_s: float = 3.0, step_s: float = 0.5) -> tuple[list[float], list[float]]:
        """Events/s over a sliding window: acks come a batch at a time, so a plain per-second
        count would jump between multiples of the batch size."""
        times: list[float] = []
        rates: list[float] = []
        steps = int(self.elapsed_s / step_s)
        for i in range(1, steps + 1):
            when = i * step_s
            span = min(window_s, when)
            times.append(when)
            rates.append((self._total_at(when) - self._total_at(when - span)) / span)
        return times, rates
