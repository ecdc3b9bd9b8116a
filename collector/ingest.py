"""Validation plus durable, idempotent write of one batch of events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bson import ObjectId

from collector.storage import Storage
from collector.tokens import Principal
from collector.validation import EventError, Invalid, fill_and_check_llm, fill_and_check_ml

Kind = Literal["ml", "llm"]
MAX_BATCH = 10_000


@dataclass
class IngestResult:
    accepted: int = 0  # newly stored
    rejected: int = 0  # invalid, see errors
    duplicates: int = 0  # event_id already stored: a retry, not stored again
    errors: list[EventError] = field(default_factory=list)


class IngestService:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._targets: dict[Kind, tuple[Any, Callable[[dict[str, Any], dt.datetime], None]]] = {
            "ml": (storage.ml_events, fill_and_check_ml),
            "llm": (storage.llm_events, fill_and_check_llm),
        }

    async def ingest(
        self, principal: Principal, kind: Kind, events: list[dict[str, Any]]
    ) -> IngestResult:
        collection, fill_and_check = self._targets[kind]
        result = IngestResult()
        now = dt.datetime.now(dt.UTC)
        docs: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            if index >= MAX_BATCH:
                result.errors.append(EventError(index, "", f"batch holds more than {MAX_BATCH}"))
                continue
            try:
                fill_and_check(event, now)
            except Invalid as exc:
                result.errors.append(EventError(index, exc.field, exc.reason))
                continue
            # The tenant comes from the token, never from the body.
            event["tenant"] = principal.tenant
            event["client_id"] = principal.client_id
            event["received_at"] = now
            if not event["event_id"]:
                event["event_id"] = str(ObjectId())
            if event.get("latency_ms") is None:
                event.pop("latency_ms", None)
            docs.append(event)
        result.rejected = len(result.errors)
        outcome = await self._storage.insert_events(collection, docs)
        result.accepted = outcome.inserted
        result.duplicates = outcome.duplicates
        return result
