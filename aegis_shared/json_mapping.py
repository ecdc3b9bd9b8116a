"""proto3's JSON mapping, read strictly: json_format.ParseDict, except that a boolean is not
taken for a float or double field (ParseDict reads `true` as 1.0 there, while it refuses
booleans for every other scalar). A refusal is a ShapeError saying what is wrong in JSON's
words (aegis_shared.json_shape), never ParseDict's own message, which speaks protobuf. Shared by
the gateway (whole request bodies) and the collector (each JSON event); it imports only
protobuf."""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from aegis_shared.json_shape import Problem, explain, map_key_path

M = TypeVar("M", bound=Message)
_FLOATS = (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT)
_OPAQUE = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")


class ShapeError(ValueError):
    """The JSON object is not the message's shape; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.path or 'object'}: {problem.reason}")
        self.problem = problem


def parse_dict(data: dict[str, Any], message: M) -> M:
    """ParseDict(data, message); raises ShapeError naming the field."""
    boolean = _boolean_float(data, message.DESCRIPTOR, "")
    if boolean is not None:
        raise ShapeError(boolean)
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError:
        problem = explain(data, message.DESCRIPTOR)
    # Each field parses alone and no oneof clashes: nothing this module can name.
    raise ShapeError(problem or Problem("", "not the documented shape"))


def _boolean_float(data: dict[str, Any], descriptor: Any, path: str) -> Problem | None:
    for key, value in data.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is None:
            continue  # ParseDict reports unknown fields
        where = f"{path}.{field.name}" if path else field.name
        values = value if isinstance(value, list) else [value]
        if field.cpp_type in _FLOATS:
            for index, item in enumerate(values):
                if type(item) is bool:
                    at = f"{where}[{index}]" if isinstance(value, list) else where
                    return Problem(at, f"expected a number, got {str(item).lower()}")
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            value_type = nested.fields_by_name["value"].message_type
            if value_type is not None and isinstance(value, dict):
                for entry_key, item in value.items():
                    if isinstance(item, dict):
                        found = _boolean_float(item, value_type, map_key_path(where, entry_key))
                        if found is not None:
                            return found
            continue
        if nested is not None and nested.full_name not in _OPAQUE:
            for index, item in enumerate(values):
                if isinstance(item, dict):
                    at = f"{where}[{index}]" if isinstance(value, list) else where
                    found = _boolean_float(item, nested, at)
                    if found is not None:
                        return found
    return None
