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

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

from collector.api cimport wire

from collector.otlp.spans import DETAILS_EVENT, KINDS, MAX_VALUE_DEPTH, STATUSES, Span

cdef int STATUS_ERROR = 2
cdef bytes _DETAILS = DETAILS_EVENT.encode()
cdef int _MAX_DEPTH = MAX_VALUE_DEPTH
cdef int MAX_NESTING = 64  # values in values: protobuf's own limit is 100


class Unread(ValueError):
    """What this reader leaves to protobuf (as collector.api.wire's ValueErrors)."""


cdef inline object _hex(wire.Cursor* span):
    return wire.raw(span).hex()


cdef object _any_value(wire.Cursor* c, int depth):
    """spans._value(AnyValue, depth). Past MAX_VALUE_DEPTH an array, a list or bytes is None,
    its strings checked still; past MAX_NESTING protobuf reads it (and refuses it)."""
    cdef uint64_t number, value
    cdef int wiretype
    cdef int members = 0
    cdef object found = None
    cdef wire.Cursor inner
    cdef double real
    cdef dict pairs
    if depth > MAX_NESTING:
        raise Unread("nesting")
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            found = wire.text(&inner)
        elif number == 2:
            wire.expect(wiretype, 0)
            wire.varint(c, &value)
            found = value != 0
        elif number == 3:
            wire.expect(wiretype, 0)
            wire.varint(c, &value)
            found = PyLong_FromLongLong(<int64_t>value)
        elif number == 4:
            wire.expect(wiretype, 1)
            value = wire.fixed64(c)
            memcpy(&real, &value, 8)
            found = real
        elif number == 5:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            found = _array(&inner, depth + 1)
            if depth >= _MAX_DEPTH:
                found = None
        elif number == 6:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            pairs = {}
            _attributes_of_list(&inner, pairs, depth + 1)
            found = pairs if depth < _MAX_DEPTH else None
        elif number == 7:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            found = _hex(&inner) if depth < _MAX_DEPTH else None
        elif number == 8:
            raise Unread("string table")
        else:
            wire.skip(c, wiretype)
            continue
        members += 1
        if members > 1:
            raise Unread("two members of the oneof")  # protobuf keeps the last, or merges
    return found


cdef list _array(wire.Cursor* c, int depth):
    """[spans._value(v, depth) for v in an ArrayValue's values]."""
    cdef list out = []
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            out.append(_any_value(&inner, depth))
        else:
            wire.skip(c, wiretype)
    return out


cdef int _key_value(wire.Cursor* c, dict out, int depth) except -1:
    """One KeyValue into `out` (None: read and dropped): spans.attributes' entry of it at
    depth 0, spans._value's kvlist entry deeper (the two agree)."""
    cdef uint64_t number
    cdef int wiretype
    cdef object key = ""
    cdef object value = None
    cdef bint seen = False
    cdef wire.Cursor inner
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            key = wire.text(&inner)
        elif number == 2:
            wire.expect(wiretype, 2)
            if seen:
                raise Unread("value sent twice")  # protobuf merges the two
            seen = True
            wire.span(c, &inner)
            value = _any_value(&inner, depth)
        else:
            wire.skip(c, wiretype)
    if out is not None:
        out[key] = value
    return 0


cdef int _attributes_of_list(wire.Cursor* c, dict out, int depth) except -1:
    """A KeyValueList's values (field 1) into `out`."""
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _key_value(&inner, out, depth)
        else:
            wire.skip(c, wiretype)
    return 0


cdef int _string_field(wire.Cursor* c, int wiretype) except -1:
    # A string spans_of does not use: checked as protobuf checks it, and dropped.
    cdef wire.Cursor inner
    wire.expect(wiretype, 2)
    wire.span(c, &inner)
    wire.text(&inner)
    return 0


# The fields of the messages spans_of drops (a scope, a link), by number: what each holds, so
# that it is checked as protobuf checks it. 0: not in the message, skipped.
cdef enum:
    TEXT = 1  # a string: UTF-8
    PAIRS = 2  # a KeyValue: its key and value read
    VARINT = 3
    FIXED32 = 4
    BYTES = 5

cdef int SCOPE[5]  # InstrumentationScope: name, version, attributes, dropped_attributes_count
SCOPE[:] = [0, TEXT, TEXT, PAIRS, VARINT]
cdef int LINK[7]  # Span.Link: trace_id, span_id, trace_state, attributes, dropped, flags
LINK[:] = [0, BYTES, BYTES, TEXT, PAIRS, VARINT, FIXED32]


cdef int _dropped(wire.Cursor* c, const int* fields, uint64_t count) except -1:
    """A message spans_of does not use: read, checked and dropped."""
    cdef uint64_t number
    cdef int wiretype, kind
    cdef wire.Cursor inner
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        kind = fields[number] if number < count else 0
        if kind == TEXT:
            _string_field(c, wiretype)
        elif kind == PAIRS:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _key_value(&inner, None, 0)
        else:
            if kind:
                wire.expect(wiretype, 0 if kind == VARINT else 5 if kind == FIXED32 else 2)
            wire.skip(c, wiretype)
    return 0


cdef int _event(wire.Cursor* c, dict details) except -1:
    """A Span.Event: its attributes into `details` when it is the GenAI details event."""
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    cdef dict found = {}
    cdef bint is_details = False
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 1)
            wire.skip(c, wiretype)
        elif number == 2:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            name = wire.text(&inner)
            is_details = name == DETAILS_EVENT
        elif number == 3:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _key_value(&inner, found, 0)
        elif number == 4:
            wire.expect(wiretype, 0)
            wire.skip(c, wiretype)
        else:
            wire.skip(c, wiretype)
    if is_details:
        details.update(found)
    return 0


cdef object _span_of(wire.Cursor* c, dict resource):
    """spans_of's Span of one Span message."""
    cdef uint64_t number, value
    cdef int wiretype
    cdef wire.Cursor inner, status_inner
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
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            trace_id = _hex(&inner)
        elif number == 2:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            span_id = _hex(&inner)
        elif number == 3:
            _string_field(c, wiretype)
        elif number == 4:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            parent_span_id = _hex(&inner)
        elif number == 5:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            name = wire.text(&inner)
        elif number == 6:
            wire.expect(wiretype, 0)
            wire.varint(c, &value)
            kind = <int32_t>value
        elif number == 7:
            wire.expect(wiretype, 1)
            start = wire.fixed64(c)
        elif number == 8:
            wire.expect(wiretype, 1)
            end = wire.fixed64(c)
        elif number == 9:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _key_value(&inner, attributes, 0)
        elif number == 11:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            has_events = True
            _event(&inner, details)
        elif number == 13:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _dropped(&inner, LINK, 7)
        elif number == 15:
            wire.expect(wiretype, 2)
            if status_seen:
                raise Unread("status sent twice")  # protobuf merges the two
            status_seen = True
            wire.span(c, &status_inner)
            while status_inner.at < status_inner.end:
                wire.key(&status_inner, &number, &wiretype)
                if number == 2:
                    wire.expect(wiretype, 2)
                    wire.span(&status_inner, &inner)
                    message = wire.text(&inner)
                elif number == 3:
                    wire.expect(wiretype, 0)
                    wire.varint(&status_inner, &value)
                    code = <int32_t>value
                else:
                    wire.skip(&status_inner, wiretype)
        elif number == 10 or number == 12 or number == 14:
            wire.expect(wiretype, 0)
            wire.skip(c, wiretype)
        elif number == 16:
            wire.expect(wiretype, 5)
            wire.skip(c, wiretype)
        else:
            wire.skip(c, wiretype)
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


cdef dict _resource(wire.Cursor* c):
    """A Resource's attributes."""
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    cdef dict out = {}
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _key_value(&inner, out, 0)
        elif number == 2:
            wire.expect(wiretype, 0)
            wire.skip(c, wiretype)
        elif number == 3:
            raise Unread("entity references")
        else:
            wire.skip(c, wiretype)
    return out


cdef int _scope_spans(wire.Cursor* c, dict resource, list out) except -1:
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            _dropped(&inner, SCOPE, 5)
        elif number == 2:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
            out.append(_span_of(&inner, resource))
        elif number == 3:
            _string_field(c, wiretype)
        else:
            wire.skip(c, wiretype)
    return 0


cdef int _resource_spans(wire.Cursor* c, list out) except -1:
    """Its resource first, wherever it is on the wire: each span holds its attributes."""
    cdef uint64_t number
    cdef int wiretype
    cdef wire.Cursor inner
    cdef wire.Cursor first = c[0]
    cdef dict resource = None
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 1:
            wire.expect(wiretype, 2)
            if resource is not None:
                raise Unread("resource sent twice")  # protobuf merges the two
            wire.span(c, &inner)
            resource = _resource(&inner)
        elif number == 2:
            wire.expect(wiretype, 2)
            wire.span(c, &inner)
        elif number == 3:
            _string_field(c, wiretype)
        else:
            wire.skip(c, wiretype)
    if resource is None:
        resource = {}
    c[0] = first
    while c.at < c.end:
        wire.key(c, &number, &wiretype)
        if number == 2:
            wire.span(c, &inner)
            _scope_spans(&inner, resource, out)
        else:
            wire.skip(c, wiretype)
    return 0


cdef bint LITTLE = wire.little_endian()


def read_spans(bytes data):
    """An ExportTraceServiceRequest's spans as spans_of makes them, or None: protobuf reads it
    (see above)."""
    cdef wire.Cursor c
    cdef wire.Cursor inner
    cdef uint64_t number
    cdef int wiretype
    cdef list out = []
    if not LITTLE:
        return None
    c.at = <const uint8_t*>PyBytes_AS_STRING(data)
    c.end = c.at + PyBytes_GET_SIZE(data)
    try:
        while c.at < c.end:
            wire.key(&c, &number, &wiretype)
            if number == 1:
                wire.expect(wiretype, 2)
                wire.span(&c, &inner)
                _resource_spans(&inner, out)
            else:
                wire.skip(&c, wiretype)
        return out
    except ValueError:  # Unread, collector.api.wire's, UnicodeDecodeError
        return None
