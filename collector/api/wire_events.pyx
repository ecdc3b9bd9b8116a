# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""gRPC's event batches read from their wire bytes into ingest's dicts, without protobuf
messages in between: StreamEventsRequest (and IngestMLRequest, IngestLLMRequest) as gRPC
hands them over, to the dicts collector.api.proto_events makes of the parsed messages, key
for key and in the same order.

Hot path: protobuf parses a batch cheaply, but reading each field of each event back out of
its message costs a Python attribute look-up and a new object (~30,000 instructions a
bench event, its largest step; docs/benchmarks.md). Here each field is read once, off the
wire, into the dict.

It reads what the SDK and the bench send: every scalar, string, timestamp and repeated
field, `metadata_json`, `input_json` and `output_json`. A request holding anything else (a
Struct metadata, a Value input or output, features, predictions, a group, a field sent with
another wire type than its own, a submessage split in two, a string that is not UTF-8,
bytes protobuf would refuse) is not read here: `read_*` return None and protobuf parses the
request as before (collector.api.ingest_service), with its errors. So the result is always
protobuf's, read faster when it can be.

Written in Cython proper (typed, C pointers) like collector.store.bson_documents: it only
pays compiled, and not built (AEGIS_PURE_PYTHON, no compiler) it is not used.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.datetime cimport import_datetime
from cpython.long cimport PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

from collector.api cimport civil, wire

import datetime

import orjson

from collector.api.proto_events import json_or_text
from collector.api.proto_values import time_from_parts
from collector.ingest.text_scans import may_hold_long_number

import_datetime()
_UTC = datetime.timezone.utc  # what collector.ingest.instants' datetimes hold: dt.UTC
cdef int64_t _SECONDS_IN_REACH = 1 << 40  # their milliseconds fit 64 bits with room

cdef enum:
    # The kinds of field, as this reader takes them.
    UNKNOWN = 0  # not in the message: skipped, as protobuf keeps it aside
    STRING = 1  # string: str, "" when absent
    INT64 = 2  # optional int64: int, None when absent
    DOUBLE = 3  # optional double: float, None when absent
    TIMESTAMP = 4  # google.protobuf.Timestamp: datetime (time_from_parts), None when absent
    JSON = 5  # bytes of JSON: the value (json_or_text), absent when absent
    INT64S = 6  # repeated int64, packed or not: list
    STRINGS = 7  # repeated string: list
    ELSEWHERE = 8  # a field only protobuf reads here (Struct, Value, map, message)
    FIELDS = 31  # field numbers 1..30
    MAX_FIELD = 536870911  # 2^29 - 1: past it, protobuf refuses the message

cdef int ML_KINDS[FIELDS]
cdef int LLM_KINDS[FIELDS]


cdef void _kinds(int* kinds, dict table):
    cdef int number
    for number in range(FIELDS):
        kinds[number] = UNKNOWN
    for number, kind in table.items():
        kinds[number] = kind


# aegis/v1/events.proto; tests/test_wire_events.py checks each against the descriptors.
ML_FIELDS = {
    1: STRING, 2: STRING, 3: STRING, 4: INT64S, 5: INT64, 6: TIMESTAMP, 7: ELSEWHERE, 8: DOUBLE,
    9: JSON, 10: STRING, 11: STRING, 12: STRING, 13: STRING, 14: STRING, 15: STRING,
    16: STRING, 17: STRING, 18: STRINGS, 19: ELSEWHERE, 20: ELSEWHERE,
}
LLM_FIELDS = {
    1: STRING, 2: STRING, 3: INT64, 4: INT64, 5: INT64, 6: DOUBLE, 7: TIMESTAMP, 8: ELSEWHERE,
    9: DOUBLE, 10: JSON, 11: STRING, 12: INT64, 13: INT64, 14: STRING, 15: STRING,
    16: STRING, 17: STRING, 18: STRING, 19: STRING, 20: STRING, 21: STRING, 22: STRINGS,
    23: INT64, 24: INT64, 25: INT64, 26: ELSEWHERE, 27: JSON, 28: ELSEWHERE, 29: JSON,
    30: STRING,
}
KINDS = {"STRING": STRING, "INT64": INT64, "DOUBLE": DOUBLE, "TIMESTAMP": TIMESTAMP,
         "JSON": JSON, "INT64S": INT64S, "STRINGS": STRINGS, "ELSEWHERE": ELSEWHERE}
_kinds(ML_KINDS, ML_FIELDS)
_kinds(LLM_KINDS, LLM_FIELDS)


class Unread(ValueError):
    """What this reader leaves to protobuf (as collector.api.wire's ValueErrors)."""


cdef object _timestamp(wire.Cursor* span):
    cdef uint64_t key, value
    cdef int64_t seconds = 0
    cdef int32_t nanos = 0
    while span.at < span.end:
        wire.varint(span, &key)
        if key == 8:  # 1: seconds, varint
            wire.varint(span, &value)
            seconds = <int64_t>value
        elif key == 16:  # 2: nanos, varint
            wire.varint(span, &value)
            nanos = <int32_t>value
        elif key >> 3 <= 2 or key >> 3 > MAX_FIELD:
            raise Unread("timestamp")
        else:
            wire.skip(span, key & 7)
    cdef int64_t millis
    if -_SECONDS_IN_REACH < seconds < _SECONDS_IN_REACH:
        # time_from_parts' sum in C: nanos // 1_000_000 floored as Python floors it.
        millis = nanos // 1000000
        if nanos % 1000000 != 0 and nanos < 0:
            millis -= 1
        moment = civil.utc_from_epoch_ms(seconds * 1000 + millis, _UTC)
        if moment is not None:
            return moment
        # out of datetime's years: time_from_parts says what it becomes
    return time_from_parts(PyLong_FromLongLong(seconds), nanos)


cdef list _event_fields(wire.Cursor* c, int* kinds):
    """An event's fields by number: None where absent (lists where repeated and sent)."""
    cdef list slots = [None] * FIELDS
    cdef uint64_t key, value
    cdef uint64_t number
    cdef int wiretype, kind
    cdef double real
    cdef wire.Cursor span
    cdef object found
    while c.at < c.end:
        wire.varint(c, &key)
        number = key >> 3
        wiretype = key & 7
        if number == 0 or number > MAX_FIELD:
            raise Unread("field number")
        kind = kinds[number] if number < FIELDS else UNKNOWN
        if kind == UNKNOWN:
            wire.skip(c, wiretype)
        elif kind == STRING and wiretype == 2:
            wire.span(c, &span)
            slots[number] = wire.text(&span)
        elif kind == INT64 and wiretype == 0:
            wire.varint(c, &value)
            slots[number] = PyLong_FromLongLong(<int64_t>value)
        elif kind == DOUBLE and wiretype == 1:
            if c.end - c.at < 8:
                raise Unread("double")
            memcpy(&real, c.at, 8)  # little-endian hosts only (see _read)
            c.at += 8
            slots[number] = real
        elif kind == TIMESTAMP and wiretype == 2:
            if slots[number] is not None:
                raise Unread("timestamp sent twice")  # protobuf merges the two
            wire.span(c, &span)
            slots[number] = _timestamp(&span)
        elif kind == JSON and wiretype == 2:
            wire.span(c, &span)
            slots[number] = wire.raw(&span)
        elif kind == INT64S and wiretype == 0:
            wire.varint(c, &value)
            found = slots[number]
            if found is None:
                slots[number] = found = []
            found.append(PyLong_FromLongLong(<int64_t>value))
        elif kind == INT64S and wiretype == 2:
            wire.span(c, &span)
            found = slots[number]
            if found is None:
                slots[number] = found = []
            while span.at < span.end:
                wire.varint(&span, &value)
                found.append(PyLong_FromLongLong(<int64_t>value))
        elif kind == STRINGS and wiretype == 2:
            wire.span(c, &span)
            found = slots[number]
            if found is None:
                slots[number] = found = []
            found.append(wire.text(&span))
        else:
            raise Unread("elsewhere")  # ELSEWHERE, or a known field with another wire type
    return slots


cdef object _json(bytes text):
    """json_or_text(text), its common case first: fast_json.loads' orjson, for a text with no
    number orjson would read otherwise; anything else (a long number, a text orjson refuses)
    goes the whole way, through json_or_text."""
    if not may_hold_long_number(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json_or_text(text)


cdef inline object _string(object value):
    return "" if value is None else value


cdef inline int _attribution(dict event, list slots, int first) except -1:
    # user_id, session_id, trace_id, span_id, parent_span_id, environment, release (strings
    # from `first` on), then tags: only those that are set, as proto_events._attribution.
    cdef object value
    value = slots[first]
    if value:
        event["user_id"] = value
    value = slots[first + 1]
    if value:
        event["session_id"] = value
    value = slots[first + 2]
    if value:
        event["trace_id"] = value
    value = slots[first + 3]
    if value:
        event["span_id"] = value
    value = slots[first + 4]
    if value:
        event["parent_span_id"] = value
    value = slots[first + 5]
    if value:
        event["environment"] = value
    value = slots[first + 6]
    if value:
        event["release"] = value
    value = slots[first + 7]
    if value:
        event["tags"] = value
    return 0


cdef dict _ml_event(wire.Cursor* c):
    """proto_events.ml_event_from_proto's dict."""
    cdef list slots = _event_fields(c, ML_KINDS)
    cdef object shape = slots[4]
    cdef object metadata = slots[9]
    cdef dict event = {
        "event_id": _string(slots[1]),
        "model_type": _string(slots[2]),
        "model_id": _string(slots[3]),
        "input_shape": [] if shape is None else shape,
        "prediction_count": slots[5],
        "timestamp": slots[6],
        "metadata": {} if metadata is None else _json(metadata),
        "latency_ms": slots[8],
        "error": _string(slots[10]),
    }
    _attribution(event, slots, 11)
    return event


cdef dict _llm_event(wire.Cursor* c):
    """proto_events.llm_event_from_proto's dict."""
    cdef list slots = _event_fields(c, LLM_KINDS)
    cdef object metadata = slots[10]
    cdef object value
    cdef dict event = {
        "event_id": _string(slots[1]),
        "model_name": _string(slots[2]),
        "prompt_length": slots[3],
        "response_length": slots[4],
        "tokens_used": slots[5],
        "cost": slots[6],
        "timestamp": slots[7],
        "metadata": {} if metadata is None else _json(metadata),
        "latency_ms": slots[9],
        "error": _string(slots[11]),
        "input_tokens": slots[12],
        "output_tokens": slots[13],
        "provider": _string(slots[14]),
    }
    value = slots[23]
    if value is not None:
        event["cache_read_tokens"] = value
    value = slots[24]
    if value is not None:
        event["cache_write_tokens"] = value
    value = slots[25]
    if value is not None:
        event["reasoning_tokens"] = value
    value = slots[27]
    if value is not None:
        event["input"] = _json(value)
    value = slots[29]
    if value is not None:
        event["output"] = _json(value)
    value = slots[30]
    if value:
        event["system"] = value
    _attribution(event, slots, 15)
    return event


cdef list _events(wire.Cursor* c, bint llm):
    """IngestMLRequest's or IngestLLMRequest's events (field 1)."""
    cdef list events = []
    cdef uint64_t key
    cdef wire.Cursor span
    while c.at < c.end:
        wire.varint(c, &key)
        if key == 10:  # 1: events, length-delimited
            wire.span(c, &span)
            events.append(_llm_event(&span) if llm else _ml_event(&span))
        elif key >> 3 == 1 or key >> 3 == 0 or key >> 3 > MAX_FIELD:
            raise Unread("events")
        else:
            wire.skip(c, key & 7)
    return events


cdef bint LITTLE = wire.little_endian()


def read_events(bytes data, bint llm):
    """An IngestMLRequest's (`llm`: IngestLLMRequest's) events as proto_events converts them,
    or None: protobuf reads it (see above)."""
    cdef wire.Cursor c
    if not LITTLE:
        return None
    c.at = <const uint8_t*>PyBytes_AS_STRING(data)
    c.end = c.at + PyBytes_GET_SIZE(data)
    try:
        return _events(&c, llm)
    except ValueError:  # Unread, collector.api.wire's, UnicodeDecodeError
        return None


def read_stream_request(bytes data):
    """A StreamEventsRequest as (sequence, "ml" or "llm", its events as proto_events converts
    them), or None: protobuf reads it (see above), as it does one with neither batch."""
    cdef wire.Cursor c, batch
    cdef uint64_t key, value
    cdef uint64_t sequence = 0
    cdef int which = 0
    if not LITTLE:
        return None
    c.at = <const uint8_t*>PyBytes_AS_STRING(data)
    c.end = c.at + PyBytes_GET_SIZE(data)
    try:
        while c.at < c.end:
            wire.varint(&c, &key)
            if key == 8:  # 1: sequence, varint
                wire.varint(&c, &value)
                sequence = value
            elif key == 18 or key == 26:  # 2: ml, 3: llm, length-delimited
                if which:
                    return None  # two batches: protobuf merges or keeps the last
                which = <int>(key >> 3)
                wire.span(&c, &batch)
            elif key >> 3 <= 3 or key >> 3 > MAX_FIELD:
                return None
            else:
                wire.skip(&c, key & 7)
        if not which:
            return None
        return (
            PyLong_FromUnsignedLongLong(sequence),
            "llm" if which == 3 else "ml",
            _events(&batch, which == 3),
        )
    except ValueError:  # Unread, collector.api.wire's, UnicodeDecodeError
        return None
