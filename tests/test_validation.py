"""Hostile and malformed input: per-event rejection, 400s that name the field, size limits."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from aegis.v1 import events_pb2, ingest_pb2
from tests.conftest import (
    ApiClient,
    Stubs,
    assert_error,
    assert_oauth_error,
    ingest,
    llm_event,
    ml_event,
    read,
    rpc_error,
)

LIMIT = 4 * 1024 * 1024
JSON = {"Content-Type": "application/json"}


def nested(levels: int) -> dict[str, Any]:
    """A metadata object `levels` objects deep."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"child": value}
    return value


def _in_a_year() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=366)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(result: dict[str, Any]) -> dict[int, str]:
    for error in result["errors"]:
        assert error["reason"], error
    return {e["index"]: e["field"] for e in result["errors"]}


def oversized_body() -> bytes:
    event = ml_event(metadata={"blob": "x" * LIMIT})
    return json.dumps({"events": [event]}).encode()


# Bodies that are not the documented shape at all, and a word the 400's message must contain.
MALFORMED: dict[str, tuple[str, bytes, str]] = {
    "events-object": ("ml", b'{"events": {"model_id": "m"}}', "events"),
    "unknown-top-field": ("llm", b'{"evnts": []}', "evnts"),
    "not-json": ("ml", b"this is not json", "JSON"),
    "truncated-json": ("llm", b'{"events": [{"model_name": ', "JSON"),
    "json-array": ("ml", json.dumps([ml_event()]).encode(), "object"),
    "json-string": ("llm", b'"events"', "object"),
    "no-body": ("ml", b"", "body: missing"),
}

# One event of the wrong shape between two valid ones: (kind, the bad event as JSON text, the
# field its error names). Only that event is rejected; its siblings are stored.
WRONG_SHAPE: dict[str, tuple[str, str, str]] = {
    "string-count": (
        "ml",
        '{"model_id": "m", "model_type": "t", "prediction_count": "abc"}',
        "prediction_count",
    ),
    "fractional-count": (
        "ml",
        '{"model_id": "m", "model_type": "t", "prediction_count": 1.5}',
        "prediction_count",
    ),
    "number-id": ("ml", '{"model_id": 123, "model_type": "t"}', "model_id"),
    "string-shape": (
        "ml",
        '{"model_id": "m", "model_type": "t", "input_shape": "10x3"}',
        "input_shape",
    ),
    "bad-timestamp": (
        "ml",
        '{"model_id": "m", "model_type": "t", "timestamp": "yesterday"}',
        "timestamp",
    ),
    "string-cost": ("llm", '{"model_name": "g", "cost": "abc"}', "cost"),
    "nan-cost": ("llm", '{"model_name": "g", "cost": NaN}', "cost"),
    "infinite-latency": ("llm", '{"model_name": "g", "latency_ms": Infinity}', "latency_ms"),
    "huge-tokens": ("llm", '{"model_name": "g", "tokens_used": 1' + "0" * 30 + "}", "tokens_used"),
    "enormous-tokens": (
        "llm",
        '{"model_name": "g", "tokens_used": 1' + "0" * 400 + "}",
        "tokens_used",
    ),
    "list-metadata": ("llm", '{"model_name": "g", "metadata": [1, 2]}', "metadata"),
    "unknown-event-field": (
        "ml",
        '{"model_id": "m", "model_type": "t", "colour": "red"}',
        "colour",
    ),
    "not-an-object": ("ml", '"just a string"', ""),
    "null-event": ("llm", "null", ""),
}


async def in_chunks(body: bytes) -> AsyncIterator[bytes]:
    """The body as a stream: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


def deep_metadata_body(depth: int) -> bytes:
    """A valid event, then one whose metadata is `depth` objects deep (raw: json.dumps would
    refuse the deepest)."""
    deep = b'{"child": ' * depth + b"1" + b"}" * depth
    return (
        b'{"events": [{"model_id": "ok", "model_type": "t"}, '
        b'{"model_id": "deep", "model_type": "t", "metadata": ' + deep + b"}]}"
    )


async def test_mixed_ml_batch_keeps_valid_events_and_reports_the_rest(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        ml_event("good", prediction_count=2),
        {"model_type": "RandomForestClassifier", "prediction_count": 1},
        ml_event("bad", prediction_count=-1),
        ml_event("bad", timestamp="1990-06-01T00:00:00Z"),
        ml_event("bad", timestamp=_in_a_year()),
        ml_event("bad", metadata={"$where": "sleep(10000)"}),
        ml_event("bad", metadata={"user.name": "x"}),
        ml_event("bad", metadata=nested(9)),
        ml_event("bad", metadata={"filters": [{"$ne": None}]}),
        ml_event("good", prediction_count=3, metadata=nested(8)),
    ]
    result = await ingest(http, tenant_client, "ml", events)
    assert (result["accepted"], result["rejected"], result["duplicates"]) == (2, 8, 0)
    assert _errors(result) == {
        1: "model_id",
        2: "prediction_count",
        3: "timestamp",
        4: "timestamp",
        5: "metadata",
        6: "metadata",
        7: "metadata",
        8: "metadata",
    }
    metrics = await read(http, tenant_client, "/dashboard/ml-metrics")
    assert (metrics["total_events"], metrics["total_predictions"]) == (2, 5)
    assert [m["model_id"] for m in metrics["models"]] == ["good"]


async def test_mixed_llm_batch_keeps_valid_events_and_reports_the_rest(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        llm_event("good", cost=0.5, tokens_used=10),
        llm_event("bad", cost=-0.01),
        llm_event("bad", cost="NaN"),  # proto3 JSON's spelling of NaN
        llm_event("bad", cost="Infinity"),
        llm_event("bad", tokens_used=-5),
        {"cost": 1.0},
        llm_event("good", cost=0.25, tokens_used=20),
    ]
    result = await ingest(http, tenant_client, "llm", events)
    assert (result["accepted"], result["rejected"], result["duplicates"]) == (2, 5, 0)
    assert _errors(result) == {1: "cost", 2: "cost", 3: "cost", 4: "tokens_used", 5: "model_name"}
    metrics = await read(http, tenant_client, "/dashboard/llm-metrics")
    assert (metrics["total_requests"], metrics["total_tokens"]) == (2, 30)
    assert metrics["total_cost"] == pytest.approx(0.75)


async def test_tokens_used_defaults_to_input_plus_output_tokens(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        llm_event("split", input_tokens=100, output_tokens=50),  # no total: 150
        llm_event("split", tokens_used=7, input_tokens=3, output_tokens=3),  # a total is kept
        llm_event("split", input_tokens=5),  # 5
        llm_event("none"),  # 0
    ]
    result = await ingest(http, tenant_client, "llm", events)
    assert result["accepted"] == 4, result
    metrics = await read(http, tenant_client, "/dashboard/llm-metrics")
    tokens = {m["model_name"]: m["tokens"] for m in metrics["models"]}
    assert tokens == {"split": 150 + 7 + 5, "none": 0}


async def test_mixed_batch_over_grpc(stubs: Stubs, tenant_client: ApiClient) -> None:
    request = ingest_pb2.IngestLLMRequest(
        events=[
            events_pb2.LLMEvent(model_name="g", cost=math.nan),
            events_pb2.LLMEvent(model_name="g", cost=0.5),
            events_pb2.LLMEvent(model_name="g", cost=-math.inf),
        ]
    )
    result = await stubs.ingest.IngestLLM(request, metadata=tenant_client.metadata)
    assert (result.accepted, result.rejected) == (1, 2)
    assert [(e.index, e.field) for e in result.errors] == [(0, "cost"), (2, "cost")]


async def test_out_of_range_values_over_grpc_reject_their_event_only(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    def event(**fields: Any) -> events_pb2.MLEvent:
        return events_pb2.MLEvent(model_id="m", model_type="t", **fields)

    far = events_pb2.MLEvent(model_id="m", model_type="t")
    far.timestamp.seconds = 2**62  # no calendar holds it
    nan_metadata = event()
    nan_metadata.metadata.update({"score": math.nan})
    request = ingest_pb2.IngestMLRequest(
        events=[
            event(),
            far,
            event(prediction_count=2**62),
            event(latency_ms=math.inf),
            nan_metadata,
            event(input_shape=[3, -1]),
            event(),
        ]
    )
    result = await stubs.ingest.IngestML(request, metadata=tenant_client.metadata)
    assert (result.accepted, result.rejected) == (2, 5)
    assert [(e.index, e.field) for e in result.errors] == [
        (1, "timestamp"),
        (2, "prediction_count"),
        (3, "latency_ms"),
        (4, "metadata"),
        (5, "input_shape"),
    ]


# How deep a metadata object can come over REST: the gateway forwards the events as JSON text
# (events_json), so any depth its JSON parser reads reaches the collector, whose validation
# rejects that event alone (deeper than MAX_METADATA_DEPTH, 8). (Until issue 21 the events
# travelled as protobuf Values, whose recursion limit refused the whole body from ~34 levels.)
# Too deep for json.loads, the whole body is a 400 from the gateway.
REPRESENTABLE_DEPTHS = [9, 20, 30, 40, 50, 100, 500]


@pytest.mark.parametrize("depth", REPRESENTABLE_DEPTHS)
async def test_deep_metadata_rejects_just_that_event(
    http: httpx.AsyncClient, tenant_client: ApiClient, depth: int
) -> None:
    reply = await http.post(
        "/ingest/ml", content=deep_metadata_body(depth), headers={**tenant_client.headers, **JSON}
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert _errors(result) == {1: "metadata"}
    assert "deeper than 8" in result["errors"][0]["reason"]


@pytest.mark.parametrize("depth", [5000])
async def test_unrepresentably_deep_body_is_400_not_a_server_error(
    http: httpx.AsyncClient, tenant_client: ApiClient, depth: int
) -> None:
    reply = await http.post(
        "/ingest/ml", content=deep_metadata_body(depth), headers={**tenant_client.headers, **JSON}
    )
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert "nested too deeply" in message
    # Refused whole: not even the valid first event was stored.
    assert (await read(http, tenant_client, "/dashboard/ml-metrics"))["total_events"] == 0


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_body_is_400_naming_the_problem(
    http: httpx.AsyncClient, tenant_client: ApiClient, case: str
) -> None:
    kind, body, word = MALFORMED[case]
    reply = await http.post(
        f"/ingest/{kind}", content=body, headers={**tenant_client.headers, **JSON}
    )
    assert word in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)


async def test_malformed_token_request_is_400(http: httpx.AsyncClient) -> None:
    reply = await http.post("/auth/token", json={"clientId": 42, "clientSecret": "x"})
    assert "clientId" in assert_oauth_error(reply, 400, "invalid_request")


@pytest.mark.parametrize("case", sorted(WRONG_SHAPE))
async def test_an_event_of_the_wrong_shape_rejects_that_event_only(
    http: httpx.AsyncClient, tenant_client: ApiClient, case: str
) -> None:
    kind, bad, field = WRONG_SHAPE[case]
    good = json.dumps(ml_event() if kind == "ml" else llm_event())
    body = f'{{"events": [{good}, {bad}, {good.replace("-a", "-b")}]}}'.encode()
    reply = await http.post(
        f"/ingest/{kind}", content=body, headers={**tenant_client.headers, **JSON}
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["accepted"], result["rejected"]) == (2, 1), result
    assert _errors(result) == {1: field}
    path = "/dashboard/ml-metrics" if kind == "ml" else "/dashboard/llm-metrics"
    stored = await read(http, tenant_client, path)
    assert stored["total_events" if kind == "ml" else "total_requests"] == 2


async def test_metadata_keys_and_total_size_are_bounded(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [
        ml_event("ok", metadata={"k" * 256: "x" * 16_000}),
        ml_event("long-key", metadata={"k" * 257: 1}),
        ml_event("big", metadata={f"k{i}": "x" * 16_000 for i in range(5)}),
        ml_event("ok-too"),
    ]
    result = await ingest(http, tenant_client, "ml", events)
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert _errors(result) == {1: "metadata", 2: "metadata"}
    reasons = [e["reason"] for e in result["errors"]]
    assert "longer than 256" in reasons[0] and "65536 characters" in reasons[1]


async def test_a_compressed_body_is_refused_never_inflated(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    # 40 KiB on the wire, 64 MiB once inflated.
    body = gzip.compress(b'{"events": [' + b" " * (64 * 1024 * 1024) + b"]}")
    assert len(body) < 100_000
    headers = {**tenant_client.headers, **JSON, "Content-Encoding": "gzip"}
    reply = await http.post("/ingest/ml", content=body, headers=headers)
    assert "Content-Encoding" in assert_error(reply, 415, grpc.StatusCode.INVALID_ARGUMENT)
    assert (await http.get("/health")).json() == {"status": "ok"}


async def test_oversized_body_with_content_length_is_413(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    body = oversized_body()
    reply = await http.post("/ingest/ml", content=body, headers={**tenant_client.headers, **JSON})
    assert reply.request.headers["content-length"] == str(len(body))
    assert_error(reply, 413, grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_oversized_chunked_body_is_413(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    reply = await http.post(
        "/ingest/ml", content=in_chunks(oversized_body()), headers={**tenant_client.headers, **JSON}
    )
    assert reply.request.headers["transfer-encoding"] == "chunked"
    assert_error(reply, 413, grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_body_just_under_the_limit_is_accepted(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [ml_event(f"m{i}", metadata={"note": "x" * 16_000}) for i in range(260)]
    body = json.dumps({"events": events}).encode()
    assert LIMIT - 64 * 1024 < len(body) < LIMIT
    reply = await http.post("/ingest/ml", content=body, headers={**tenant_client.headers, **JSON})
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] == 260


async def test_oversized_grpc_message_is_resource_exhausted(
    stubs: Stubs, tenant_client: ApiClient
) -> None:
    event = events_pb2.MLEvent(model_id="m", model_type="t")
    event.metadata.update({"blob": "x" * LIMIT})
    request = ingest_pb2.IngestMLRequest(events=[event])
    error = await rpc_error(stubs.ingest.IngestML(request, metadata=tenant_client.metadata))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    small = ingest_pb2.IngestMLRequest(events=[events_pb2.MLEvent(model_id="m", model_type="t")])
    assert (await stubs.ingest.IngestML(small, metadata=tenant_client.metadata)).accepted == 1


async def test_hostile_input_never_breaks_the_service(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    headers = {**tenant_client.headers, **JSON}
    bodies = [(f"/ingest/{kind}", body) for kind, body, _ in MALFORMED.values()]
    for path in ("/ingest/ml", "/ingest/llm", "/auth/token", "/admin/clients"):
        for body in (b"\x00\xff\xfe", b"{" * 10_000, b"[" * 50_000 + b"]" * 50_000):
            bodies.append((path, body))
    bodies += [("/ingest/ml", deep_metadata_body(depth)) for depth in (40, 500, 50_000)]
    statuses = []
    for path, body in bodies:
        # A fresh connection each: a server error may also drop the connection it came on.
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=30) as fresh:
            statuses.append((await fresh.post(path, content=body, headers=headers)).status_code)
    too_big = await http.post("/ingest/ml", content=in_chunks(oversized_body()), headers=headers)
    assert too_big.status_code == 413

    assert (await http.get("/health")).json() == {"status": "ok"}
    result = await ingest(http, tenant_client, "ml", [ml_event("after", prediction_count=7)])
    assert result["accepted"] == 1
    overview = await read(http, tenant_client, "/dashboard/overview")
    # And the valid first event (1 prediction) of the 40- and 500-deep bodies, whose deep
    # event is rejected alone; the 50,000-deep body is refused whole by the gateway.
    assert overview["total_ml_predictions"] == 7 + 2
    server_errors = [
        (path, body[:40], s) for (path, body), s in zip(bodies, statuses, strict=True) if s >= 500
    ]
    assert not server_errors


async def test_metadata_json_form_is_stored_like_the_struct_form(
    http: httpx.AsyncClient, stubs: Stubs, tenant_client: ApiClient
) -> None:
    metadata = {"n": 100, "ratio": 0.25, "tags": ["a", "b"], "nested": {"ok": True}, "none": None}
    as_struct = events_pb2.MLEvent(event_id="struct", model_id="m", model_type="t")
    as_struct.metadata.update(metadata)
    as_json = events_pb2.MLEvent(
        event_id="json", model_id="m", model_type="t", metadata_json=json.dumps(metadata).encode()
    )
    request = ingest_pb2.IngestMLRequest(events=[as_struct, as_json])
    assert (await stubs.ingest.IngestML(request, metadata=tenant_client.metadata)).accepted == 2
    recent = (await read(http, tenant_client, "/dashboard/overview"))["recent_events"]
    stored = {r["event_id"]: r["data"]["metadata"] for r in recent}
    assert stored == {"struct": metadata, "json": metadata}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b'{"big": 18446744073709551616}', "64 bits"),
        (b'{"$where": "sleep(1)"}', "'$'-prefixed"),
        (b'{"a.b": 1}', "dotted"),
        (json.dumps(nested(9)).encode(), "deeper"),
        (b'{"x": NaN}', "finite"),
        (b"[" * 100_000, "JSON object"),
        (json.dumps({"k": [{"v": i} for i in range(1001)]}).encode(), "more than 2000"),
    ],
    ids=["malformed", "array", "huge-int", "dollar", "dotted", "deep", "nan", "recursion", "big"],
)
async def test_bad_metadata_json_rejects_just_that_event(
    stubs: Stubs, tenant_client: ApiClient, raw: bytes, reason: str
) -> None:
    request = ingest_pb2.IngestMLRequest(
        events=[
            events_pb2.MLEvent(model_id="m", model_type="t", metadata_json=b'{"fine": 1}'),
            events_pb2.MLEvent(model_id="m", model_type="t", metadata_json=raw),
        ]
    )
    result = await stubs.ingest.IngestML(request, metadata=tenant_client.metadata)
    assert (result.accepted, result.rejected) == (1, 1)
    assert (result.errors[0].index, result.errors[0].field) == (1, "metadata")
    assert reason in result.errors[0].reason
