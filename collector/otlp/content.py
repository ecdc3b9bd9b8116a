"""An LLM span's content (input, output, system instructions) as the event stores it: a string,
or a list of messages `{"role", "content"}` whose content is text.

Read, in order of preference, from:
- the GenAI conventions' `gen_ai.input.messages`, `gen_ai.output.messages` and
  `gen_ai.system_instructions` (JSON strings, or structured values), on the span or on its
  `gen_ai.client.inference.operation.details` event. A message is `{"role", "parts": [...]}`,
  its text parts `{"type": "text", "content"}`; the system instructions are a list of parts;
- OpenInference's flattened `llm.input_messages.N.message.role` / `.message.content` (or
  `.message.contents.M.message_content.text`), and the same for `llm.output_messages`;
- OpenLLMetry's flattened `gen_ai.prompt.N.role` / `.content` and `gen_ai.completion.N.*`;
- plain strings: OpenInference's `input.value` / `output.value`, the deprecated
  `gen_ai.prompt` / `gen_ai.completion`.

Parts that are not text (tool calls, tool results, blobs…) are kept as compact JSON, so that
what the model was sent is not silently lost; parts are joined with newlines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

Content = str | list[dict[str, str]]

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OI_INPUT = "llm.input_messages."
OI_OUTPUT = "llm.output_messages."
OPENLLMETRY_INPUT = "gen_ai.prompt."
OPENLLMETRY_OUTPUT = "gen_ai.completion."
INPUT_STRINGS = ("input.value", "gen_ai.prompt")
OUTPUT_STRINGS = ("output.value", "gen_ai.completion")
TOOL_CONTENT = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
# Every attribute that holds content: an LLM span's record leaves them out (they are on its
# event, bounded there), as does every span's when content is not stored.
CONTENT_KEYS = frozenset(
    (
        INPUT_MESSAGES,
        OUTPUT_MESSAGES,
        SYSTEM_INSTRUCTIONS,
        *INPUT_STRINGS,
        *OUTPUT_STRINGS,
        *TOOL_CONTENT,
    )
)
CONTENT_PREFIXES = (OI_INPUT, OI_OUTPUT, OPENLLMETRY_INPUT, OPENLLMETRY_OUTPUT)
TEXT_PARTS = ("text", "reasoning", "thinking")
_FLAT = re.compile(r"(\d+)\.(.+)")
_OI_PART = re.compile(r"message\.contents\.(\d+)\.message_content\.text")


def is_content(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        kind = part.get("type")
        text = part.get("content", part.get("text"))
        if (kind in TEXT_PARTS or kind is None) and isinstance(text, str):
            return text
    return _compact(part)


def _text(content: Any) -> str:
    """A message's content, or a list of parts, as one text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content)
    return "" if content is None else _compact(content)


def _decoded(value: Any) -> Any:
    """A JSON string decoded; a string that is not JSON stays the string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _messages(value: Any) -> Content | None:
    """gen_ai.*.messages (or an OpenAI-style message list) as {role, content} messages."""
    value = _decoded(value)
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None if value is None else _compact(value)
    out = []
    for message in value:
        if not isinstance(message, Mapping):
            out.append({"role": "", "content": _text(message)})
            continue
        role = message.get("role")
        parts = message.get("parts", message.get("content"))
        out.append({"role": role if isinstance(role, str) else "", "content": _text(parts)})
    return out


def _flattened(attributes: Mapping[str, Any], prefix: str, role: str, text: str) -> Content | None:
    """Messages flattened into `<prefix>N.<role>` / `<prefix>N.<text>` attributes (and, for
    OpenInference, `<prefix>N.message.contents.M.message_content.text` parts)."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        matched = _FLAT.fullmatch(key[len(prefix) :])
        if matched is None:
            continue
        message = found.setdefault(int(matched[1]), {})
        rest = matched[2]
        if rest == role:
            message["role"] = value
        elif rest == text:
            message["content"] = value
        elif (part := _OI_PART.fullmatch(rest)) is not None:
            message.setdefault("parts", {})[int(part[1])] = value
    if not found:
        return None
    out = []
    for _, message in sorted(found.items()):
        content = message.get("content")
        if content is None and "parts" in message:
            content = [part for _, part in sorted(message["parts"].items())]
        speaker = message.get("role")
        out.append({"role": speaker if isinstance(speaker, str) else "", "content": _text(content)})
    return out


# (prefix, role name, content name) of the flattened forms: OpenInference's, then OpenLLMetry's.
_FLAT_INPUT = (
    (OI_INPUT, "message.role", "message.content"),
    (OPENLLMETRY_INPUT, "role", "content"),
)
_FLAT_OUTPUT = (
    (OI_OUTPUT, "message.role", "message.content"),
    (OPENLLMETRY_OUTPUT, "role", "content"),
)


def _flattened_in(
    attributes: Mapping[str, Any], forms: tuple[tuple[str, str, str], ...]
) -> Content | None:
    """The messages of the first flattened form the attributes hold. Most spans hold none:
    one search of the joined attribute names finds a name that starts with a prefix, in C,
    rather than a startswith per attribute and form."""
    names = "\n" + "\n".join(attributes)
    for prefix, role, text in forms:
        if "\n" + prefix in names and (found := _flattened(attributes, prefix, role, text)):
            return found
    return None


def _string(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Content | None:
    for key in keys:
        if key not in attributes:  # most: `in` costs less than `.get`, a method call
            continue
        value = attributes[key]
        if isinstance(value, str) and value:
            return value
        if value is not None and value != "":
            return _compact(value)
    return None


def _first(*candidates: tuple[Mapping[str, Any], str]) -> Content | None:
    for attributes, key in candidates:
        if key not in attributes:
            continue
        value = attributes[key]
        if value is not None and value != "":
            return _messages(value)
    return None


def input_of(attributes: Mapping[str, Any], details: Mapping[str, Any]) -> Content | None:
    return (
        _first((attributes, INPUT_MESSAGES), (details, INPUT_MESSAGES))
        or _flattened_in(attributes, _FLAT_INPUT)
        or _string(attributes, INPUT_STRINGS)
    )


def output_of(attributes: Mapping[str, Any], details: Mapping[str, Any]) -> Content | None:
    return (
        _first((attributes, OUTPUT_MESSAGES), (details, OUTPUT_MESSAGES))
        or _flattened_in(attributes, _FLAT_OUTPUT)
        or _string(attributes, OUTPUT_STRINGS)
    )


def system_of(attributes: Mapping[str, Any], details: Mapping[str, Any]) -> str | None:
    for source in (attributes, details):
        value = source.get(SYSTEM_INSTRUCTIONS)
        if value is not None and value != "":
            return _text(_decoded(value))
    return None


def length(content: Content | None) -> int | None:
    """Characters of content: what prompt_length / response_length count."""
    if content is None:
        return None
    if isinstance(content, str):
        return len(content)
    return sum(len(message["content"]) for message in content)
