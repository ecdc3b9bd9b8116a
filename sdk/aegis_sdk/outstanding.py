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

    def sent(self, batch: Batch, sequence: int) -> None:
        batch.sequence = sequence
        batch.sent_at = time.monotonic()
        self.in_flight[sequence] = batch

    def acked(self, sequence: int) -> Batch | None:
        return self.in_flight.pop(sequence, None)

    def requeue(self) -> list[Batch]:
        """The session ended: every unacked batch goes to the front, in the order sent.
        Returns those batches: what this session left unacknowledged."""
        batches = [self.in_flight[s] for s in sorted(self.in_flight)]
        self.in_flight.clear()
        self.resend.extendleft(reversed(batches))
        return batches

    def withdraw(self, batch: Batch) -> None:
        """Take a refused batch out of the resend queue: it will not be sent again."""
        self.resend.remove(batch)

    def oldest_sent_at(self) -> float | None:
        return min((b.sent_at for b in self.in_flight.values()), default=None)

    def floor(self, queued_floor: int) -> int:
        """Every event logged before this index is settled (queued_floor: the buffer's)."""
        held = [b.first for b in self.in_flight.values()] + [b.first for b in self.resend]
        return min([queued_floor, *held])
