"""The attribution fields every event may carry (who, which conversation, which trace, where),
checked against the bounds events.proto declares, which the REST documentation states too
(aegis_shared.json_schema): an ML event's fields share the LLM event's.

An empty string, or no tags, means "not given": ingest stores the field only when given.
"""

from __future__ import annotations

import re
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
# W3C trace-context ids: lowercase hex of a fixed length, not all zero.
IDS: dict[str, tuple[re.Pattern[str], str]] = {
    "trace_id": (
        json_schema.pattern(json_schema.of(_EVENT, "trace_id")["pattern"]),
        "expected 32 lowercase hex digits, not all zero",
    ),
    **{
        name: (
            json_schema.pattern(json_schema.of(_EVENT, name)["pattern"]),
            "expected 16 lowercase hex digits, not all zero",
        )
        for name in ("span_id", "parent_span_id")
    },
}
_TAGS = json_schema.of(_EVENT, "tags")
MAX_TAGS: int = _TAGS["maxItems"]
MIN_TAG: int = _TAGS["items"]["minLength"]
MAX_TAG: int = _TAGS["items"]["maxLength"]
FIELDS = (*LENGTHS, *IDS, "tags")


def check(event: dict[str, Any]) -> None:
    """Raise Invalid for the first attribution field out of bounds. Events from OTLP may lack
    the keys: absent is "not given". Fields are strings and a list of strings by the time
    they get here (the converters' job)."""
    for name, limit in LENGTHS.items():
        value = event.get(name)
        if value and len(value) > limit:
            raise Invalid(name, f"longer than {limit} characters ({len(value)} sent)")
    for name, (pattern, expected) in IDS.items():
        value = event.get(name)
        if value and not pattern.search(value):
            raise Invalid(name, f"{expected}, got {show(value)}")
    tags = event.get("tags")
    if tags:
        if len(tags) > MAX_TAGS:
            raise Invalid("tags", f"at most {MAX_TAGS} tags, got {len(tags)}")
        for tag in tags:
            if not MIN_TAG <= len(tag) <= MAX_TAG:
                raise Invalid(
                    "tags", f"each tag must be {MIN_TAG} to {MAX_TAG} characters, got {show(tag)}"
                )
