"""One OTLP export: each LLM span becomes an LLM event, every other span a span record of its
trace (as does an LLM span that cannot be an event); both go through the ordinary ingest path
in one transaction (so OTLP events are validated, priced, stored, deduplicated and rolled up
exactly like events from the SDK or REST, and a re-exported span is stored once)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector import prometheus as metrics
from collector.domain import Principal
from collector.ingest.batch import IngestService
from collector.ingest.validation import Invalid
from collector.otlp.mapping import is_llm_call, llm_event
from collector.otlp.records import checked_start, record_of
from collector.otlp.spans import Span

# error_message names at most this many spans; the counts cover them all.
MAX_REASONS = 10
# How far up a span's parents its user and session are looked for.
MAX_ANCESTORS = 32


@dataclass
class ExportOutcome:
    accepted: int = 0  # LLM events newly stored
    duplicates: int = 0  # LLM events already stored: a re-exported span
    other_spans: int = 0  # spans that are not LLM calls (stored as spans of their trace)
    spans_stored: int = 0  # span records newly stored (LLM calls are stored as events)
    span_duplicates: int = 0  # span records already stored
    # Spans not stored at all (bad ids or times): partial_success.rejected_spans.
    rejected: int = 0
    # LLM spans stored as spans of their trace but not as LLM events (no model, bad token
    # counts…): not rejected, since they are stored, but warned of in the error_message.
    not_events: int = 0
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reject(self, span_id: str, where: str, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"span {span_id or '?'}: {where}: {reason}")

    def warn(self, span_id: str, where: str, reason: str) -> None:
        self.not_events += 1
        if len(self.warnings) < MAX_REASONS:
            self.warnings.append(f"span {span_id or '?'}: {where}: {reason}")

    @property
    def error_message(self) -> str:
        """Why spans were rejected, then (a warning, per OTLP) which LLM spans were kept as
        plain spans; empty when neither happened."""
        parts = []
        if self.rejected:
            parts.append(
                f"{self.rejected} span(s) rejected: " + _listed(self.reasons, self.rejected)
            )
        if self.not_events:
            parts.append(
                f"{self.not_events} LLM span(s) stored as spans but not as LLM calls: "
                + _listed(self.warnings, self.not_events)
            )
        return ". ".join(parts)


def _listed(reasons: list[str], count: int) -> str:
    more = count - len(reasons)
    return "; ".join(reasons) + (f"; and {more} more" if more else "")


def _ancestors(span: Span, by_key: dict[tuple[str, str], Span]) -> list[Span]:
    found: list[Span] = []
    parent = by_key.get((span.trace_id, span.parent_span_id))
    while parent is not None and len(found) < MAX_ANCESTORS and parent is not span:
        found.append(parent)
        parent = by_key.get((parent.trace_id, parent.parent_span_id))
    return found


class OtlpIngest:
    def __init__(self, ingest: IngestService, *, store_content: bool = True) -> None:
        self._ingest = ingest
        self._store_content = store_content

    async def export(self, principal: Principal, spans: list[Span]) -> ExportOutcome:
        outcome = ExportOutcome()
        now = dt.datetime.now(dt.UTC)
        by_key = {(span.trace_id, span.span_id): span for span in spans}
        events: list[dict[str, Any]] = []
        event_span_ids: list[str] = []
        records: list[dict[str, Any]] = []  # the spans stored as spans
        # Per event: its span's record, built only if the event is rejected (most are not).
        fallbacks: list[Callable[[], dict[str, Any]]] = []
        for span in spans:
            llm = is_llm_call(span.attributes)
            try:
                start = checked_start(span, now)
            except Invalid as exc:
                outcome.reject(span.span_id, exc.field, exc.reason)
                continue
            record = functools.partial(
                record_of, span, start, llm=llm, store_content=self._store_content
            )
            try:
                event = llm_event(span, _ancestors(span, by_key), known_llm=True) if llm else None
            except Invalid as exc:
                outcome.warn(span.span_id, exc.field, exc.reason)
                records.append(record())
                continue
            if event is None:
                outcome.other_spans += 1
                records.append(record())
                continue
            events.append(event)
            fallbacks.append(record)
            event_span_ids.append(span.span_id)
        if records or events:
            result = await self._ingest.ingest(principal, "llm", events, records, fallbacks)
            for error in result.errors:
                outcome.warn(event_span_ids[error.index], error.field, error.reason)
            outcome.accepted = result.accepted
            outcome.duplicates = result.duplicates
            outcome.spans_stored = result.spans_stored
            outcome.span_duplicates = result.span_duplicates
        counts = zip(
            metrics.OTLP_OUTCOMES,
            (
                outcome.accepted,
                outcome.duplicates,
                outcome.not_events + outcome.rejected,
                outcome.other_spans,
            ),
            strict=True,
        )
        for name, count in counts:
            if count:
                metrics.OTLP_SPANS.labels(name).inc(count)
        return outcome
