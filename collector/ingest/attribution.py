"""The attribution fields every event may carry (who, which conversation, which trace, where),
checked against the bounds events.proto declares, which the REST documentation states too
(aegis_shared.json_schema): an ML event's fields share the LLM event's.

An empty string, or no tags, means "not given": the field is stored only when given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aegis_shared import json_schema
from aegis_shared.json_shape import show
from collector.ingest.invalid import Invalid

_EVENT = "aegis.v1.LLMEvent"
# Plain strings bounded by length.
LENGTHS: dict[str, int] = {
    name: json_schema.of(_EVENT, name)["maxLength"]
    for name in ("user_id", "session_id", "environment", "release")
}
# W3C trace-context ids: lowercase hex of a fixed length, not all zero. The patterns are the
# rule; compiled, collector.ingest.text_scans.hex_id checks a value as they do, ~20x cheaper.
PATTERNS: dict[str, re.Pattern[str]] = {
    name: json_schema.pattern(json_schema.of(_EVENT, name)["pattern"])
    for name in ("trace_id", "span_id", "parent_span_id")
}
DIGITS = {"trace_id": 32, "span_id": 16, "parent_span_id": 16}
hex_id: Callable[[str, int], bool] | None
try:
    from collector.ingest.text_scans import hex_id
except ImportError:  # not built
    hex_id = None


def _id_check(name: str) -> Callable[[str, int], Any]:
    if hex_id is not None:
        return hex_id
    search = PATTERNS[name].search
    return lambda value, _digits: search(value)


# name: (check(value, digits), digits, what is expected)
IDS: dict[str, tuple[Callable[[str, int], Any], int, str]] = {
    name: (
        _id_check(name),
        DIGITS[name],
        f"expected {DIGITS[name]} lowercase hex digits, not all zero",
    )
    for name in PATTERNS
}
_TAGS = json_schema.of(_EVENT, "tags")
MAX_TAGS: int = _TAGS["maxItems"]
MIN_TAG: int = _TAGS["items"]["minLength"]
MAX_TAG: int = _TAGS["items"]["maxLength"]
FIELDS = frozenset((*LENGTHS, *IDS, "tags"))


def check(event: dict[str, Any]) -> None:
    """Raise Invalid for the first attribution field out of bounds, and remove those not given
    (None, "" or no tags: a JSON event may send them so), so that the stored event has only
    what was given. Values are strings and a list of strings by now (the converters' job).
    Hot path: a field is looked at with `in` and `[]`, not `.get` (a method call each)."""
    if FIELDS.isdisjoint(event):  # most events: ~4x cheaper than looking at each field
        return
    for name, limit in LENGTHS.items():
        if name in event:
            value = event[name]
            if not value:
                del event[name]
            elif len(value) > limit:
                raise Invalid(name, f"longer than {limit} characters ({len(value)} sent)")
    for name, (matches, digits, expected) in IDS.items():
        if name in event:
            value = event[name]
            if not value:
                del event[name]
            elif not matches(value, digits):
                raise Invalid(name, f"{expected}, got {show(value)}")
    if "tags" not in event:
        return
    tags = event["tags"]
    if not tags:
        del event["tags"]
        return
    if len(tags) > MAX_TAGS:
        raise Invalid("tags", f"at most {MAX_TAGS} tags, got {len(tags)}")
    for tag in tags:
        if not MIN_TAG <= len(tag) <= MAX_TAG:
            raise Invalid(
                "tags", f"each tag must be {MIN_TAG} to {MAX_TAG} characters, got {show(tag)}"
            )
