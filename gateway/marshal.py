"""Protobuf ⇄ JSON for the REST contract.

Responses use proto field names and print int64 as JSON numbers (proto3's canonical JSON
prints them as strings, which the seed's clients do not expect). Every field is printed;
an unset optional or message field is null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from collector import json_mapping, structs

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
        if field.is_repeated:
            out[field.name] = [_scalar(field, v) for v in value]
        elif field.has_presence and not message.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = _scalar(field, value)
    return out


class BadRequest(Exception):
    """The body or query is not the documented shape; the message names the field."""


def from_json(data: Any, message: Message) -> Message:
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    # proto3's JSON mapping: null means the field's default. (ParseDict fails on a null
    # repeated Value field, so nulls are dropped here, for every field alike.)
    # An unknown field stays, for ParseDict to refuse.
    fields = message.DESCRIPTOR.fields
    known = {f.name for f in fields} | {f.json_name for f in fields}
    data = {key: value for key, value in data.items() if value is not None or key not in known}
    try:
        return json_mapping.parse_dict(data, message)
    except json_format.ParseError as exc:
        raise BadRequest(str(exc)) from None
