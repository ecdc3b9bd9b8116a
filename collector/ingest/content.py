"""An LLM event's content: `input` and `output` (each a string or a list of messages
{role, content}) and `system` (a string). Checked like any field, then kept within
MAX_CONTENT_BYTES or dropped (STORE_CONTENT=false) by `ContentPolicy` at ingest.

Content is the tenant's own data and may hold anything: it is never logged, never echoed in an
error reason, and never leaves the raw event (domain.CONTENT_FIELDS: not in rollups, recent
events, metrics or the live tail). Export and reads of one event return it.

Truncation, when input + output + system together exceed the cap (UTF-8 bytes of every string,
a message counting its role and its content):
- the cap is shared fairly among the parts that are present: a part smaller than an equal
  share keeps all of it, and what it leaves is shared among the larger ones (max-min fairness),
  so a long input never pushes the output out;
- a string is cut to its share, on a character boundary;
- a list of messages keeps its messages from the first while they fit; the first that does
  not fit keeps its role and as much of its content as fits (when any does), and the messages
  after it are dropped.
The stored event then has `content_truncated: true`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis_shared import json_schema
from collector.domain import CONTENT_FIELDS
from collector.ingest.invalid import Invalid

_ROLE = json_schema.of("aegis.v1.LLMEvent", "input")["anyOf"][1]["items"]["properties"]["role"]
MIN_ROLE: int = _ROLE["minLength"]
MAX_ROLE: int = _ROLE["maxLength"]
SHAPE = "expected a string or a list of messages {role, content} with string values"
MESSAGE_KEYS = frozenset(("role", "content"))
_CONTENT = frozenset(CONTENT_FIELDS)
# UTF-8 takes at most 4 bytes a character: text of at most cap/4 characters fits unmeasured.
MAX_UTF8 = 4


def _kind(value: Any) -> str:
    """What a value is, never what it holds: reasons must not echo content."""
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number"}.get(
        type(value), "a number" if isinstance(value, float) else "a value of another type"
    )


def _check_part(name: str, value: Any) -> None:
    if type(value) is str:
        return
    if type(value) is bytes:  # input_json / output_json that does not parse (gRPC, the SDK)
        raise Invalid(name, f"{SHAPE}; {name}_json is not valid JSON")
    if type(value) is not list:
        raise Invalid(name, f"{SHAPE}, got {_kind(value)}")
    for index, message in enumerate(value):
        if type(message) is not dict or message.keys() != MESSAGE_KEYS:
            raise Invalid(name, f"message {index}: {SHAPE}")
        role, text = message["role"], message["content"]
        if type(role) is not str or type(text) is not str:
            raise Invalid(name, f"message {index}: {SHAPE}")
        if not MIN_ROLE <= len(role) <= MAX_ROLE:
            raise Invalid(
                name, f"message {index}: role must be {MIN_ROLE} to {MAX_ROLE} characters"
            )


def check(event: dict[str, Any]) -> None:
    """Raise Invalid when input, output or system is not of its shape, and remove those not
    given (absent, null, "" or no messages), so that the stored event has only what was."""
    if _CONTENT.isdisjoint(event):
        return
    for name in CONTENT_FIELDS:
        value = event.get(name)
        if value is None or value == "" or value == []:
            event.pop(name, None)
        elif name == "system":
            if type(value) is not str:
                raise Invalid("system", f"expected a string, got {_kind(value)}")
        else:
            _check_part(name, value)


def _chars(value: Any) -> int:
    if type(value) is str:
        return len(value)
    return sum(len(m["role"]) + len(m["content"]) for m in value)


def _size(value: Any) -> int:
    """UTF-8 bytes of a part."""
    if type(value) is str:
        return len(value.encode())
    return sum(len(m["role"].encode()) + len(m["content"].encode()) for m in value)


def _cut_text(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes of `text`, on a character boundary."""
    return text.encode()[:limit].decode("utf-8", "ignore")


def _cut(value: Any, limit: int) -> Any:
    if type(value) is str:
        return _cut_text(value, limit)
    kept: list[dict[str, str]] = []
    for message in value:
        role, text = message["role"], message["content"]
        need = len(role.encode()) + len(text.encode())
        if need <= limit:
            kept.append(message)
            limit -= need
            continue
        room = limit - len(role.encode())
        if room > 0:
            kept.append({"role": role, "content": _cut_text(text, room)})
        break
    return kept


def shares(sizes: dict[str, int], cap: int) -> dict[str, int]:
    """Max-min fair shares of `cap` bytes among parts of these sizes."""
    out: dict[str, int] = {}
    left = cap
    ordered = sorted(sizes, key=lambda name: sizes[name])
    for position, name in enumerate(ordered):
        share = left // (len(ordered) - position)
        out[name] = min(sizes[name], share)
        left -= out[name]
    return out


@dataclass(frozen=True)
class ContentPolicy:
    """STORE_CONTENT and MAX_CONTENT_BYTES, applied to each valid LLM event before it is
    stored."""

    store: bool = True
    max_bytes: int = 32768

    def apply(self, event: dict[str, Any]) -> None:
        """On a checked event (`check`): what it holds of content is of its shape."""
        present = {name: event[name] for name in CONTENT_FIELDS if name in event}
        if not present:
            return
        if not self.store:
            for name in CONTENT_FIELDS:
                event.pop(name, None)
            return
        if sum(_chars(value) for value in present.values()) * MAX_UTF8 <= self.max_bytes:
            return
        sizes = {name: _size(value) for name, value in present.items()}
        if sum(sizes.values()) <= self.max_bytes:
            return
        for name, share in shares(sizes, self.max_bytes).items():
            if share < sizes[name]:
                event[name] = _cut(present[name], share)
        event["content_truncated"] = True
