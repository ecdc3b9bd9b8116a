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
# text is read by json. Found in one pass: each digit maps to "9", each character that may
# come before a number in JSON (":", ",", "[", whitespace) to ":", "-" stays, anything else
# (a letter, a quote, a dot) maps to "x"; a run of 19 nines right after a ":", or a ":-",
# (or at the start) is a long number's, whereas hex ids hold such runs after a letter often
# enough to hit most batches. ~0.6 µs an event of a REST batch, against 1.2 µs for a search
# that looked at the characters before each run in Python; ~0.4 µs for a metadata text (0.9),
# 2-3 µs for a regular expression. A string with such a run after a space or a colon is read by
# json: the same result, more slowly.
_NUMBER_CONTEXT = bytearray(b"x" * 256)
_NUMBER_CONTEXT[ord("0") : ord("9") + 1] = b"9" * 10
_NUMBER_CONTEXT[ord("-")] = ord("-")
for _before in ":,[ \t\r\n":  # str, not bytes: compiled, a bytes literal's items are bytes
    _NUMBER_CONTEXT[ord(_before)] = ord(":")
_MAPPED = bytes(_NUMBER_CONTEXT)
_LONG_RUN = b"9" * len(str(2**63))
_AFTER_A_SEPARATOR = b":" + _LONG_RUN
_AFTER_A_MINUS = b":-" + _LONG_RUN
_NOT_A_NUMBER = ord("x")


def _long_number(text: bytes) -> bool:
    """Whether `text` may hold an integer of 19 digits or more. Hot path: it runs for each
    event's metadata_json too (~0.4 µs for the bench's)."""
    if len(text) < len(_LONG_RUN):
        return False
    mapped = text.translate(_MAPPED)
    # bytes.find, not `in`: `in` first tries its operand as an int, and the TypeError it
    # raises and clears costs more than the search (~0.3 µs).
    if mapped.find(_LONG_RUN) < 0:  # most metadata: one search
        return False
    if mapped.find(_AFTER_A_SEPARATOR) >= 0 or mapped.find(_AFTER_A_MINUS) >= 0:
        return True
    if mapped[0] == _NOT_A_NUMBER:  # "{", "[" or a string first: no number at the start
        return False
    return mapped.lstrip(b":").removeprefix(b"-").startswith(_LONG_RUN)


try:  # the same answer from a C loop (~4x cheaper), when built
    from collector.ingest.text_scans import may_hold_long_number
except ImportError:  # not built
    may_hold_long_number = _long_number


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
    if may_hold_long_number(text):
        return _json_loads(text, parse_int)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _json_loads(text, parse_int)
