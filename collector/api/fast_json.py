"""JSON text read on the ingest hot path: orjson (~4x cheaper than json.loads for a seed-shaped
metadata object, measured in docs/benchmarks.md), with the standard library as the fallback
for what orjson refuses and json reads (NaN and Infinity, integers past 64 bits, lone
surrogates), so the result, and what validation then says of it, is json.loads' own."""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson reads an integer past 64 bits as a float, where json.loads keeps the int (which
# validation rejects: BSON holds 64 bits). Any run of 19 digits might be one: json reads it.
# (Found by mapping every digit to 9 and looking for 19 nines: 0.3 µs for a seed-shaped
# metadata object, against 2-3 µs for a regular expression's search.)
_DIGITS_TO_NINES = bytes.maketrans(b"0123456789", b"9999999999")
_LONG_RUN = b"9" * 19


def loads(text: bytes) -> Any:
    """json.loads' result; raises ValueError (or RecursionError) where json.loads does."""
    if _LONG_RUN in text.translate(_DIGITS_TO_NINES):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
