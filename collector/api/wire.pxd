# cython: language_level=3
"""Protobuf's wire format, read in C: what collector.api.wire_events and collector.otlp.wire_spans
share (a .pxd of inline functions: cimported, compiled into each, no module of its own).

Each raises ValueError where protobuf would refuse the bytes (a truncated field, an overlong
varint, a group) or read them its own way; UTF-8 that is not, UnicodeDecodeError (a
ValueError too). The readers catch ValueError and leave the request to protobuf.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef enum:
    MAX_FIELD = 536870911  # 2^29 - 1: past it, protobuf refuses the message


cdef struct Cursor:
    const uint8_t* at
    const uint8_t* end


cdef inline int varint(Cursor* c, uint64_t* out) except -1:
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef uint8_t byte
    while True:
        if c.at >= c.end or shift > 63:
            raise ValueError("protobuf wire: varint")
        byte = c.at[0]
        c.at += 1
        result |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            out[0] = result
            return 0
        shift += 7


cdef inline int key(Cursor* c, uint64_t* number, int* wire) except -1:
    """A field's number and wire type."""
    cdef uint64_t value
    varint(c, &value)
    number[0] = value >> 3
    wire[0] = value & 7
    if number[0] == 0 or number[0] > MAX_FIELD:
        raise ValueError("protobuf wire: field number")
    return 0


cdef inline int span(Cursor* c, Cursor* inner) except -1:
    """A length-delimited field's bytes, as a cursor of their own."""
    cdef uint64_t size
    varint(c, &size)
    if size > <uint64_t>(c.end - c.at):
        raise ValueError("protobuf wire: length")
    inner.at = c.at
    inner.end = c.at + size
    c.at += size
    return 0


cdef inline uint64_t fixed64(Cursor* c) except? 0:
    cdef uint64_t value
    if c.end - c.at < 8:
        raise ValueError("protobuf wire: fixed64")
    memcpy(&value, c.at, 8)  # little-endian hosts only (little_endian())
    c.at += 8
    return value


cdef inline int skip(Cursor* c, int wire) except -1:
    """A field this reader does not use, as protobuf skips an unknown one."""
    cdef uint64_t ignored
    cdef Cursor inner
    if wire == 0:
        varint(c, &ignored)
    elif wire == 1:
        fixed64(c)
    elif wire == 2:
        span(c, &inner)
    elif wire == 5:
        if c.end - c.at < 4:
            raise ValueError("protobuf wire: fixed32")
        c.at += 4
    else:
        raise ValueError("protobuf wire: group")
    return 0


cdef inline int expect(int wire, int expected) except -1:
    """A known field sent with another wire type: protobuf keeps it aside, not this reader."""
    if wire != expected:
        raise ValueError("protobuf wire: wire type")
    return 0


cdef inline object text(Cursor* span):
    # Raises UnicodeDecodeError for bytes that are not UTF-8 (protobuf refuses them).
    return PyUnicode_DecodeUTF8(<const char*>span.at, span.end - span.at, NULL)


cdef inline object raw(Cursor* span):
    return PyBytes_FromStringAndSize(<const char*>span.at, span.end - span.at)


cdef inline bint little_endian() noexcept:
    cdef uint32_t one = 1
    return (<uint8_t*>&one)[0] == 1
