"""JSON text read on the ingest hot path: orjson (~4x cheaper than json.loads for a seed-shaped
metadata object, measured in docs/benchmarks.md), with the standard library as the fallback
for what orjson refuses and json reads (NaN and Infinity, integers past 64 bits, lone
surrogates), so the result, and what validation then says of it, is json.loads' own."""

from __future__ import annotations

import json
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


def loads(text: bytes) -> Any:
    """json.loads' result; raises ValueError (or RecursionError) where json.loads does."""
    if _long_number(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
