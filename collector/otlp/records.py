"""Every OTLP span → its span record (collector.ingest.span_records). An LLM call's record is
stored only when its LLM event is rejected (its trace keeps it so).

An LLM span's record leaves its content attributes out: the content is on its event, bounded
there (and dropped there when content is not stored). With `store_content` off every span's
content attributes are left out (OpenInference tool and chain spans carry their input and
output in `input.value` / `output.value`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from collector.ingest.instants import from_epoch_ms
from collector.ingest.span_records import span_record
from collector.ingest.validation import EARLIEST, MAX_FUTURE, Invalid
from collector.otlp.content import is_content
from collector.otlp.spans import Span


def span_time(ns: int) -> dt.datetime:
    # Whole milliseconds, as BSON stores them (see collector.api.proto_values.time_from_proto).
    return from_epoch_ms(ns // 1_000_000)


def check_ids(span: Span) -> None:
    if len(span.trace_id) != 32 or span.trace_id == "0" * 32:
        raise Invalid("trace_id", "must be 16 bytes, not all zero")
    if len(span.span_id) != 16 or span.span_id == "0" * 16:
        raise Invalid("span_id", "must be 8 bytes, not all zero")
    if span.parent_span_id and len(span.parent_span_id) != 16:
        raise Invalid("parent_span_id", "must be empty or 8 bytes")


def checked_start(span: Span, now: dt.datetime) -> dt.datetime:
    """The span's start, once its ids and times are those of a span that can be stored;
    Invalid (naming the field) otherwise."""
    check_ids(span)
    if span.start_ns <= 0:
        raise Invalid("start_time_unix_nano", "required")
    start = span_time(span.start_ns)
    if start < EARLIEST or start > now + MAX_FUTURE:
        raise Invalid("start_time_unix_nano", "outside 2000-01-01 .. one day from now")
    if span.end_ns and span.end_ns < span.start_ns:
        raise Invalid("end_time_unix_nano", "before start_time_unix_nano")
    return start


def record_of(span: Span, start: dt.datetime, *, llm: bool, store_content: bool) -> dict[str, Any]:
    """The span's record, given its `checked_start` (which says whether it can be stored:
    computed once per span, the times cost ~1 µs)."""
    keep_content = store_content and not llm
    attributes: Iterable[tuple[str, Any]] = (
        span.attributes.items()
        if keep_content
        else ((key, value) for key, value in span.attributes.items() if not is_content(key))
    )
    return span_record(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=span.kind,
        start=start,
        end=span_time(span.end_ns) if span.end_ns else start,
        status=span.status,
        status_message=span.status_message,
        attributes=attributes,
    )
