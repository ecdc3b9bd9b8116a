"""The in-flight window: how many batches may await their ack at once.

Additive increase, multiplicative decrease (as TCP does): RESOURCE_EXHAUSTED halves it, and
every `size` acks without trouble add one back, up to the configured limit. A refusal that
cannot be pinned on one batch narrows it to 1 (see sender.py).
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

    def narrow(self) -> None:
        """One batch at a time, so that the next refusal can be pinned on its batch."""
        self.size = 1
        self._credit = 0

    def grow(self) -> None:
        if self.size < self.limit:
            self._credit += 1
            if self._credit >= self.size:
                self.size += 1
                self._credit = 0
