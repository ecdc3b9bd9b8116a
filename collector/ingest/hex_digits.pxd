# cython: language_level=3
"""Whether a str is a W3C trace-context id: what collector.ingest.text_scans.hex_id and
collector.ingest.event_checks share (a .pxd of an inline function, compiled into each)."""

from libc.stdint cimport uint8_t

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    void* PyUnicode_DATA(object)


cdef inline bint lower_hex(object value, Py_ssize_t digits) noexcept:
    """Whether `value` (a str) is `digits` lowercase hex digits, not all zero."""
    cdef const uint8_t* data
    cdef Py_ssize_t i
    cdef uint8_t ch
    cdef bint zero = True
    if not PyUnicode_IS_ASCII(value) or PyUnicode_GET_LENGTH(value) != digits:
        return False  # a character past "f", or another length
    data = <const uint8_t*>PyUnicode_DATA(value)  # ASCII: one byte a character
    for i in range(digits):
        ch = data[i]
        if ch != 48:  # "0"
            zero = False
            if not (49 <= ch <= 57 or 97 <= ch <= 102):  # "1".."9", "a".."f"
                return False
    return not zero
