"""Protobuf ⇄ JSON for the REST contract.

Responses use proto field names and print int64 as JSON numbers (proto3's canonical JSON
prints them as strings, which the seed's clients do not expect). Every field is printed;
an unset optional or message field is null.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from aegis.v1 import options_pb2
from aegis_shared import json_mapping, json_shape, structs

# The collector's own reading of Structs, so whole numbers print as 100, not 100.0.
_STRUCTS: dict[str, Callable[[Any], Any]] = {
    "google.protobuf.Struct": structs.struct_to_dict,
    "google.protobuf.Value": structs.value_to_python,
    "google.protobuf.ListValue": structs.list_to_python,
}


def _scalar(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(value)
    return value


def to_json(message: Message) -> Any:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        return json_format.MessageToDict(message)
    if name in _STRUCTS:
        return _STRUCTS[name](message)
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            out[field.name] = {key: _scalar(entry, item) for key, item in value.items()}
        elif field.is_repeated:
            out[field.name] = [_scalar(field, v) for v in value]
        elif field.has_presence and not message.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = _scalar(field, value)
    return out


class BadRequest(Exception):
    """The body or query is not the documented shape; the message says where (body, field,
    query parameter, header), what was wrong and what is expected, in REST's words."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


@functools.cache
def json_texts(descriptor: Any) -> dict[str, str]:
    """A message's repeated Value fields that may travel as one JSON array of text, each to
    the name of its bytes field (`(aegis.v1.json_text)`)."""
    return {
        field.name: text
        for field in descriptor.fields
        if (text := field.GetOptions().Extensions[options_pb2.json_text])
    }


def _as_text(data: dict[str, Any], message: Message) -> dict[str, Any]:
    """Move each array a `(aegis.v1.json_text)` field names into its bytes field, as JSON
    text: the collector parses it in one go (a Value per element costs the gateway and the
    collector ~10x more). The bytes field itself is not REST's: sent, it is unknown."""
    texts = json_texts(message.DESCRIPTOR)
    if not texts:
        return data
    fields = message.DESCRIPTOR.fields_by_name
    for text in texts.values():
        for key in (text, fields[text].json_name):
            if key in data:
                hint = json_shape.expected_instead(key, message.DESCRIPTOR)
                raise BadRequest(f'body: unknown field "{key}"; {hint}')
    out = dict(data)
    for name, text in texts.items():
        for key in (name, fields[name].json_name):
            if type(out.get(key)) is list:
                setattr(message, text, _json_text(out.pop(key)))
    return out


def _json_text(value: list[Any]) -> bytes:
    """What json.loads read, written back as it reads it (NaN and all), as UTF-8."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest(
            "body: a string holds an unpaired surrogate (\\ud800-\\udfff): not valid Unicode"
        ) from None
    except RecursionError:  # a dump needs a little more stack than json.loads did
        raise BadRequest("body: nested too deeply") from None


def from_json(data: Any, message: Message, *, query: bool = False) -> Message:
    """The request message from a JSON body (or, `query`, from query parameters)."""
    if not isinstance(data, dict):
        raise BadRequest(f"body: expected a JSON object, got {json_shape.show(data)}")
    if not query:
        data = _as_text(data, message)
    # proto3's JSON mapping: null means the field's default. (ParseDict fails on a null
    # repeated Value field, so nulls are dropped here, for every field alike.)
    # An unknown field stays, for ParseDict to refuse.
    fields = message.DESCRIPTOR.fields
    known = {f.name for f in fields} | {f.json_name for f in fields}
    data = {key: value for key, value in data.items() if value is not None or key not in known}
    if query:
        data = _query_booleans(data, message)
    try:
        return json_mapping.parse_dict(data, message)
    except json_mapping.ShapeError as exc:
        raise BadRequest(_in_rest_words(exc.problem, message, query)) from None


def _query_booleans(data: dict[str, Any], message: Message) -> dict[str, Any]:
    """A query string's "true" / "false" for a bool field, as the JSON values they mean (a query
    string has only strings; ParseDict takes strings for numbers, not for bools)."""
    descriptor = message.DESCRIPTOR
    out = dict(data)
    for key, value in data.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is not None and field.type == FieldDescriptor.TYPE_BOOL and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                out[key] = lowered == "true"
    return out


def _in_rest_words(problem: json_shape.Problem, message: Message, query: bool) -> str:
    if query and problem.unknown is not None:
        hint = json_shape.expected_instead(
            problem.unknown, message.DESCRIPTOR, noun="query parameters"
        )
        return f'query: unknown parameter "{problem.unknown[:40]}"; {hint}'
    if query:
        return f"query parameter {problem.path}: {problem.reason}"
    if problem.unknown is not None:
        where = problem.path or "body"
        return f'{where}: unknown field "{problem.unknown[:40]}"; {problem.reason}'
    return f"{problem.path or 'body'}: {problem.reason}"
