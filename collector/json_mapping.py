"""proto3's JSON mapping, read strictly: json_format.ParseDict, except that a boolean is not
taken for a float or double field (ParseDict reads `true` as 1.0 there, while it refuses
booleans for every other scalar). Shared by the gateway (whole request bodies) and the
collector (each JSON event); it imports only protobuf."""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
_FLOATS = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)
_OPAQUE = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")


def parse_dict(data: dict[str, Any], message: M) -> M:
    """ParseDict(data, message); raises json_format.ParseError naming the field."""
    _refuse_boolean_floats(data, message.DESCRIPTOR)
    return json_format.ParseDict(data, message)


def _refuse_boolean_floats(data: dict[str, Any], descriptor: Any) -> None:
    for key, value in data.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is None:
            continue  # ParseDict reports unknown fields
        values = value if isinstance(value, list) else [value]
        if field.cpp_type in _FLOATS and any(type(v) is bool for v in values):
            raise json_format.ParseError(f"Failed to parse {key} field: a boolean is not a number")
        nested = field.message_type
        if nested is not None and nested.full_name not in _OPAQUE:
            for item in values:
                if isinstance(item, dict):
                    _refuse_boolean_floats(item, nested)
