"""collector.otlp.wire_spans reads an OTLP export off the wire into exactly the Spans
collector.otlp.spans.spans_of makes of the message protobuf parses: every field, every
attribute, in the same order. A request it does not read (what protobuf reads its own way, or
bytes protobuf refuses) it leaves to protobuf by returning None, never a different answer.
Not built (AEGIS_PURE_PYTHON), it is not used, and these are skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collector.otlp.spans import DETAILS_EVENT, spans_of
from tests.wire_damage import damaged

wire_spans = pytest.importorskip("collector.otlp.wire_spans")

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
KEYS = st.one_of(TEXT, st.sampled_from(["gen_ai.system", "gen_ai.usage.input_tokens", ""]))


def _values(depth: int) -> st.SearchStrategy[common_pb2.AnyValue]:
    scalars = st.one_of(
        st.builds(lambda v: common_pb2.AnyValue(string_value=v), TEXT),
        st.builds(lambda v: common_pb2.AnyValue(bool_value=v), st.booleans()),
        st.builds(
            lambda v: common_pb2.AnyValue(int_value=v),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
        ),
        st.builds(lambda v: common_pb2.AnyValue(double_value=v), st.floats()),
        st.builds(lambda v: common_pb2.AnyValue(bytes_value=v), st.binary(max_size=6)),
        st.just(common_pb2.AnyValue()),
    )
    if depth >= 6:
        return scalars
    inner = _values(depth + 1)
    return st.one_of(
        scalars,
        st.builds(
            lambda vs: common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=vs)),
            st.lists(inner, max_size=3),
        ),
        st.builds(
            lambda kvs: common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=kvs)),
            st.lists(_key_values(inner), max_size=3),
        ),
    )


def _key_values(values: st.SearchStrategy[common_pb2.AnyValue]) -> Any:
    return st.one_of(
        st.builds(lambda k, v: common_pb2.KeyValue(key=k, value=v), KEYS, values),
        st.builds(lambda k: common_pb2.KeyValue(key=k), KEYS),  # no value
    )


ATTRIBUTES = st.lists(_key_values(st.deferred(lambda: _values(0))), max_size=6)
IDS = st.one_of(
    st.binary(min_size=8, max_size=8), st.binary(min_size=16, max_size=16), st.just(b"")
)


@st.composite
def spans(draw: Any) -> trace_pb2.Span:
    span = trace_pb2.Span(
        trace_id=draw(IDS),
        span_id=draw(IDS),
        parent_span_id=draw(IDS),
        name=draw(TEXT),
        trace_state=draw(TEXT),
        kind=draw(st.integers(0, 7)),
        start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        end_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        attributes=draw(ATTRIBUTES),
        dropped_attributes_count=draw(st.integers(0, 3)),
        flags=draw(st.integers(0, 2**32 - 1)),
    )
    if draw(st.booleans()):
        span.status.code = draw(st.integers(0, 4))
        span.status.message = draw(TEXT)
    for _ in range(draw(st.integers(0, 3))):
        span.events.add(
            time_unix_nano=draw(st.integers(0, 2**64 - 1)),
            name=draw(st.one_of(TEXT, st.just(DETAILS_EVENT))),
            attributes=draw(ATTRIBUTES),
        )
    for _ in range(draw(st.integers(0, 2))):
        span.links.add(
            trace_id=draw(IDS),
            span_id=draw(IDS),
            trace_state=draw(TEXT),
            attributes=draw(ATTRIBUTES),
        )
    return span


@st.composite
def requests(draw: Any) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        resource_spans = request.resource_spans.add(schema_url=draw(TEXT))
        if draw(st.booleans()):
            resource_spans.resource.attributes.extend(draw(ATTRIBUTES))
        for _ in range(draw(st.integers(0, 2))):
            scope_spans = resource_spans.scope_spans.add(schema_url=draw(TEXT))
            if draw(st.booleans()):
                scope_spans.scope.name = draw(TEXT)
                scope_spans.scope.attributes.extend(draw(ATTRIBUTES))
            scope_spans.spans.extend(draw(st.lists(spans(), max_size=3)))
    return request


@settings(max_examples=400, deadline=None)
@given(requests())
def test_an_export_reads_as_protobuf_and_spans_of_read_it(
    request: trace_service_pb2.ExportTraceServiceRequest,
) -> None:
    read = wire_spans.read_spans(request.SerializeToString())
    assert read is not None
    # repr: the same fields and attributes in the same order, the same values (NaN too).
    assert repr(read) == repr(spans_of(request))


@settings(max_examples=400, deadline=None)
@given(requests(), st.data())
def test_damaged_bytes_are_read_as_protobuf_reads_them_or_left_to_it(
    request: trace_service_pb2.ExportTraceServiceRequest, data: st.DataObject
) -> None:
    wire = damaged(request.SerializeToString(), data)
    read = wire_spans.read_spans(wire)
    if read is None:
        return  # left to protobuf, which parses it or refuses it
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(wire)  # no raise
    assert repr(read) == repr(spans_of(parsed))


def test_a_resource_after_its_spans_is_theirs_still() -> None:
    scope = trace_pb2.ScopeSpans()
    scope.spans.add(name="s", span_id=b"\x01" * 8)
    resource = trace_pb2.ResourceSpans().resource
    resource.attributes.add(key="service.name").value.string_value = "agent"
    scope_bytes, resource_bytes = scope.SerializeToString(), resource.SerializeToString()
    # Scope spans (field 2) first, then the resource (field 1): protobuf reads it all the same.
    inner = (
        b"\x12"
        + bytes([len(scope_bytes)])
        + scope_bytes
        + b"\x0a"
        + bytes([len(resource_bytes)])
        + resource_bytes
    )
    wire = b"\x0a" + bytes([len(inner)]) + inner
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(wire)
    read = wire_spans.read_spans(wire)
    assert read is not None and read[0].resource == {"service.name": "agent"}
    assert repr(read) == repr(spans_of(parsed))


@pytest.mark.parametrize(
    "value",
    [
        # Two members of the oneof: protobuf keeps the last.
        common_pb2.AnyValue(string_value="a").SerializeToString()
        + common_pb2.AnyValue(int_value=3).SerializeToString(),
        b"\x0a\x01\xff",  # a string that is not UTF-8: protobuf refuses it
    ],
)
def test_what_protobuf_reads_its_own_way_is_left_to_it(value: bytes) -> None:
    pair = b"\x0a\x01k\x12" + bytes([len(value)]) + value
    span = b"\x4a" + bytes([len(pair)]) + pair  # Span.attributes
    scope = b"\x12" + bytes([len(span)]) + span
    resource_spans = b"\x12" + bytes([len(scope)]) + scope
    wire = b"\x0a" + bytes([len(resource_spans)]) + resource_spans
    assert wire_spans.read_spans(wire) is None


def _nested(levels: int, inner: common_pb2.AnyValue, how: str) -> common_pb2.AnyValue:
    value = inner
    for _ in range(levels):
        if how == "array":
            value = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value]))
        else:
            pair = common_pb2.KeyValue(key="k", value=value)
            value = common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[pair]))
    return value


@pytest.mark.parametrize("levels", range(7))
@pytest.mark.parametrize("how", ["array", "kvlist"])
@pytest.mark.parametrize(
    "inner",
    [
        common_pb2.AnyValue(bytes_value=b"\x01\x02"),
        common_pb2.AnyValue(string_value="s"),
        common_pb2.AnyValue(array_value=common_pb2.ArrayValue()),
        common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList()),
        common_pb2.AnyValue(),
    ],
)
def test_values_nested_past_the_depth_limit_read_as_spans_of_reads_them(
    levels: int, how: str, inner: common_pb2.AnyValue
) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="s")
    span.attributes.add(key="deep").value.CopyFrom(_nested(levels, inner, how))
    read = wire_spans.read_spans(request.SerializeToString())
    assert read is not None
    assert repr(read) == repr(spans_of(request))
