"""google.protobuf.Struct → plain JSON-like Python, with whole numbers kept whole.

A Struct holds every number as a double, and JSON has one number type: so a whole number that
a double holds exactly (below 2^53) is read back as an int, and 100 stays 100, not 100.0.
This is the one owner of that rule. The collector reads metadata with it, and the gateway
prints the Structs of responses with it; it imports only protobuf so that the gateway can use
it without depending on anything else of the collector.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

MAX_EXACT_INT = 2**53


def value_to_python(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) < MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return list_to_python(value.list_value)
    return None


def list_to_python(values: struct_pb2.ListValue) -> list[Any]:
    return [value_to_python(v) for v in values.values]


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    # Hot path (every event's metadata). Indexing by key: upb maps have no native items(),
    # and the ABC fallback costs ~20% more.
    fields = struct.fields
    return {key: value_to_python(fields[key]) for key in fields}
