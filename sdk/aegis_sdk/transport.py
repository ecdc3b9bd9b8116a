"""What the sender needs from a transport (gRPC stream or REST), so it is written once.

A session carries numbered batches and yields one ack per batch, in any order. It fails as a
whole with retry.TransportError; the sender then resends whatever was not acknowledged.
"""

from __future__ import annotations

from typing import Protocol

from aegis_sdk.batch import Ack, Batch
from aegis_sdk.tokens import Login


class Session(Protocol):
    async def send(self, sequence: int, batch: Batch) -> None:
        """Hand a batch over; may wait while the server pushes back (flow control)."""
        ...

    async def done_sending(self) -> None:
        """No more batches: the session ends once the outstanding ones are acknowledged."""
        ...

    async def next_ack(self) -> Ack | None:
        """The next ack; None when the session ended cleanly after done_sending()."""
        ...

    def abort(self) -> None:
        """Tear down at once; unacknowledged batches are the caller's to resend."""
        ...


class Transport(Login, Protocol):
    name: str

    async def open(self, token: str) -> Session: ...

    async def aclose(self) -> None: ...
