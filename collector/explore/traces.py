"""One whole trace: its spans, and the LLM and ML events that are spans of it, by start.

The directory (collector.explore.directory) gives the hours that hold the trace's rows; the
rows of those hours that carry its trace id name its spans and events, which are then fetched
by `_id` (point lookups). An LLM event is a span of the trace: its span id, parent, the span
name it came with (OTLP) or its model, its timestamp and latency; its `llm` is the event
without content. A span whose parent never arrived keeps its parent_span_id: a reader shows it
as a root.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from aegis_shared.json_shape import show
from collector.domain import Kind
from collector.errors import InvalidArgument
from collector.explore.directory import hours_of
from collector.explore.rows import Row, rows_of, rows_where
from collector.explore.stored import IN_CHUNK, fetch_events
from collector.store.storage import Document, Storage

EVENT_KINDS: tuple[Kind, ...] = ("llm", "ml")
ROW_KINDS = (*EVENT_KINDS, "span")
_TRACE_ID = re.compile("[0-9a-f]{32}")


@dataclass(frozen=True)
class TraceSpan:
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start: dt.datetime
    end: dt.datetime
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    llm: Document | None  # the LLM event, without content
    ml: Document | None  # the ML event

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) / dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: list[TraceSpan]


async def rows_of_key(
    storage: Storage,
    tenant: str,
    kinds: tuple[str, ...],
    hours: list[dt.datetime],
    where: tuple[str, str] | None = None,
) -> dict[str, list[Row]]:
    """Every row of these kinds in these hours, per kind; only those whose column is the key,
    given `where` (column, key). One query per kind: the embedded database serves `kind`
    equality with `hour` $in from the (tenant, kind, hour) index, but scans the whole
    collection for `kind` $in (measured: 2 ms against 100 ms at 1,465 row documents, and the
    scan grows with every tenant's history)."""
    found: dict[str, list[Row]] = {kind: [] for kind in kinds}
    if not hours:
        return found
    for kind in kinds:
        pieces = storage.event_rows.find(
            {"tenant": tenant, "kind": kind, "hour": {"$in": hours}}, {"rows": 1}
        )
        async for piece in pieces:
            found[kind].extend(rows_of(piece) if where is None else rows_where(piece, *where))
    return found


def _event_span(kind: Kind, doc: Document) -> TraceSpan:
    start: dt.datetime = doc["timestamp"]
    latency = doc.get("latency_ms") or 0.0
    # OTLP keeps the span's name and kind in the metadata (collector.otlp.mapping).
    given = doc.get("metadata")
    metadata: dict[str, Any] = {}
    if isinstance(given, dict) and given.get("source") == "otlp":
        metadata = given
    return TraceSpan(
        span_id=doc.get("span_id") or doc["event_id"],
        parent_span_id=doc.get("parent_span_id"),
        name=_text(metadata.get("span_name")) or _model(kind, doc),
        kind=_text(metadata.get("span_kind")) or "CLIENT",
        start=start,
        end=start + dt.timedelta(milliseconds=latency),
        status="ERROR" if doc.get("error") else "UNSET",
        status_message=doc.get("error") or None,
        attributes={},
        llm=doc if kind == "llm" else None,
        ml=doc if kind == "ml" else None,
    )


def _text(value: Any) -> str | None:
    """A metadata value OTLP set (span_name, span_kind), when it is a non-empty string."""
    return value if isinstance(value, str) and value else None


def _model(kind: Kind, doc: Document) -> str:
    return str(doc["model_name"] if kind == "llm" else doc["model_id"])


def _record_span(record: Document) -> TraceSpan:
    return TraceSpan(
        span_id=record["span_id"],
        parent_span_id=record.get("parent_span_id"),
        name=record["name"],
        kind=record["kind"],
        start=record["start"],
        end=record["end"],
        status=record["status"],
        status_message=record.get("status_message"),
        attributes={key: value for key, value in record.get("attributes", [])},
        llm=None,
        ml=None,
    )


def check_trace_id(text: str) -> str:
    if not _TRACE_ID.fullmatch(text):
        raise InvalidArgument(f"trace_id: expected 32 lowercase hex digits, got {show(text[:40])}")
    return text


async def trace(storage: Storage, tenant: str, trace_id: str) -> Trace | None:
    """The trace's spans ordered by start (then span id); None when the tenant has none."""
    hours = await hours_of(storage, tenant, "trace", trace_id)
    rows = await rows_of_key(storage, tenant, ROW_KINDS, hours, ("trace", trace_id))
    spans: list[TraceSpan] = []
    for kind in EVENT_KINDS:
        ids = sorted({row.id for row in rows[kind] if row.trace == trace_id})
        docs = await fetch_events(storage, kind, tenant, ids, content=False)
        spans.extend(_event_span(kind, doc) for doc in docs.values())
    span_ids = sorted({row.id for row in rows["span"] if row.trace == trace_id})
    for i in range(0, len(span_ids), IN_CHUNK):
        keys = [f"{tenant}:{trace_id}:{span_id}" for span_id in span_ids[i : i + IN_CHUNK]]
        async for record in storage.spans.find({"_id": {"$in": keys}}):
            spans.append(_record_span(record))
    if not spans:
        return None
    spans.sort(key=lambda span: (span.start, span.span_id))
    return Trace(trace_id, spans)
