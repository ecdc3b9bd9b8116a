"""OpenAPI pieces for /docs, derived from the request messages' descriptors."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_SCALARS = {
    FieldDescriptor.CPPTYPE_INT32: "integer",
    FieldDescriptor.CPPTYPE_INT64: "integer",
    FieldDescriptor.CPPTYPE_UINT32: "integer",
    FieldDescriptor.CPPTYPE_UINT64: "integer",
    FieldDescriptor.CPPTYPE_DOUBLE: "number",
    FieldDescriptor.CPPTYPE_FLOAT: "number",
    FieldDescriptor.CPPTYPE_BOOL: "boolean",
    FieldDescriptor.CPPTYPE_STRING: "string",
    FieldDescriptor.CPPTYPE_ENUM: "string",
}


def _field_schema(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            schema: dict[str, Any] = {"type": "string", "format": "date-time"}
        elif name == "google.protobuf.Struct":
            schema = {"type": "object", "additionalProperties": True}
        else:
            schema = message_schema(field.message_type)
    else:
        schema = {"type": _SCALARS[field.cpp_type]}
    return {"type": "array", "items": schema} if field.is_repeated else schema


def message_schema(message: Descriptor) -> dict[str, Any]:
    return {
        "type": "object",
        "title": message.name,
        "properties": {f.name: _field_schema(f) for f in message.fields},
    }


def operation(path: str, body: str, message: Descriptor) -> dict[str, Any]:
    """Path parameters, then the body (`body: "*"`) or the remaining fields as the query."""
    in_path = set(re.findall(r"{(\w+)}", path))
    parameters = [
        {"name": f.name, "in": "path", "required": True, "schema": _field_schema(f)}
        for f in message.fields
        if f.name in in_path
    ]
    if body == "*":
        return {
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": message_schema(message)}},
            },
        }
    parameters += [
        {"name": f.name, "in": "query", "required": False, "schema": _field_schema(f)}
        for f in message.fields
        if f.name not in in_path
    ]
    return {"parameters": parameters}
