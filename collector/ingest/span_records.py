"""Span records: every span of a trace, one document each in the `spans` collection, written in
the same transaction as the batch's events.

{_id: "<tenant>:<trace_id>:<span key>", tenant, trace_id, span_id, parent_span_id (absent for
a root), name, kind ("INTERNAL", "CLIENT"…), start, end, status ("UNSET", "OK", "ERROR"),
status_message (when there is one), attributes, received_at}. An LLM call is not stored here
but as its LLM event, whose row (collector.explore.rows) carries its trace, span and parent
ids; so is an SDK event that carries a trace_id.

The `_id` makes a re-exported span a duplicate, stored once, and puts the spans of one trace
next to each other under one prefix. Attributes are a list of [key, value] pairs, not a
document: their keys are dotted (`gen_ai.request.model`), which MongoDB field names should not
be. They are bounded: the first MAX_ATTRIBUTES are kept and the rest dropped (counted in
`dropped_attributes`); a string longer than MAX_VALUE_BYTES (UTF-8) is cut to it, and an array
or map that long is stored as its JSON text, cut the same way (counted in
`truncated_attributes`); a key longer than MAX_ATTRIBUTE_KEY drops its attribute.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import orjson

MAX_ATTRIBUTES = 64
MAX_VALUE_BYTES = 1024
MAX_ATTRIBUTE_KEY = 256
MAX_SPAN_NAME = 256


def trace_prefix(tenant: str, trace_id: str) -> str:
    """Every span `_id` of one trace starts with this (tenants hold no ":")."""
    return f"{tenant}:{trace_id}:"


def _cut(text: str) -> str:
    if len(text) * 4 <= MAX_VALUE_BYTES:  # no UTF-8 character is longer than 4 bytes
        return text
    raw = text.encode()
    if len(raw) <= MAX_VALUE_BYTES:
        return text
    # "ignore" drops the character the cut went through.
    return raw[:MAX_VALUE_BYTES].decode(errors="ignore")


def _bounded(value: Any) -> tuple[Any, bool]:
    """The value as stored, and whether it was cut."""
    if isinstance(value, str):
        cut = _cut(value)
        return cut, len(cut) != len(value)
    if isinstance(value, list | dict):
        # orjson: UTF-8 at once, ~5x cheaper than json.dumps and encode (issue 21's profile).
        raw = orjson.dumps(value, default=str)
        if len(raw) <= MAX_VALUE_BYTES:
            return value, False
        # "ignore" drops the character the cut went through.
        return raw[:MAX_VALUE_BYTES].decode(errors="ignore"), True
    return value, False  # a number, a bool or None


def bounded_attributes(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """`attributes` and, when not zero, `dropped_attributes` / `truncated_attributes`."""
    kept: list[list[Any]] = []
    dropped = truncated = 0
    for key, value in pairs:
        if len(kept) == MAX_ATTRIBUTES or len(key) > MAX_ATTRIBUTE_KEY:
            dropped += 1
            continue
        stored, cut = _bounded(value)
        truncated += cut
        kept.append([key, stored])
    out: dict[str, Any] = {"attributes": kept}
    if dropped:
        out["dropped_attributes"] = dropped
    if truncated:
        out["truncated_attributes"] = truncated
    return out


def span_record(
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str,
    name: str,
    kind: str,
    start: dt.datetime,
    end: dt.datetime,
    status: str,
    status_message: str,
    attributes: Iterable[tuple[str, Any]],
) -> dict[str, Any]:
    """A span record without its tenant, `_id` and received_at (ingest sets those)."""
    record: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id}
    if parent_span_id:
        record["parent_span_id"] = parent_span_id
    record |= {
        "name": name[:MAX_SPAN_NAME],
        "kind": kind,
        "start": start,
        "end": end,
        "status": status,
    }
    if status_message:
        record["status_message"] = _cut(status_message)
    record |= bounded_attributes(attributes)
    return record


def stored_records(
    tenant: str, records: Iterable[dict[str, Any]], now: dt.datetime
) -> list[dict[str, Any]]:
    """The records as stored: tenant, `_id` and received_at set; the first of each `_id`."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        record["tenant"] = tenant
        record["_id"] = trace_prefix(tenant, record["trace_id"]) + record["span_id"]
        record["received_at"] = now
        out.setdefault(record["_id"], record)
    return list(out.values())
