"""Validation plus durable, idempotent write of one batch of events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from collector import metrics
from collector.listing import batch_listing
from collector.rollups.cells import Kind
from collector.rollups.partials import partial_of
from collector.storage import Storage
from collector.tokens import Principal
from collector.validation import EventError, Invalid, fill_and_check_llm, fill_and_check_ml

MAX_BATCH = 10_000
# Stored only when given: absent (None) and, for `error`, empty mean "not known" / "no error".
OPTIONAL = ("latency_ms", "error", "input_tokens", "output_tokens")


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
            # Unique per tenant by construction: tenants cannot contain ":".
            event["_id"] = f"{principal.tenant}:{event['event_id']}"
            for optional in OPTIONAL:
                if event.get(optional) in (None, ""):
                    event.pop(optional, None)
            docs.append(event)
        result.rejected = len(result.errors)
        # The same id twice in one batch: the first is written, the rest are duplicates.
        firsts: dict[str, dict[str, Any]] = {}
        for doc in docs:
            firsts.setdefault(doc["_id"], doc)
        distinct = list(firsts.values())
        outcome = await self._storage.insert_new(
            collection,
            distinct,
            lambda new: partial_of(principal.tenant, kind, new),
            lambda new: batch_listing(principal.tenant, kind, new),
        )
        result.accepted = outcome.inserted
        result.duplicates = outcome.duplicates + len(docs) - len(distinct)
        metrics.count_events(kind, result.accepted, result.duplicates, result.rejected)
        return result
