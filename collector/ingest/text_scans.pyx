# cython: language_level=3, boundscheck=False, wraparound=False
"""Two scans of text that the ingest hot path runs for every event, as C loops: whether an id
is W3C trace-context hex (collector.ingest.attribution, instead of its regular expression)
and whether a JSON text may hold an integer of 19 digits or more (collector.api.fast_json,
instead of its translate-and-search). Each answers as the Python it replaces, which stays
as the rule and runs when this is not built (AEGIS_PURE_PYTHON, no compiler);
tests/test_text_scans.py checks them against each other.

Hot path: the regular expression costs ~2,300 instructions an id (three ids an event) and
the search ~4,300 a metadata text; these, ~100 and ~1,000 (callgrind, docs/benchmarks.md).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t

from collector.ingest.hex_digits cimport lower_hex

cdef extern from "Python.h":
    bint PyUnicode_Check(object)


def hex_id(object value, Py_ssize_t length):
    """Whether `value` (a str) is `length` lowercase hex digits, not all zero: the pattern
    ^(?:(?!0+$)[0-9a-f]{length})?$ on a non-empty value."""
    if not PyUnicode_Check(value):
        raise TypeError(f"expected a str, got {type(value).__name__}")  # as re's search
    return lower_hex(value, length)


cdef inline bint _separator(uint8_t ch) noexcept:
    # What may come right before a number in JSON: ":", ",", "[" or whitespace.
    return ch == 58 or ch == 44 or ch == 91 or ch == 32 or ch == 9 or ch == 13 or ch == 10


def may_hold_long_number(bytes text):
    """Whether `text` holds a run of 19 digits or more where a JSON number starts: at the
    start, or after a separator, each with an optional "-" before the digits."""
    cdef const uint8_t* data = <const uint8_t*>PyBytes_AS_STRING(text)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(text)
    cdef Py_ssize_t i
    cdef int run = 0  # digits so far of a run where a number starts; -1: of another run
    cdef uint8_t ch
    for i in range(size):
        ch = data[i]
        if 48 <= ch <= 57:
            if run == 0:
                if (
                    i == 0
                    or _separator(data[i - 1])
                    or (data[i - 1] == 45 and (i == 1 or _separator(data[i - 2])))
                ):
                    run = 1
                else:
                    run = -1
            elif run > 0:
                run += 1
            if run >= 19:
                return True
        else:
            run = 0
    return False
