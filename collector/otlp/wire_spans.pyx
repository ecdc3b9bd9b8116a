# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""OTLP's ExportTraceServiceRequest read off the wire into collector.otlp.spans' Spans, the very
ones spans_of makes of the message protobuf parses: field for field, attribute for attribute,
in the same order.

Hot path: protobuf parses an export cheaply, but reading its attributes back out (a message
object and a Python look-up per key and value) costs ~50,000 instructions a span of the
bench's agent traces, a third of the collector's work (docs/benchmarks.md). Here each field
is read once, off the wire.

Every field of the request is read, or, for those spans_of does not use (trace_state, links,
the scope, schema URLs), checked as protobuf checks it (UTF-8 strings) and dropped. A
request holding what protobuf would read its own way (a singular message sent twice, which
protobuf merges; two members of a value's oneof; a field sent with another wire type than its
own; a resource's entity references; a string-table index) or would refuse (a string that is
not UTF-8, a truncated field, a group) is not read here: read_spans returns None and
protobuf parses the request as before, with its errors (collector.otlp.servicer).
tests/test_wire_spans.py holds the two to the same Spans.

Written in Cython proper (typed, C pointers) like collector.api.wire_events: it only pays
compiled, and not built (AEGIS_PURE_PYTHON, no compiler) it is not used.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from collector.otlp.spans import DETAILS_EVENT, KINDS, MAX_VALUE_DEPTH, STATUSES, Span

cdef uint64_t MAX_FIELD = 536870911  # 2^29 - 1: past it, protobuf refuses the message
cdef int STATUS_ERROR = 2
cdef bytes _DETAILS = DETAILS_EVENT.encode()
cdef int _MAX_DEPTH = MAX_VALUE_DEPTH
cdef int MAX_NESTING = 64  # values in values: protobuf's own limit is 100


class Unread(Exception):
    """What this reader leaves to protobuf."""


cdef struct Cursor:
    const uint8_t* at
    const uint8_t* end


cdef inline int _varint(Cursor* c, uint64_t* out) except -1:
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef uint8_t byte
    while True:
        if c.at >= c.end or shift > 63:
            raise Unread("varint")
        byte = c.at[0]
        c.at += 1
        result |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            out[0] = result
            return 0
        shift += 7


cdef inline int _key(Cursor* c, uint64_t* number, int* wire) except -1:
    cdef uint64_t key
    _varint(c, &key)
    number[0] = key >> 3
    wire[0] = key & 7
    if number[0] == 0 or number[0] > MAX_FIELD:
        raise Unread("field number")
    return 0


cdef inline int _span(Cursor* c, Cursor* inner) except -1:
    cdef uint64_t size
    _varint(c, &size)
    if size > <uint64_t>(c.end - c.at):
        raise Unread("length")
    inner.at = c.at
    inner.end = c.at + size
    c.at += size
    return 0


cdef inline uint64_t _fixed64(Cursor* c) except? 0:
    cdef uint64_t value
    if c.end - c.at < 8:
        raise Unread("fixed64")
    memcpy(&value, c.at, 8)  # little-endian hosts only (see read_spans)
    c.at += 8
    return value


cdef int _skip(Cursor* c, int wire) except -1:
    cdef uint64_t ignored
    cdef Cursor inner
    if wire == 0:
        _varint(c, &ignored)
    elif wire == 1:
        _fixed64(c)
    elif wire == 2:
        _span(c, &inner)
    elif wire == 5:
        if c.end - c.at < 4:
            raise Unread("fixed32")
        c.at += 4
    else:
        raise Unread("group")
    return 0


cdef inline object _text(Cursor* span):
    # Raises UnicodeDecodeError for bytes that are not UTF-8 (protobuf refuses them).
    return PyUnicode_DecodeUTF8(<const char*>span.at, span.end - span.at, NULL)


cdef inline object _hex(Cursor* span):
    return PyBytes_FromStringAndSize(<const char*>span.at, span.end - span.at).hex()


cdef inline int _expect(int wire, int expected) except -1:
    if wire != expected:
        raise Unread("wire type")
    return 0


cdef object _any_value(Cursor* c, int depth):
    """spans._value(AnyValue, depth). Past MAX_VALUE_DEPTH an array, a list or bytes is None,
    its strings checked still; past MAX_NESTING protobuf reads it (and refuses it)."""
    cdef uint64_t number, value
    cdef int wire
    cdef int members = 0
    cdef object found = None
    cdef Cursor inner
    cdef double real
    cdef dict pairs
    if depth > MAX_NESTING:
        raise Unread("nesting")
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            found = _text(&inner)
        elif number == 2:
            _expect(wire, 0)
            _varint(c, &value)
            found = value != 0
        elif number == 3:
            _expect(wire, 0)
            _varint(c, &value)
            found = PyLong_FromLongLong(<int64_t>value)
        elif number == 4:
            _expect(wire, 1)
            value = _fixed64(c)
            memcpy(&real, &value, 8)
            found = real
        elif number == 5:
            _expect(wire, 2)
            _span(c, &inner)
            found = _array(&inner, depth + 1)
            if depth >= _MAX_DEPTH:
                found = None
        elif number == 6:
            _expect(wire, 2)
            _span(c, &inner)
            pairs = {}
            _attributes_of_list(&inner, pairs, depth + 1)
            found = pairs if depth < _MAX_DEPTH else None
        elif number == 7:
            _expect(wire, 2)
            _span(c, &inner)
            found = _hex(&inner) if depth < _MAX_DEPTH else None
        elif number == 8:
            raise Unread("string table")
        else:
            _skip(c, wire)
            continue
        members += 1
        if members > 1:
            raise Unread("two members of the oneof")  # protobuf keeps the last, or merges
    return found


cdef list _array(Cursor* c, int depth):
    """[spans._value(v, depth) for v in an ArrayValue's values]."""
    cdef list out = []
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            out.append(_any_value(&inner, depth))
        else:
            _skip(c, wire)
    return out


cdef int _key_value(Cursor* c, dict out, int depth) except -1:
    """One KeyValue into `out` (None: read and dropped): spans.attributes' entry of it at
    depth 0, spans._value's kvlist entry deeper (the two agree)."""
    cdef uint64_t number
    cdef int wire
    cdef object key = ""
    cdef object value = None
    cdef bint seen = False
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            key = _text(&inner)
        elif number == 2:
            _expect(wire, 2)
            if seen:
                raise Unread("value sent twice")  # protobuf merges the two
            seen = True
            _span(c, &inner)
            value = _any_value(&inner, depth)
        else:
            _skip(c, wire)
    if out is not None:
        out[key] = value
    return 0


cdef int _attributes_of_list(Cursor* c, dict out, int depth) except -1:
    """A KeyValueList's values (field 1) into `out`."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, out, depth)
        else:
            _skip(c, wire)
    return 0


cdef int _string_field(Cursor* c, int wire) except -1:
    # A string spans_of does not use: checked as protobuf checks it, and dropped.
    cdef Cursor inner
    _expect(wire, 2)
    _span(c, &inner)
    _text(&inner)
    return 0


cdef int _scope(Cursor* c) except -1:
    """An InstrumentationScope: not used, checked."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1 or number == 2:
            _string_field(c, wire)
        elif number == 3:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, None, 0)
        elif number == 4:
            _expect(wire, 0)
            _skip(c, wire)
        else:
            _skip(c, wire)
    return 0


cdef int _link(Cursor* c) except -1:
    """A Span.Link: not used, checked."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1 or number == 2:
            _expect(wire, 2)
            _skip(c, wire)
        elif number == 3:
            _string_field(c, wire)
        elif number == 4:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, None, 0)
        elif number == 5:
            _expect(wire, 0)
            _skip(c, wire)
        elif number == 6:
            _expect(wire, 5)
            _skip(c, wire)
        else:
            _skip(c, wire)
    return 0


cdef int _event(Cursor* c, dict details) except -1:
    """A Span.Event: its attributes into `details` when it is the GenAI details event."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    cdef dict found = {}
    cdef bint is_details = False
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 1)
            _skip(c, wire)
        elif number == 2:
            _expect(wire, 2)
            _span(c, &inner)
            name = _text(&inner)
            is_details = name == DETAILS_EVENT
        elif number == 3:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, found, 0)
        elif number == 4:
            _expect(wire, 0)
            _skip(c, wire)
        else:
            _skip(c, wire)
    if is_details:
        details.update(found)
    return 0


cdef object _span_of(Cursor* c, dict resource):
    """spans_of's Span of one Span message."""
    cdef uint64_t number, value
    cdef int wire
    cdef Cursor inner, status_inner
    cdef object trace_id = ""
    cdef object span_id = ""
    cdef object parent_span_id = ""
    cdef object name = ""
    cdef uint64_t start = 0
    cdef uint64_t end = 0
    cdef int32_t kind = 0
    cdef int32_t code = 0
    cdef object message = ""
    cdef bint status_seen = False
    cdef bint has_events = False
    cdef dict attributes = {}
    cdef dict details = {}
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            trace_id = _hex(&inner)
        elif number == 2:
            _expect(wire, 2)
            _span(c, &inner)
            span_id = _hex(&inner)
        elif number == 3:
            _string_field(c, wire)
        elif number == 4:
            _expect(wire, 2)
            _span(c, &inner)
            parent_span_id = _hex(&inner)
        elif number == 5:
            _expect(wire, 2)
            _span(c, &inner)
            name = _text(&inner)
        elif number == 6:
            _expect(wire, 0)
            _varint(c, &value)
            kind = <int32_t>value
        elif number == 7:
            _expect(wire, 1)
            start = _fixed64(c)
        elif number == 8:
            _expect(wire, 1)
            end = _fixed64(c)
        elif number == 9:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, attributes, 0)
        elif number == 11:
            _expect(wire, 2)
            _span(c, &inner)
            has_events = True
            _event(&inner, details)
        elif number == 13:
            _expect(wire, 2)
            _span(c, &inner)
            _link(&inner)
        elif number == 15:
            _expect(wire, 2)
            if status_seen:
                raise Unread("status sent twice")  # protobuf merges the two
            status_seen = True
            _span(c, &status_inner)
            while status_inner.at < status_inner.end:
                _key(&status_inner, &number, &wire)
                if number == 2:
                    _expect(wire, 2)
                    _span(&status_inner, &inner)
                    message = _text(&inner)
                elif number == 3:
                    _expect(wire, 0)
                    _varint(&status_inner, &value)
                    code = <int32_t>value
                else:
                    _skip(&status_inner, wire)
        elif number == 10 or number == 12 or number == 14:
            _expect(wire, 0)
            _skip(c, wire)
        elif number == 16:
            _expect(wire, 5)
            _skip(c, wire)
        else:
            _skip(c, wire)
    return Span(
        trace_id,
        span_id,
        parent_span_id,
        name,
        PyLong_FromUnsignedLongLong(start),
        PyLong_FromUnsignedLongLong(end),
        code == STATUS_ERROR,
        message,
        attributes,
        resource,
        KINDS.get(kind, "UNSPECIFIED"),
        STATUSES.get(code, "UNSET"),
        details if has_events else {},
    )


cdef dict _resource(Cursor* c):
    """A Resource's attributes."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    cdef dict out = {}
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            _key_value(&inner, out, 0)
        elif number == 2:
            _expect(wire, 0)
            _skip(c, wire)
        elif number == 3:
            raise Unread("entity references")
        else:
            _skip(c, wire)
    return out


cdef int _scope_spans(Cursor* c, dict resource, list out) except -1:
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            _span(c, &inner)
            _scope(&inner)
        elif number == 2:
            _expect(wire, 2)
            _span(c, &inner)
            out.append(_span_of(&inner, resource))
        elif number == 3:
            _string_field(c, wire)
        else:
            _skip(c, wire)
    return 0


cdef int _resource_spans(Cursor* c, list out) except -1:
    """Its resource first, wherever it is on the wire: each span holds its attributes."""
    cdef uint64_t number
    cdef int wire
    cdef Cursor inner
    cdef Cursor first = c[0]
    cdef dict resource = None
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 1:
            _expect(wire, 2)
            if resource is not None:
                raise Unread("resource sent twice")  # protobuf merges the two
            _span(c, &inner)
            resource = _resource(&inner)
        elif number == 2:
            _expect(wire, 2)
            _span(c, &inner)
        elif number == 3:
            _string_field(c, wire)
        else:
            _skip(c, wire)
    if resource is None:
        resource = {}
    c[0] = first
    while c.at < c.end:
        _key(c, &number, &wire)
        if number == 2:
            _span(c, &inner)
            _scope_spans(&inner, resource, out)
        else:
            _skip(c, wire)
    return 0


cdef bint _little_endian():
    cdef uint32_t one = 1
    return (<uint8_t*>&one)[0] == 1


cdef bint LITTLE = _little_endian()


def read_spans(bytes data):
    """An ExportTraceServiceRequest's spans as spans_of makes them, or None: protobuf reads it
    (see above)."""
    cdef Cursor c
    cdef Cursor inner
    cdef uint64_t number
    cdef int wire
    cdef list out = []
    if not LITTLE:
        return None
    c.at = <const uint8_t*>PyBytes_AS_STRING(data)
    c.end = c.at + PyBytes_GET_SIZE(data)
    try:
        while c.at < c.end:
            _key(&c, &number, &wire)
            if number == 1:
                _expect(wire, 2)
                _span(&c, &inner)
                _resource_spans(&inner, out)
            else:
                _skip(&c, wire)
        return out
    except (Unread, UnicodeDecodeError):
        return None
