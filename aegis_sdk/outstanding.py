"""The batches the SDK still owes the server: in flight (keyed by sequence, acked in any order)
and waiting to be resent after a failed session, oldest first."""

from __future__ import annotations

import time
from collections import deque

from aegis_sdk.batch import Batch


class Outstanding:
    def __init__(self) -> None:
        self.in_flight: dict[int, Batch] = {}
        self.resend: deque[Batch] = deque()
        self._last_requeued = 0

    def sent(self, batch: Batch, sequence: int) -> None:
        batch.sequence = sequence
        batch.sent_at = time.monotonic()
        self.in_flight[sequence] = batch

    def acked(self, sequence: int) -> Batch | None:
        return self.in_flight.pop(sequence, None)

    def requeue(self) -> None:
        """The session failed: every unacked batch goes to the front, in the order sent."""
        batches = [self.in_flight[s] for s in sorted(self.in_flight)]
        self.in_flight.clear()
        self.resend.extendleft(reversed(batches))
        self._last_requeued = len(batches)

    def may_send(self, window: int) -> bool:
        if len(self.in_flight) >= window:
            return False
        # A suspect batch travels alone, so that a failure can be pinned on it.
        if any(b.suspect for b in self.in_flight.values()):
            return False
        return not (self.resend and self.resend[0].suspect and self.in_flight)

    def oldest_sent_at(self) -> float | None:
        return min((b.sent_at for b in self.in_flight.values()), default=None)

    def floor(self, queued_floor: int) -> int:
        """Every event logged before this index is settled (queued_floor: the buffer's)."""
        held = [b.first for b in self.in_flight.values()] + [b.first for b in self.resend]
        return min([queued_floor, *held])

    def blame(self, sequence: int | None) -> Batch | None:
        """For a non-retryable failure: the batch to blame, taken out of the resend queue.

        Without a sequence and with several batches in flight at the failure, none can be
        blamed yet: they are marked suspect (see `isolating`) and sent one at a time, so the
        next failure names its batch.
        """
        culprit: Batch | None = None
        if sequence is not None:
            culprit = next((b for b in self.resend if b.sequence == sequence), None)
        elif self._last_requeued == 1:
            culprit = self.resend[0]
        elif self._last_requeued > 1:
            for batch in list(self.resend)[: self._last_requeued]:
                batch.suspect = True
        if culprit is not None:
            self.resend.remove(culprit)
        return culprit

    @property
    def isolating(self) -> bool:
        return any(b.suspect for b in self.resend)
