"""collector.api.wire_events reads gRPC's event batches off the wire into exactly the dicts
collector.api.proto_events makes of the messages protobuf parses: the same keys in the same
order, the same values. A request it does not read (what only protobuf reads, or bytes
protobuf refuses) it leaves to protobuf by returning None, never a different answer. Not
built (AEGIS_PURE_PYTHON), it is not used, and these are skipped."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from aegis.v1 import events_pb2, ingest_pb2
from collector.api.proto_events import llm_event_from_proto, ml_event_from_proto
from tests.wire_damage import damaged

wire_events = pytest.importorskip("collector.api.wire_events")

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
JSON_TEXTS = st.sampled_from(
    [b"", b"{}", b'{"a": 1, "b": [true, null, 2.5]}', b"[1]", b"not json", b'{"n": 1e400}']
)


def _kind(field: FieldDescriptor) -> str:
    repeated = field.is_repeated
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Timestamp" and not repeated:
            return "TIMESTAMP"
        return "ELSEWHERE"
    kind = {
        FieldDescriptor.TYPE_STRING: "STRING",
        FieldDescriptor.TYPE_INT64: "INT64",
        FieldDescriptor.TYPE_DOUBLE: "DOUBLE",
        FieldDescriptor.TYPE_BYTES: "JSON",
    }[field.type]
    return {"STRING": "STRINGS", "INT64": "INT64S"}[kind] if repeated else kind


@pytest.mark.parametrize(
    ("message", "table"),
    [
        (events_pb2.MLEvent, wire_events.ML_FIELDS),
        (events_pb2.LLMEvent, wire_events.LLM_FIELDS),
    ],
)
def test_the_field_tables_are_the_messages_own(message: Any, table: dict[int, int]) -> None:
    expected = {f.number: wire_events.KINDS[_kind(f)] for f in message.DESCRIPTOR.fields}
    assert table == expected


def _timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    return st.builds(
        timestamp_pb2.Timestamp,
        # datetime's years 1 .. 9999 and a little past them (civil's calendar), and any int64
        seconds=st.one_of(
            st.integers(0, 2**34), st.integers(-62_135_596_900, 253_402_300_900), INT64
        ),
        nanos=st.integers(-(2**31), 2**31 - 1),
    )


def _common(draw: Any, message: Any) -> None:
    for name in ("user_id", "session_id", "trace_id", "span_id", "parent_span_id"):
        if draw(st.booleans()):
            setattr(message, name, draw(TEXT))
    for name in ("environment", "release", "error", "event_id"):
        if draw(st.booleans()):
            setattr(message, name, draw(TEXT))
    message.tags.extend(draw(st.lists(TEXT, max_size=3)))
    if draw(st.booleans()):
        message.timestamp.CopyFrom(draw(_timestamps()))
    if draw(st.booleans()):
        message.latency_ms = draw(st.floats())
    metadata = draw(st.sampled_from(["none", "json", "struct"]))
    if metadata == "json":
        message.metadata_json = draw(JSON_TEXTS)
    elif metadata == "struct":
        message.metadata.update({"a": 1, "b": "x"})


@st.composite
def ml_events(draw: Any) -> events_pb2.MLEvent:
    event = events_pb2.MLEvent()
    _common(draw, event)
    for name in ("model_type", "model_id"):
        if draw(st.booleans()):
            setattr(event, name, draw(TEXT))
    event.input_shape.extend(draw(st.lists(INT64, max_size=4)))
    if draw(st.booleans()):
        event.prediction_count = draw(INT64)
    if draw(st.integers(0, 9)) == 0:
        event.predictions.numbers.append(1.0)
    if draw(st.integers(0, 9)) == 0:
        event.features["f"].strings.append("a")
    return event


@st.composite
def llm_events(draw: Any) -> events_pb2.LLMEvent:
    event = events_pb2.LLMEvent()
    _common(draw, event)
    for name in ("model_name", "provider", "system"):
        if draw(st.booleans()):
            setattr(event, name, draw(TEXT))
    for name in (
        "prompt_length",
        "response_length",
        "tokens_used",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ):
        if draw(st.booleans()):
            setattr(event, name, draw(INT64))
    if draw(st.booleans()):
        event.cost = draw(st.floats())
    for side in ("input", "output"):
        form = draw(st.sampled_from(["none", "json", "value"]))
        if form == "json":
            setattr(event, f"{side}_json", draw(JSON_TEXTS))
        elif form == "value":
            getattr(event, side).CopyFrom(struct_pb2.Value(string_value="hello"))
    return event


def _as_read(request: ingest_pb2.StreamEventsRequest) -> tuple[int, str, list[Any]]:
    """What proto_events makes of the parsed request."""
    which = request.WhichOneof("batch")
    if which == "ml":
        return request.sequence, "ml", [ml_event_from_proto(e) for e in request.ml.events]
    return request.sequence, "llm", [llm_event_from_proto(e) for e in request.llm.events]


def _only_protobuf_reads(request: ingest_pb2.StreamEventsRequest) -> bool:
    events = request.ml.events if request.WhichOneof("batch") == "ml" else request.llm.events
    return any(
        e.HasField("metadata")
        or (isinstance(e, events_pb2.MLEvent) and (e.features or e.HasField("predictions")))
        or (isinstance(e, events_pb2.LLMEvent) and (e.HasField("input") or e.HasField("output")))
        for e in events
    )


REQUESTS = st.one_of(
    st.builds(
        lambda seq, events: ingest_pb2.StreamEventsRequest(
            sequence=seq, ml=ingest_pb2.IngestMLRequest(events=events)
        ),
        st.integers(0, 2**64 - 1),
        st.lists(ml_events(), max_size=4),
    ),
    st.builds(
        lambda seq, events: ingest_pb2.StreamEventsRequest(
            sequence=seq, llm=ingest_pb2.IngestLLMRequest(events=events)
        ),
        st.integers(0, 2**64 - 1),
        st.lists(llm_events(), max_size=4),
    ),
)


@settings(max_examples=300, deadline=None)
@given(REQUESTS)
def test_a_request_reads_as_protobuf_and_proto_events_read_it(
    request: ingest_pb2.StreamEventsRequest,
) -> None:
    read = wire_events.read_stream_request(request.SerializeToString())
    if _only_protobuf_reads(request):
        assert read is None
        return
    assert read is not None
    # repr: the same keys in the same order, the same values (NaN included) and types.
    assert repr(read) == repr(_as_read(request))
    which = request.WhichOneof("batch")
    inner = getattr(request, which).SerializeToString()
    assert repr(wire_events.read_events(inner, which == "llm")) == repr(read[2])


@settings(max_examples=300, deadline=None)
@given(REQUESTS, st.data())
def test_damaged_bytes_are_read_as_protobuf_reads_them_or_left_to_it(
    request: ingest_pb2.StreamEventsRequest, data: st.DataObject
) -> None:
    wire = damaged(request.SerializeToString(), data)
    read = wire_events.read_stream_request(wire)
    if read is None:
        return  # left to protobuf, which parses it or refuses it
    parsed = ingest_pb2.StreamEventsRequest.FromString(wire)  # must not raise
    assert repr(read) == repr(_as_read(parsed))


@pytest.mark.parametrize(
    "wire",
    [
        b"\x12\x04\x0a\x02\x0a\xff",  # an event_id that is not UTF-8: protobuf refuses it
        b"\x12\x02\x0a\x05",  # an event longer than its batch
        b"\x08\x01",  # neither batch: the servicer says so
        b"\x12\x00\x1a\x00",  # both batches: protobuf keeps the last
        b"\x12\x03\x0a\x01\x0b",  # a group
        b"\x12\x04\x0a\x02\x08\x01",  # event_id sent as a varint
    ],
)
def test_what_protobuf_refuses_or_reads_its_own_way_is_left_to_it(wire: bytes) -> None:
    assert wire_events.read_stream_request(wire) is None


def test_an_unknown_field_is_skipped_as_protobuf_skips_it() -> None:
    event = events_pb2.MLEvent(event_id="e1", model_id="m", model_type="t").SerializeToString()
    event += b"\xf8\x07\x05" + b"\xfa\x07\x02hi"  # field 127, as a varint and as bytes
    batch = b"\x0a" + bytes([len(event)]) + event
    wire = b"\x08\x03\x12" + bytes([len(batch)]) + batch + b"\xa0\x06\x01"  # and field 100
    parsed = ingest_pb2.StreamEventsRequest.FromString(wire)
    assert parsed.ml.events[0].event_id == "e1"
    assert repr(wire_events.read_stream_request(wire)) == repr(_as_read(parsed))


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (-1, 999_000_000),  # the last millisecond before the epoch: a day's floor
        (-86_400, 0),
        (-86_401, 999_999_999),
        (-62_135_596_800, 0),  # 0001-01-01, datetime's first day
        (-62_135_596_801, 999_000_000),  # a millisecond before it: past datetime's years
        (253_402_300_799, 999_999_999),  # 9999-12-31T23:59:59.999
        (253_402_300_800, 0),  # past it
        (951_782_400, 0),  # 2000-02-29
        (4_107_542_399, 999_000_000),  # 2100-02-28T23:59:59.999 (not a leap year)
        (1_764_547_200, -1),  # nanos below zero
    ],
)
def test_a_timestamp_at_a_calendar_edge_reads_as_proto_events_reads_it(
    seconds: int, nanos: int
) -> None:
    moment = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    event = events_pb2.MLEvent(event_id="e", timestamp=moment)
    request = ingest_pb2.StreamEventsRequest(ml=ingest_pb2.IngestMLRequest(events=[event]))
    read = wire_events.read_stream_request(request.SerializeToString())
    assert read is not None
    assert repr(read) == repr(_as_read(request))


def test_a_timestamp_past_year_9999_reads_as_proto_events_reads_it() -> None:
    event = events_pb2.MLEvent(event_id="e", timestamp=timestamp_pb2.Timestamp(seconds=2**40))
    request = ingest_pb2.StreamEventsRequest(ml=ingest_pb2.IngestMLRequest(events=[event]))
    read = wire_events.read_stream_request(request.SerializeToString())
    assert read is not None
    assert read[2][0]["timestamp"] == dt.datetime.max.replace(tzinfo=dt.UTC)
    with pytest.raises(DecodeError):
        ingest_pb2.StreamEventsRequest.FromString(b"\x12\x04\x0a\x02\x0a\xff")
