"""When a batch is due, and cutting it out of the buffer.

A kind's queue is due when it holds a full batch (size trigger), when its oldest event has
waited flush_interval (time trigger), when flush() wants events it holds, or when closing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from aegis_sdk.batch import Batch
from aegis_sdk.buffer import Buffer
from aegis_sdk.config import MAX_MESSAGE_BYTES, Config
from aegis_sdk.events import KINDS

log = logging.getLogger("aegis_sdk")

ONE_EVENT_LIMIT = MAX_MESSAGE_BYTES - 64 * 1024


class Batcher:
    def __init__(self, config: Config, buffer: Buffer, drop: Callable[[Batch], None]) -> None:
        self._config = config
        self._buffer = buffer
        self._drop = drop
        self.flush_upto = 0  # events logged before this index are wanted now
        self.closing = False

    def take_due(self, now: float) -> Batch | None:
        config = self._config
        heads = [(kind, head) for kind in KINDS if (head := self._buffer.head(kind)) is not None]
        # The kind whose oldest event is oldest goes first.
        for kind, (count, first, queued_at) in sorted(heads, key=lambda h: h[1][1]):
            if (
                count >= config.batch_size
                or self.closing
                or first < self.flush_upto
                or now - queued_at >= config.flush_interval
            ):
                entries = self._buffer.take(kind, config.batch_size, config.max_batch_bytes)
                batch = Batch(kind, entries)
                if batch.size <= ONE_EVENT_LIMIT:
                    return batch
                # Only a lone event can be this big; the collector would refuse it every time.
                log.warning("AegisAI: a %d-byte event is too large to send: dropped", batch.size)
                self._drop(batch)
        return None

    def next_due(self) -> float:
        """time.monotonic() at which the time trigger fires next (inf: nothing queued)."""
        heads = [self._buffer.head(kind) for kind in KINDS]
        return min((h[2] + self._config.flush_interval for h in heads if h), default=math.inf)
