"""What travels: buffered entries, the batches made of them, and the server's answer to a batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from google.protobuf import json_format

from aegis.v1 import ingest_pb2
from aegis_sdk.events import Event, Kind

# A repeated message field costs its tag and a length prefix on top of the message itself.
FRAMING_BYTES = 6


@dataclass(slots=True)
class Entry:
    index: int  # position in the order of log_* calls; flush() waits on it
    kind: Kind
    event: Event
    size: int  # serialized bytes, measured once
    queued_at: float  # time.monotonic()


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    reason: str


@dataclass(frozen=True)
class Ack:
    """The result for one batch: accepted + duplicates + rejected == len(batch)."""

    sequence: int
    accepted: int
    rejected: int
    duplicates: int
    errors: tuple[EventError, ...] = ()

    @classmethod
    def from_proto(cls, sequence: int, result: ingest_pb2.IngestResponse) -> Ack:
        errors = tuple(EventError(e.index, e.field, e.reason) for e in result.errors)
        return cls(sequence, result.accepted, result.rejected, result.duplicates, errors)


@dataclass
class Batch:
    kind: Kind
    entries: list[Entry]
    sequence: int = 0  # of its latest send; a resend gets a new one
    sent_at: float = 0.0
    _payload: ingest_pb2.IngestMLRequest | ingest_pb2.IngestLLMRequest | None = field(
        default=None, repr=False
    )
    _json: bytes | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def first(self) -> int:
        # Entries come out of a FIFO queue, so the first has the lowest index.
        return self.entries[0].index

    @property
    def size(self) -> int:
        return sum(e.size + FRAMING_BYTES for e in self.entries)

    def payload(self) -> ingest_pb2.IngestMLRequest | ingest_pb2.IngestLLMRequest:
        # Built once: a resend after reconnecting reuses it with the same event ids.
        if self._payload is None:
            events = [e.event for e in self.entries]
            if self.kind == "ml":
                self._payload = ingest_pb2.IngestMLRequest(events=events)
            else:
                self._payload = ingest_pb2.IngestLLMRequest(events=events)
        return self._payload

    def stream_request(self, sequence: int) -> ingest_pb2.StreamEventsRequest:
        payload = self.payload()
        if isinstance(payload, ingest_pb2.IngestMLRequest):
            return ingest_pb2.StreamEventsRequest(sequence=sequence, ml=payload)
        return ingest_pb2.StreamEventsRequest(sequence=sequence, llm=payload)

    def json_body(self) -> bytes:
        """The REST body `{"events": [...]}`; proto field names, as the gateway accepts."""
        if self._json is None:
            data = json_format.MessageToDict(self.payload(), preserving_proto_field_name=True)
            self._json = json.dumps(data, separators=(",", ":")).encode()
        return self._json
