"""JSON text read on the ingest hot path: orjson (~4x cheaper than json.loads for a seed-shaped
metadata object, measured in docs/benchmarks.md), with the standard library as the fallback
for what orjson refuses or reads differently (NaN and Infinity, integers past 64 bits), so
the result, and what validation then says of it, is json.loads' own. Except for one thing
json.loads reads and nothing can store: a string with an unpaired surrogate (an escaped
"\\ud800", or its bytes), which BSON cannot encode; such a text is refused (ValueError), as
orjson refuses it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# orjson reads an integer past 64 bits as a float, where json.loads keeps the int (which
# validation rejects: BSON holds 64 bits). A number of 19 digits or more might be one: such a
# text is read by json. Digits are found by mapping each to 9 and looking for 19 nines (0.3 µs
# for a seed-shaped metadata object, against 2-3 µs for a regular expression's search); a run
# is a number's when a ":", "," or "[" comes before it (or nothing), as in JSON, not a
# letter or a quote as in an id (hex ids hold such runs often enough to hit most batches).
_DIGITS_TO_NINES = bytes.maketrans(b"0123456789", b"9999999999")
_LONG_RUN = b"9" * len(str(2**63))
_NINE = ord("9")
_SPACE_OR_MINUS = frozenset(b" \t\r\n-")
_BEFORE_A_NUMBER = frozenset(b":,[")


def _long_number(text: bytes) -> bool:
    nines = text.translate(_DIGITS_TO_NINES)
    at = nines.find(_LONG_RUN)
    while at != -1:
        start = at
        while start and nines[start - 1] == _NINE:
            start -= 1
        before = start - 1
        while before >= 0 and nines[before] in _SPACE_OR_MINUS:
            before -= 1
        if before < 0 or nines[before] in _BEFORE_A_NUMBER:
            return True
        end = at + len(_LONG_RUN)
        while end < len(nines) and nines[end] == _NINE:
            end += 1
        at = nines.find(_LONG_RUN, end)
    return False


def _json_loads(text: bytes, parse_int: Callable[[str], Any] | None) -> Any:
    value = json.loads(text, parse_int=parse_int)
    try:  # rare (a long number, NaN, a text orjson refuses): the check costs a dump
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("a string holds an unpaired surrogate: not valid Unicode") from None
    return value


def loads(text: bytes, *, parse_int: Callable[[str], Any] | None = None) -> Any:
    """json.loads' result (with `parse_int`, which orjson's integers never need: they have at
    most 18 digits); raises ValueError (or RecursionError) where json.loads does, and for a
    string with an unpaired surrogate."""
    if _long_number(text):
        return _json_loads(text, parse_int)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _json_loads(text, parse_int)
