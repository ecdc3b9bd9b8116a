"""Why an event is refused: raised by the checks (validation, attribution, content) as
`Invalid`, reported by ingest as an `EventError` at the event's index in its batch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventError:
    index: int
    field: str
    reason: str


class Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
