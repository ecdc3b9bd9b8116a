"""The in-flight window: how many batches may await their ack at once.

Additive increase, multiplicative decrease (as TCP does): RESOURCE_EXHAUSTED halves it, and
every `size` acks without trouble add one back, up to the configured limit.
"""

from __future__ import annotations


class Window:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = limit
        self._credit = 0

    def shrink(self) -> None:
        self.size = max(1, self.size // 2)
        self._credit = 0

    def grow(self) -> None:
        if self.size < self.limit:
            self._credit += 1
            if self._credit >= self.size:
                self.size += 1
                self._credit = 0
