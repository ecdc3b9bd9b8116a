"""One OTLP export: spans → LLM events → the ordinary ingest path (so OTLP events are
validated, priced, stored, deduplicated and rolled up exactly like events from the SDK or
REST)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector import prometheus as metrics
from collector.domain import Principal
from collector.ingest.batch import IngestService
from collector.ingest.validation import Invalid
from collector.otlp.mapping import llm_event
from collector.otlp.spans import Span

# error_message names at most this many rejected spans; the count covers them all.
MAX_REASONS = 10


@dataclass
class ExportOutcome:
    accepted: int = 0  # LLM events newly stored
    duplicates: int = 0  # LLM events already stored: a re-exported span
    other_spans: int = 0  # not LLM calls: accepted, not stored
    rejected: int = 0  # LLM spans that cannot be stored; reported as partial success
    reasons: list[str] = field(default_factory=list)

    def reject(self, span_id: str, where: str, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"span {span_id or '?'}: {where}: {reason}")

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        more = self.rejected - len(self.reasons)
        tail = f"; and {more} more" if more else ""
        return f"{self.rejected} LLM span(s) rejected: " + "; ".join(self.reasons) + tail


class OtlpIngest:
    def __init__(self, ingest: IngestService) -> None:
        self._ingest = ingest

    async def export(self, principal: Principal, spans: list[Span]) -> ExportOutcome:
        outcome = ExportOutcome()
        events: list[dict[str, Any]] = []
        span_ids: list[str] = []
        for span in spans:
            try:
                event = llm_event(span)
            except Invalid as exc:
                outcome.reject(span.span_id, exc.field, exc.reason)
                continue
            if event is None:
                outcome.other_spans += 1
                continue
            events.append(event)
            span_ids.append(span.span_id)
        if events:
            result = await self._ingest.ingest(principal, "llm", events)
            for error in result.errors:
                outcome.reject(span_ids[error.index], error.field, error.reason)
            outcome.accepted = result.accepted
            outcome.duplicates = result.duplicates
        counts = zip(
            metrics.OTLP_OUTCOMES,
            (outcome.accepted, outcome.duplicates, outcome.rejected, outcome.other_spans),
            strict=True,
        )
        for name, count in counts:
            if count:
                metrics.OTLP_SPANS.labels(name).inc(count)
        return outcome
