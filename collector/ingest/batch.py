"""Validation plus durable, idempotent write of one batch of events, with what else the batch
writes in the same transaction: its rollup partial, its export listing, its explore rows and
the span records an OTLP export brings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from collector import prometheus as metrics
from collector.auth.ratelimit import RateLimiter
from collector.domain import Kind, Principal
from collector.drift.partials import DriftInputs, drift_partials, take_inputs
from collector.errors import InvalidArgument
from collector.explore.notes import batch_writes
from collector.ingest.content import ContentPolicy
from collector.ingest.invalid import EventError, Invalid
from collector.ingest.listing import batch_listing
from collector.ingest.price_overrides import PriceOverrides
from collector.ingest.pricing import PriceTable, price_event
from collector.ingest.span_records import stored_records
from collector.ingest.validation import fill_and_check_llm, fill_and_check_ml
from collector.rollups.partials import partial_of
from collector.store.storage import Storage

MAX_BATCH = 10_000
# Stored only when given: absent (None) and, for `error`, empty mean "not known" / "no error".
# (The fields added later are removed when not given by their own checks: attribution, content.)
OPTIONAL = ("latency_ms", "error", "input_tokens", "output_tokens", "provider")
# Of those, the fields each kind's events have (the converters give an ML event no tokens).
OPTIONAL_BY_KIND: dict[Kind, tuple[str, ...]] = {"ml": OPTIONAL[:2], "llm": OPTIONAL}


@dataclass
class IngestResult:
    accepted: int = 0  # newly stored
    rejected: int = 0  # invalid, see errors
    duplicates: int = 0  # event_id already stored: a retry, not stored again
    errors: list[EventError] = field(default_factory=list)
    spans_stored: int = 0  # span records newly stored (collector.ingest.span_records)
    span_duplicates: int = 0  # span records already stored: a re-exported span


class IngestService:
    def __init__(
        self,
        storage: Storage,
        limit: RateLimiter | None = None,
        prices: PriceTable | None = None,
        overrides: PriceOverrides | None = None,
        content: ContentPolicy | None = None,
    ) -> None:
        self._storage = storage
        self._content = content or ContentPolicy()  # STORE_CONTENT, MAX_CONTENT_BYTES
        self._limit = limit  # RATE_LIMIT_INGEST_PER_S: events per second per client
        self._prices = prices or PriceTable()
        self._overrides = overrides or PriceOverrides(storage)
        self._targets: dict[Kind, tuple[Any, Callable[[dict[str, Any], dt.datetime], None]]] = {
            "ml": (storage.ml_events, fill_and_check_ml),
            "llm": (storage.llm_events, fill_and_check_llm),
        }

    async def ingest(
        self,
        principal: Principal,
        kind: Kind,
        events: Sequence[dict[str, Any] | Invalid],
        spans: Sequence[dict[str, Any]] = (),
        fallbacks: Sequence[Callable[[], dict[str, Any]]] = (),
    ) -> IngestResult:
        """Store the valid events; `events` holds an Invalid where one could not be read.

        `spans` are span records to store with them (collector.ingest.span_records.span_record:
        an OTLP export's spans that are not LLM calls). `fallbacks`, when given, holds one
        function per event that builds an LLM span's own record, stored instead of its event
        when the event is rejected, so that its trace keeps it (built only then). An event is
        its own span otherwise: its row carries its trace, span and parent ids
        (collector.explore.rows)."""
        size = len(events) + len(spans)
        if size > MAX_BATCH:
            raise InvalidArgument(f"a batch holds at most {MAX_BATCH} events and spans, not {size}")
        if self._limit is not None:
            # A span record costs a write as an event does.
            self._limit.take(principal.client_id, size, tenant=principal.tenant)
        collection, fill_and_check = self._targets[kind]
        result = IngestResult()
        now = dt.datetime.now(dt.UTC)
        valid = 0
        # The first event of each _id: the same id twice in one batch, the rest are duplicates.
        firsts: dict[str, dict[str, Any]] = {}
        drift: dict[str, DriftInputs] = {}  # features and predictions, by event _id
        optional_fields = OPTIONAL_BY_KIND[kind]
        records = list(spans)
        # Once per batch, from a cache: no database round trip per event.
        overrides = await self._overrides.for_tenant(principal.tenant) if kind == "llm" else {}
        # The tenant comes from the token, never from the body.
        stamp = {"tenant": principal.tenant, "client_id": principal.client_id, "received_at": now}
        id_prefix = f"{principal.tenant}:"  # unique per tenant by construction: no ":" in one
        for index, event in enumerate(events):
            # Remember whether to price it (an unpriced event's cost may stay None).
            unpriced = kind == "llm" and isinstance(event, dict) and event.get("cost") is None
            try:
                if isinstance(event, Invalid):
                    raise event
                fill_and_check(event, now)
            except Invalid as exc:
                result.errors.append(EventError(index, exc.field, exc.reason))
                if fallbacks:
                    records.append(fallbacks[index]())
                continue
            if kind == "llm":
                price_event(event, self._prices, overrides, unpriced=unpriced)
                self._content.apply(event)
            event.update(stamp)
            if not event["event_id"]:
                event["event_id"] = str(ObjectId())
            event["_id"] = event_key = id_prefix + event["event_id"]
            for optional in optional_fields:
                value = event.get(optional)
                if value is None or value == "":
                    event.pop(optional, None)
            # Summarised, never stored; a repeated _id keeps its first event's.
            inputs = take_inputs(event)
            valid += 1
            if event_key not in firsts:
                firsts[event_key] = event
                if inputs is not None:
                    drift[event_key] = inputs
        result.rejected = len(result.errors)
        distinct = list(firsts.values())
        outcome = await self._storage.insert_new(
            collection,
            distinct,
            lambda new: partial_of(principal.tenant, kind, new),
            lambda new: batch_listing(principal.tenant, kind, new),
            spans=stored_records(principal.tenant, records, now),
            rows=lambda new, new_spans: batch_writes(principal.tenant, kind, new, new_spans),
            drift=(lambda new: drift_partials(principal.tenant, new, drift)) if drift else None,
        )
        result.accepted = outcome.inserted
        result.duplicates = outcome.duplicates + valid - len(distinct)
        result.spans_stored = outcome.spans_inserted
        result.span_duplicates = outcome.span_duplicates
        metrics.count_events(kind, result.accepted, result.duplicates, result.rejected)
        metrics.count_spans(result.spans_stored, result.span_duplicates)
        return result
