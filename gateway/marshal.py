"""Protobuf ⇄ JSON for the REST contract.

Responses use proto field names and print int64 as JSON numbers (proto3's canonical JSON
prints them as strings, which the seed's clients do not expect). Every field is printed;
an unset optional or message field is null.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_STRUCTS = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def _whole_numbers(value: Any) -> Any:
    """JSON has one number type: print 100, not 100.0, for whole numbers inside a Struct."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _scalar(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(value)
    return value


def to_json(message: Message) -> Any:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        return json_format.MessageToDict(message)
    if name in _STRUCTS:
        return _whole_numbers(json_format.MessageToDict(message))
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
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise BadRequest(str(exc)) from None
