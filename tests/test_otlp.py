"""OTLP trace ingest end to end: the real OpenTelemetry SDK and its OTLP exporters (gRPC to
the collector, HTTP to the gateway) against the running stack."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import httpx
import pytest
from genai_prices import Usage, calc_price
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from pymongo import MongoClient

from tests.conftest import ApiClient, create_client, read
from tests.metrics_text import scrape, value
from tests.procs import Stack, stack_mongodb_url, stored_event_ids


def basic(client: ApiClient) -> str:
    pair = f"{client.client_id}:{client.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def record(
    spans: Sequence[tuple[str, dict[str, Any], int]],
    *,
    service: str = "chat-app",
    error: bool = False,
) -> list[ReadableSpan]:
    """Spans made by the SDK's own tracer: (name, attributes, duration in ms) each, under one
    root span that is not an LLM call."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.otlp")
    now = _now_ns()
    root = tracer.start_span("handle request", start_time=now)
    with trace.use_span(root, end_on_exit=False):
        for name, attributes, duration_ms in spans:
            span = tracer.start_span(name, attributes=attributes, start_time=now)
            if error:
                span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
            span.end(end_time=now + duration_ms * 1_000_000)
    root.end(end_time=now + 2_000_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _now_ns() -> int:
    """A minute ago, in whole seconds: recent enough for the dashboards' default range."""
    return (time.time_ns() // 1_000_000_000 - 60) * 1_000_000_000


def chat(model: str = "gpt-4o", **extra: Any) -> dict[str, Any]:
    """A chat completion span's attributes in the current GenAI conventions."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.response.finish_reasons": ["stop"],
        **extra,
    }


def table_price(model: str, input_tokens: int, output_tokens: int, provider: str) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model, provider_id=provider).total_price)


@pytest.fixture
async def client(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    return await create_client(http, admin, f"t-otlp-{uuid.uuid4().hex[:12]}")


def grpc_exporter(stack: Stack, authorization: str) -> GrpcSpanExporter:
    return GrpcSpanExporter(
        endpoint=stack.grpc_target,
        insecure=True,
        headers={"authorization": authorization},
        timeout=30,
    )


def http_exporter(stack: Stack, authorization: str) -> HttpSpanExporter:
    return HttpSpanExporter(
        endpoint=f"{stack.http}/v1/traces", headers={"Authorization": authorization}, timeout=30
    )


async def llm_metrics(http: httpx.AsyncClient, client: ApiClient) -> dict[str, Any]:
    return await read(http, client, "/dashboard/llm-metrics")


async def test_grpc_exporter_spans_reach_the_dashboard_once(
    stack: Stack, http: httpx.AsyncClient, client: ApiClient
) -> None:
    spans = record(
        [
            ("chat gpt-4o", chat(**{"gen_ai.response.model": "gpt-4o-2024-08-06"}), 250),
            ("chat gpt-4o", chat(**{"gen_ai.response.model": "gpt-4o-2024-08-06"}), 750),
        ]
    )
    exporter = grpc_exporter(stack, f"Bearer {client.token}")
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        first = await llm_metrics(http, client)
        # Re-exporting the same spans (an exporter's retry) changes nothing.
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    again = await llm_metrics(http, client)
    assert again == first
    (model,) = first["models"]
    assert model["model_name"] == "gpt-4o-2024-08-06"  # the response model wins
    assert model["requests"] == 2
    assert (model["input_tokens"], model["output_tokens"], model["tokens"]) == (2000, 1000, 3000)
    expected = 2 * table_price("gpt-4o-2024-08-06", 1000, 500, "openai")
    assert expected > 0
    assert model["cost"] == pytest.approx(expected, rel=1e-9)
    assert 240 <= model["latency_p50_ms"] <= 760
    assert model["latency_p99_ms"] == pytest.approx(750, rel=0.05)
    # One stored event per LLM span, under trace id + span id; the root span is no LLM event.
    ids = stored_event_ids(stack_mongodb_url(stack), "llm", client.tenant)
    llm_spans = [s for s in spans if s.name.startswith("chat")]
    assert sorted(ids) == sorted(
        f"{s.context.trace_id:032x}{s.context.span_id:016x}" for s in llm_spans
    )


async def test_http_exporter_with_basic_credentials_and_deprecated_names(
    stack: Stack, http: httpx.AsyncClient, client: ApiClient
) -> None:
    deprecated = {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-latest",
        "gen_ai.usage.prompt_tokens": 200,
        "gen_ai.usage.completion_tokens": 100,
    }
    explicit = {**chat("gpt-4o-mini"), "gen_ai.usage.cost": 0.125}
    spans = record([("anthropic.chat", deprecated, 120), ("chat", explicit, 80)], error=True)
    exporter = http_exporter(stack, basic(client))
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    models = {m["model_name"]: m for m in (await llm_metrics(http, client))["models"]}
    assert set(models) == {"claude-3-5-haiku-latest", "gpt-4o-mini"}
    claude = models["claude-3-5-haiku-latest"]
    assert claude["requests"] == 1
    assert (claude["input_tokens"], claude["output_tokens"]) == (200, 100)
    assert claude["cost"] == pytest.approx(
        table_price("claude-3-5-haiku-latest", 200, 100, "anthropic"), rel=1e-9
    )
    assert claude["errors"] == 1  # status ERROR
    assert models["gpt-4o-mini"]["cost"] == pytest.approx(0.125)  # the span's own cost wins


async def test_otlp_json_with_hex_ids_gzip_and_replies_in_json(
    stack: Stack, http: httpx.AsyncClient, client: ApiClient
) -> None:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    start = _now_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": "",
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 400_000_000),
                                "attributes": [
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "30"},
                                    },
                                    {
                                        "key": "gen_ai.usage.output_tokens",
                                        "value": {"intValue": "12"},
                                    },
                                ],
                                "status": {},
                                "futureField": "ignored, as the spec asks",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    raw = json.dumps(body).encode()
    headers = {"Authorization": basic(client), "Content-Type": "application/json"}
    reply = await http.post("/v1/traces", content=raw, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {}
    gz = {**headers, "Content-Encoding": "gzip"}
    again = await http.post("/v1/traces", content=gzip.compress(raw), headers=gz)
    assert again.status_code == 200, again.text
    assert stored_event_ids(stack_mongodb_url(stack), "llm", client.tenant) == [trace_id + span_id]
    (model,) = (await llm_metrics(http, client))["models"]
    assert (model["model_name"], model["requests"], model["tokens"]) == ("m", 1, 42)
    assert model["cost"] == 0  # a model the price table does not know
    assert model["latency_p50_ms"] == pytest.approx(400, rel=0.05)

    bad_id = json.dumps(body).replace(trace_id, "zz" + trace_id[2:]).encode()
    reply = await http.post("/v1/traces", content=bad_id, headers=headers)
    assert reply.status_code == 400
    assert "traceId: expected a hex string" in reply.json()["message"]


async def test_gzip_bodies_are_capped_after_decompression(
    http: httpx.AsyncClient, client: ApiClient
) -> None:
    bomb = gzip.compress(b"\0" * (5 * 1024 * 1024))  # ~5 KiB that inflates past 4 MiB
    reply = await http.post(
        "/v1/traces",
        content=bomb,
        headers={
            "Authorization": basic(client),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
    )
    assert reply.status_code == 413
    status = status_pb2.Status.FromString(reply.content)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "after decompression" in status.message


async def test_missing_or_wrong_credentials_are_refused(
    stack: Stack,
    http: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    client: ApiClient,
    admin: ApiClient,
) -> None:
    request = encode_spans(record([("chat", chat(), 10)]))
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    wrong = ApiClient(client.client_id, "not-the-secret", client.tenant, client.token)
    reader = await create_client(http, admin, client.tenant, scopes=["read"])
    cases: list[tuple[tuple[tuple[str, str], ...], grpc.StatusCode, int]] = [
        ((), grpc.StatusCode.UNAUTHENTICATED, 401),
        ((("authorization", basic(wrong)),), grpc.StatusCode.UNAUTHENTICATED, 401),
        ((("authorization", "Basic !!notbase64"),), grpc.StatusCode.UNAUTHENTICATED, 401),
        ((("authorization", "Bearer not-a-jwt"),), grpc.StatusCode.UNAUTHENTICATED, 401),
        ((("authorization", basic(reader)),), grpc.StatusCode.PERMISSION_DENIED, 403),
    ]
    for metadata, code, status in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Export(request, metadata=metadata)
        assert info.value.code() == code, metadata
        headers = {"Content-Type": "application/x-protobuf", **dict(metadata)}
        reply = await http.post("/v1/traces", content=request.SerializeToString(), headers=headers)
        assert reply.status_code == status, metadata
    exporter = grpc_exporter(stack, basic(wrong))
    try:
        assert exporter.export(record([("chat", chat(), 10)])) == SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert stored_event_ids(stack_mongodb_url(stack), "llm", client.tenant) == []


async def test_openinference_spans_are_mapped_and_other_spans_not_counted(
    stack: Stack, http: httpx.AsyncClient, client: ApiClient
) -> None:
    openinference = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.token_count.prompt": 4000,
        "llm.token_count.completion": 1000,
        "input.value": "What is OTLP?",
        "output.value": "A protocol.",
    }
    spans = record(
        [
            ("ChatCompletion", openinference, 300),
            ("retrieve documents", {"openinference.span.kind": "RETRIEVER"}, 20),
            ("http get", {"http.request.method": "GET"}, 5),
        ]
    )
    exporter = grpc_exporter(stack, basic(client))
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    metrics = await llm_metrics(http, client)
    assert metrics["total_requests"] == 1  # four spans exported, one LLM call
    (model,) = metrics["models"]
    assert model["model_name"] == "gpt-4o-mini"
    assert (model["input_tokens"], model["output_tokens"]) == (4000, 1000)
    assert model["cost"] == pytest.approx(table_price("gpt-4o-mini", 4000, 1000, "openai"))
    assert model["avg_prompt_length"] == len("What is OTLP?")
    overview = await read(http, client, "/dashboard/overview")
    (recent,) = overview["recent_events"]
    data = recent["data"]
    assert data["cost_source"] == "price_table"
    assert data["provider"] == "openai"
    assert data["metadata"]["service_name"] == "chat-app"
    assert "input" not in data and "output" not in data  # content: never in recent events
    exported = await http.get("/export/llm", headers=client.headers)
    assert exported.status_code == 200, exported.text
    (stored,) = [json.loads(line) for line in exported.text.splitlines()]
    assert (stored["input"], stored["output"]) == ("What is OTLP?", "A protocol.")
    llm_span = next(s for s in spans if s.name == "ChatCompletion")
    assert llm_span.parent is not None
    assert data["parent_span_id"] == f"{llm_span.parent.span_id:016x}"


async def test_mixed_export_warns_of_the_bad_llm_spans_only(
    stack: Stack, http: httpx.AsyncClient, channel: grpc.aio.Channel, client: ApiClient
) -> None:
    """LLM spans that cannot be LLM events are still stored as spans of their trace, so none is
    rejected: partial_success carries a warning naming them (OTLP's error_message with
    rejected_spans 0)."""
    spans = record(
        [
            ("good", chat(), 100),
            ("negative tokens", chat(**{"gen_ai.usage.input_tokens": -5}), 100),
            ("no model", {"gen_ai.operation.name": "chat"}, 100),
            ("good too", chat("gpt-4o-mini"), 100),
            ("not llm", {"db.system": "mongodb"}, 100),
        ]
    )
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    _, before = await scrape(stack.metrics_url)
    reply: trace_service_pb2.ExportTraceServiceResponse = await stub.Export(
        encode_spans(spans), metadata=(("authorization", basic(client)),)
    )
    _, after = await scrape(stack.metrics_url)

    def counted(outcome: str) -> float:
        return value(after, "aegis_otlp_spans_total", outcome=outcome) - value(
            before, "aegis_otlp_spans_total", outcome=outcome
        )

    # Other spans: "not llm" and record()'s root span.
    assert [counted(o) for o in ("accepted", "duplicate", "rejected", "other")] == [2, 0, 2, 2]
    assert reply.HasField("partial_success")
    assert reply.partial_success.rejected_spans == 0
    message = reply.partial_success.error_message
    assert message.startswith("2 LLM span(s) stored as spans but not as LLM calls: ")
    assert "gen_ai.usage.input_tokens: must not be negative" in message
    assert "model_name" in message
    # The good LLM spans are stored as their events, every other span as a span.
    with MongoClient(stack_mongodb_url(stack)) as mongo:
        stored = mongo["aegisai"]["spans"].find({"tenant": client.tenant})
        assert sorted(doc["name"] for doc in stored) == [
            "handle request",
            "negative tokens",
            "no model",
            "not llm",
        ]
    (trace_id,) = {f"{s.context.trace_id:032x}" for s in spans if s.context is not None}
    whole = await read(http, client, f"/traces/{trace_id}")
    llm_flags = {s["name"]: s["llm"] is not None for s in whole["spans"]}
    assert llm_flags == {
        "handle request": False,
        "good": True,
        "negative tokens": False,
        "no model": False,
        "good too": True,
        "not llm": False,
    }
    metrics = await llm_metrics(http, client)
    assert metrics["total_requests"] == 2
    assert {m["model_name"] for m in metrics["models"]} == {"gpt-4o", "gpt-4o-mini"}

    # The same over OTLP/HTTP, answered in protobuf; the good spans are duplicates now.
    reply_http = await http.post(
        "/v1/traces",
        content=encode_spans(spans).SerializeToString(),
        headers={"Authorization": basic(client), "Content-Type": "application/x-protobuf"},
    )
    assert reply_http.status_code == 200
    assert reply_http.headers["content-type"] == "application/x-protobuf"
    decoded = trace_service_pb2.ExportTraceServiceResponse.FromString(reply_http.content)
    assert decoded.partial_success.error_message == message
    assert (await llm_metrics(http, client))["total_requests"] == 2


async def test_a_fully_accepted_export_has_no_partial_success(
    channel: grpc.aio.Channel, client: ApiClient
) -> None:
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    reply = await stub.Export(
        encode_spans(record([("chat", chat(), 10)])),
        metadata=(("authorization", basic(client)),),
    )
    assert not reply.HasField("partial_success")


async def test_bad_otlp_http_requests_are_4xx_in_the_requests_encoding(
    http: httpx.AsyncClient, client: ApiClient
) -> None:
    auth = {"Authorization": basic(client)}
    garbage = await http.post(
        "/v1/traces",
        content=b"\xff\xff\xff not protobuf",
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    assert garbage.status_code == 400
    status = status_pb2.Status.FromString(garbage.content)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "cannot be decoded" in status.message

    not_json = await http.post(
        "/v1/traces", content=b"{", headers={**auth, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]

    # json_format alone would read a string as a message with no known fields.
    not_a_message = await http.post("/v1/traces", json={"resourceSpans": ["AAA"]}, headers=auth)
    assert not_a_message.status_code == 400
    assert 'resourceSpans[0]: expected a JSON object, got "AAA"' in not_a_message.json()["message"]
    # Empty exports are valid OTLP, in either encoding.
    for body in ({}, {"resourceSpans": None}, {"resourceSpans": []}):
        assert (await http.post("/v1/traces", json=body, headers=auth)).status_code == 200
    empty = await http.post(
        "/v1/traces", content=b"", headers={**auth, "Content-Type": "application/x-protobuf"}
    )
    assert empty.status_code == 200

    wrong_type = await http.post(
        "/v1/traces", content=b"x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    wrong_encoding = await http.post(
        "/v1/traces",
        content=b"x",
        headers={**auth, "Content-Type": "application/json", "Content-Encoding": "br"},
    )
    assert wrong_encoding.status_code == 415


async def test_otlp_http_authenticates_before_it_judges_the_body(
    http: httpx.AsyncClient, admin: ApiClient, client: ApiClient
) -> None:
    """A caller without valid credentials gets 401 (or 403 without the ingest scope) whatever
    the body; only an authenticated caller hears about a wrong content type or encoding."""
    reader = await create_client(http, admin, client.tenant, scopes=["read"])
    bomb = gzip.compress(b"\0" * (5 * 1024 * 1024))
    bodies: list[tuple[dict[str, str], bytes, int]] = [
        ({}, b"", 415),  # no Content-Type, no body
        ({"Content-Type": "text/plain"}, b"x", 415),
        ({"Content-Type": "application/json"}, b"{", 400),
        ({"Content-Type": "application/json", "Content-Encoding": "br"}, b"x", 415),
        ({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, bomb, 413),
    ]
    for headers, body, refused in bodies:
        cases = [
            ({}, 401),
            ({"Authorization": "Bearer not-a-jwt"}, 401),
            ({"Authorization": basic(reader)}, 403),
            ({"Authorization": basic(client)}, refused),
        ]
        for credentials, status in cases:
            reply = await http.post("/v1/traces", content=body, headers={**headers, **credentials})
            assert reply.status_code == status, (headers, credentials, reply.text)
    reply = await http.post("/v1/traces")
    assert reply.json() == {
        "code": grpc.StatusCode.UNAUTHENTICATED.value[0],
        "message": 'header Authorization: missing; expected "Bearer <token>" or '
        '"Basic <base64 of clientId:clientSecret>"',
        "details": [],
    }


async def test_otlp_exports_are_counted_as_batches(
    stack: Stack, http: httpx.AsyncClient, channel: grpc.aio.Channel, client: ApiClient
) -> None:
    """Each OTLP export is one batch in aegis_ingest_batch_seconds and holds an
    aegis_inflight_batches slot while it is written, over gRPC and over HTTP alike."""
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    _, before = await scrape(stack.metrics_url)
    await stub.Export(
        encode_spans(record([("chat", chat(), 10)])), metadata=(("authorization", basic(client)),)
    )
    reply = await http.post(
        "/v1/traces",
        content=encode_spans(record([("chat", chat(), 20)])).SerializeToString(),
        headers={"Authorization": basic(client), "Content-Type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.text
    _, after = await scrape(stack.metrics_url)
    batches = "aegis_ingest_batch_seconds_count"
    assert value(after, batches) - value(before, batches) == 2
    assert value(after, "aegis_inflight_batches") == 0  # both slots given back
