"""Issue 21's faster readers keep their results: JSON events as one JSON text (`events_json`,
what the gateway forwards), orjson with json.loads' result, RFC 3339 by fromisoformat.

The readers are compared with the code they stand in for (json.loads, Timestamp.FromJsonString)
on generated inputs; the RPC against a running collector, as any caller sends it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from aegis.v1 import events_pb2, ingest_pb2
from collector.api import fast_json, json_events
from collector.api.proto_values import time_from_proto
from gateway.marshal import BadRequest, from_json
from tests.conftest import ApiClient, Stubs, read, rpc_error

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included, with the same types (an int is not its float)."""
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


# How the text is laid out: a long number is found after any separator and white space.
LAYOUTS = st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}, {"indent": "\t"}])


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, LAYOUTS)
def test_fast_json_reads_what_json_loads_reads(value: Any, layout: dict[str, Any]) -> None:
    text = json.dumps(value, **layout).encode("utf-8", "surrogatepass")
    assert _same(fast_json.loads(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        b'{"big": 18446744073709551616}',  # past 64 bits: orjson would give a float
        b'{"n": -9223372036854775809}',
        b'{"x": NaN, "y": -Infinity}',
        b'{"a": 1, "a": 2}',
        # A run of digits in a string (a hex id) is no number; a number after it still is.
        b'{"id": "ab1234567890123456789012", "n": [1, -18446744073709551616]}',
        b'{"id": "ab1234567890123456789012", "n": 1.12345678901234567890}',
    ],
)
def test_fast_json_agrees_where_orjson_would_not(text: bytes) -> None:
    assert _same(fast_json.loads(text), json.loads(text))


def test_fast_json_refuses_what_json_refuses_and_unpaired_surrogates() -> None:
    for text in (b"{", b'{"a": 1,}', b"\xff\xfe"):
        with pytest.raises(ValueError):
            fast_json.loads(text)
    # json.loads reads these, but BSON cannot store the string: refused as orjson does.
    for text in (b'{"s": "\\ud800"}', b'{"s": "\xed\xa0\x80"}', b'[1e999, "\\udfff"]'):
        with pytest.raises(ValueError, match="unpaired surrogate"):
            fast_json.loads(text)
    assert fast_json.loads(b'["\\ud83d\\ude00"]') == ["\U0001f600"]  # a pair is fine


def _from_json_string(text: str) -> dt.datetime | None:
    ts = timestamp_pb2.Timestamp()
    try:
        ts.FromJsonString(text)
    except ValueError:
        return None
    return time_from_proto(ts)


TIMESTAMPS = st.builds(
    lambda moment, digits, offset_min, zulu: (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{moment.microsecond:06d}{'789'}"[: digits + 1] if digits else "")
        + (
            "Z"
            if zulu
            else f"{'+' if offset_min >= 0 else '-'}"
            f"{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
        )
    ),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    st.booleans(),
)


@settings(max_examples=500, deadline=None)
@given(TIMESTAMPS)
def test_rfc3339_fast_path_reads_what_from_json_string_reads(text: str) -> None:
    assert json_events._timestamp(text) == _from_json_string(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T10:00:00Z",  # no such day
        "2026-12-04 10:00:00Z",  # a space for the T
        "2026-12-04T10:00:00z",
        "2026-12-04T10:00:00",  # no offset
        "2026-12-04T24:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
        "2026-12-04T10:00:00.1234567891Z",  # ten digits
    ],
)
def test_rfc3339_fast_path_agrees_on_odd_forms(text: str) -> None:
    assert json_events._timestamp(text) == _from_json_string(text)


async def test_events_json_is_read_like_events(stubs: Stubs, tenant_client: ApiClient) -> None:
    events = [
        {"event_id": "t-1", "model_id": "m", "model_type": "t", "prediction_count": 3,
         "timestamp": "2024-01-01T12:00:00.123456Z", "metadata": {"k": [1, 2.5, "x"]}},
        "not an event",
        {"event_id": "t-2", "model_id": "m", "model_type": "t", "prediction_count": "4"},
        {"event_id": "t-3", "model_id": "", "model_type": "t"},
    ]  # fmt: skip
    md = tenant_client.metadata
    as_text = ingest_pb2.IngestMLJsonRequest(events_json=json.dumps(events).encode())
    result = await stubs.ingest.IngestMLJson(as_text, metadata=md)
    assert (result.accepted, result.rejected) == (2, 2)
    assert [(e.index, e.field) for e in result.errors] == [(1, ""), (3, "model_id")]
    assert "expected a JSON object" in result.errors[0].reason

    # The same batch as Values: the same answer (all four already stored or refused).
    as_values = ingest_pb2.IngestMLJsonRequest()
    for event in events:
        as_values.events.append(struct_pb2.Value()).CopyFrom(_value(event))
    again = await stubs.ingest.IngestMLJson(as_values, metadata=md)
    assert (again.accepted, again.rejected, again.duplicates) == (0, 2, 2)
    assert [(e.index, e.field) for e in again.errors] == [(1, ""), (3, "model_id")]


def _value(data: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if isinstance(data, dict):
        value.struct_value.update(data)
    else:
        value.string_value = data
    return value


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (ingest_pb2.IngestLLMJsonRequest(events_json=b'{"model_name": "g"}'), "JSON array"),
        (ingest_pb2.IngestLLMJsonRequest(events_json=b"[{"), "not valid JSON"),
        (
            ingest_pb2.IngestLLMJsonRequest(
                events=[struct_pb2.Value(string_value="x")], events_json=b"[]"
            ),
            "set one or the other",
        ),
    ],
)
async def test_a_bad_events_json_is_invalid_argument(
    stubs: Stubs, tenant_client: ApiClient, request_: ingest_pb2.IngestLLMJsonRequest, words: str
) -> None:
    error = await rpc_error(stubs.ingest.IngestLLMJson(request_, metadata=tenant_client.metadata))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in (error.details() or "")


async def test_rest_refuses_events_json_in_a_body(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    for key in ("events_json", "eventsJson"):
        reply = await http.post("/ingest/ml", json={key: "W10="}, headers=tenant_client.headers)
        assert reply.status_code == 400, reply.text
        assert f'unknown field "{key}"' in reply.json()["message"]
    spec = (await http.get("/openapi.json")).json()
    body = spec["paths"]["/ingest/ml"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"events"}
    assert (await read(http, tenant_client, "/dashboard/ml-metrics"))["total_events"] == 0


def test_a_field_under_both_names_is_read_as_parse_dict_reads_it() -> None:
    data = {"model_id": "a", "modelId": "b", "model_type": "t"}
    event = json_events.ml_event_from_data(dict(data))
    assert isinstance(event, dict)
    assert event["model_id"] == json_format.ParseDict(data, events_pb2.MLEvent()).model_id


def test_the_gateway_forwards_utf8_text_and_refuses_what_cannot_be() -> None:
    forwarded = from_json({"events": [{"input": "中文 😀", "x": float("nan")}]}, _llm_json())
    assert forwarded.events_json == '[{"input":"中文 😀","x":NaN}]'.encode()
    assert not forwarded.events
    with pytest.raises(BadRequest, match="unpaired surrogate"):
        from_json({"events": [{"user_id": "\ud800"}]}, _llm_json())
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(BadRequest, match="nested too deeply"):
        from_json({"events": deep}, _llm_json())


def _llm_json() -> ingest_pb2.IngestLLMJsonRequest:
    return ingest_pb2.IngestLLMJsonRequest()


async def test_rest_refuses_an_unpaired_surrogate_with_a_400(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    body = b'{"events": [{"model_name": "g", "user_id": "\\ud800"}]}'
    reply = await http.post(
        "/ingest/llm",
        content=body,
        headers={**tenant_client.headers, "Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    assert "unpaired surrogate" in reply.json()["message"]


async def test_events_json_odd_numbers_and_text_are_4xx_never_internal(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    md = tenant_client.metadata
    huge = b'[{"model_name": "g", "latency_ms": 1' + b"0" * 400 + b'}, {"model_name": "g"}]'
    result = await stubs.ingest.IngestLLMJson(
        ingest_pb2.IngestLLMJsonRequest(events_json=huge), metadata=md
    )
    assert (result.accepted, result.rejected) == (1, 1)
    assert [(e.index, e.field) for e in result.errors] == [(0, "latency_ms")]
    for text in (b'[{"model_name": "\xed\xa0\x80"}]', b'[{"model_name": "\\udc00"}]'):
        error = await rpc_error(
            stubs.ingest.IngestLLMJson(
                ingest_pb2.IngestLLMJsonRequest(events_json=text), metadata=md
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unpaired surrogate" in (error.details() or "")


async def test_metadata_json_with_an_unpaired_surrogate_rejects_that_event_alone(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    request = ingest_pb2.IngestMLRequest(
        events=[
            events_pb2.MLEvent(model_id="m", model_type="t", metadata_json=b'{"a": "\\ud800"}'),
            events_pb2.MLEvent(model_id="m", model_type="t", metadata_json=b'{"a": "ok"}'),
        ]
    )
    result = await stubs.ingest.IngestML(request, metadata=tenant_client.metadata)
    assert (result.accepted, result.rejected) == (1, 1)
    assert [(e.index, e.field) for e in result.errors] == [(0, "metadata")]
