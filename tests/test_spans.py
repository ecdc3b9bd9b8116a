"""Whole traces: every span the real OpenTelemetry SDK exports (over gRPC to the collector, over
HTTP to the gateway) is kept: an LLM call as an LLM event carrying its attribution, every other
span as a span of its trace; events sent with a trace_id join the trace. GET /traces/{id}
reads it back. What the SDK made (an InMemorySpanExporter alongside) is the truth the answers
are compared with."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from pymongo import MongoClient

from collector.domain import Principal
from collector.ingest.batch import IngestService
from collector.ingest.span_records import MAX_ATTRIBUTES, MAX_VALUE_BYTES, span_record
from collector.store.storage import open_storage
from tests.conftest import ApiClient, ingest, read
from tests.metrics_text import scrape, value
from tests.procs import Stack, stack_mongodb_url
from tests.test_otlp import basic, chat, grpc_exporter, http_exporter

MS = 1_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- What the SDK made, and what the stack stored -------------------------------------------


def start_ns() -> int:
    """A minute ago, in whole seconds."""
    return (time.time_ns() // 1_000_000_000 - 60) * 1_000_000_000


def at(ns: int) -> dt.datetime:
    """An OTLP time as stored: whole milliseconds."""
    return EPOCH + dt.timedelta(milliseconds=ns // MS)


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) as OTLP/JSON and the stored documents spell them."""
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", parent


def tree(spans: Sequence[ReadableSpan]) -> dict[str, tuple[str | None, str, str]]:
    """span id → (parent span id, name, kind name)."""
    return {hex_ids(s)[1]: (hex_ids(s)[2], s.name, s.kind.name) for s in spans}


@pytest.fixture(scope="module")
def database(stack: Stack) -> Iterator[Any]:
    with MongoClient(stack_mongodb_url(stack), tz_aware=True) as client:
        yield client["aegisai"]


def stored_tree(spans: Sequence[dict[str, Any]]) -> dict[str, tuple[str | None, str, str]]:
    return {s["span_id"]: (s["parent_span_id"], s["name"], s["kind"]) for s in spans}


async def trace_spans(
    http: httpx.AsyncClient, client: ApiClient, trace_id: str
) -> list[dict[str, Any]]:
    """GET /traces/{trace_id}: its spans, each span id once, ordered by start."""
    found = await read(http, client, f"/traces/{trace_id}")
    assert found["trace_id"] == trace_id
    spans: list[dict[str, Any]] = found["spans"]
    assert len({s["span_id"] for s in spans}) == len(spans)
    starts = [(moment(s["start"]), s["span_id"]) for s in spans]
    assert starts == sorted(starts)
    return spans


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Recorder:
    """A TracerProvider of the real SDK recording into memory: the truth."""

    def __init__(self, **resource: Any) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "agent-app", **resource})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("tests.spans")

    def finished(self) -> list[ReadableSpan]:
        self.provider.shutdown()
        return list(self.memory.get_finished_spans())


Exporter = Callable[[Stack, ApiClient], Any]
TRANSPORTS: dict[str, Exporter] = {
    "grpc": lambda stack, client: grpc_exporter(stack, basic(client)),
    "http": lambda stack, client: http_exporter(stack, basic(client)),
}


def export(stack: Stack, client: ApiClient, transport: str, spans: Sequence[ReadableSpan]) -> None:
    exporter = TRANSPORTS[transport](stack, client)
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def messages(*pairs: tuple[str, str]) -> str:
    """gen_ai.input.messages / gen_ai.output.messages as a JSON string, as the conventions
    allow on spans."""
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in pairs]
    )


def agent_trace() -> list[ReadableSpan]:
    """root (invoke_agent, naming a model and summing tokens as agents do) → 3 tools
    (execute_tool) → an LLM call under the first tool and one under the third. The user and
    the conversation are on the root; the second call names its own user."""
    rec = Recorder(**{"service.version": "2.1.0", "deployment.environment.name": "staging"})
    tracer = rec.tracer
    t0 = start_ns()
    root = tracer.start_span(
        "invoke_agent trip-planner",
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 2400,
            "user.id": "user-42",
            "gen_ai.conversation.id": "conv-7",
        },
    )
    with trace.use_span(root, end_on_exit=False):
        for i, tool_name in enumerate(("search_flights", "search_hotels", "book")):
            tool = tracer.start_span(
                f"execute_tool {tool_name}",
                start_time=t0 + (1 + 300 * i) * MS,
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_name},
            )
            with trace.use_span(tool, end_on_exit=False):
                if i == 0:
                    call = tracer.start_span(
                        "chat gpt-4o",
                        kind=SpanKind.CLIENT,
                        start_time=t0 + 5 * MS,
                        attributes=chat(
                            **{
                                "gen_ai.input.messages": messages(("user", "Flights to Oslo?")),
                                "gen_ai.output.messages": messages(("assistant", "Three found.")),
                                "gen_ai.system_instructions": json.dumps(
                                    [{"type": "text", "content": "You plan trips."}]
                                ),
                                "gen_ai.usage.cache_read.input_tokens": 200,
                                "gen_ai.usage.cache_write.input_tokens": 100,
                                "gen_ai.usage.reasoning.output_tokens": 50,
                            }
                        ),
                    )
                    call.end(end_time=t0 + 250 * MS)
                if i == 2:
                    call = tracer.start_span(
                        "chat claude",
                        kind=SpanKind.CLIENT,
                        start_time=t0 + 610 * MS,
                        attributes={
                            **chat("claude-3-5-haiku-latest"),
                            "gen_ai.provider.name": "anthropic",
                            "enduser.id": "user-7",
                            "gen_ai.usage.cache_creation.input_tokens": 30,
                        },
                    )
                    # The content as the conventions' event carries it.
                    call.add_event(
                        "gen_ai.client.inference.operation.details",
                        {
                            "gen_ai.input.messages": messages(
                                ("user", "Book it"), ("assistant", "Which one?"), ("user", "2")
                            ),
                            "gen_ai.output.messages": messages(("assistant", "Booked.")),
                        },
                    )
                    call.end(end_time=t0 + 700 * MS)
                    tool.set_status(Status(StatusCode.ERROR, "card declined"))
            tool.end(end_time=t0 + (200 + 300 * i) * MS)
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=t0 + 900 * MS)
    return rec.finished()


# --- The agent trace, over both transports ----------------------------------------------------


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_a_nested_agent_trace_is_stored_whole_with_its_llm_calls(
    stack: Stack,
    database: Any,
    http: httpx.AsyncClient,
    tenant_client: ApiClient,
    transport: str,
) -> None:
    spans = agent_trace()
    assert len(spans) == 6
    export(stack, tenant_client, transport, spans)

    tenant = tenant_client.tenant
    (trace_id,) = {hex_ids(s)[0] for s in spans}
    found = await trace_spans(http, tenant_client, trace_id)
    # The exact tree: ids, parents, names, kinds; each span once.
    assert len(found) == 6
    assert stored_tree(found) == tree(spans)
    # An LLM call is stored once, as its event: not also as a span.
    assert database["spans"].count_documents({"tenant": tenant}) == 4
    assert database["llm_events"].count_documents({"tenant": tenant}) == 2

    by_id = {s["span_id"]: s for s in found}
    truth = {hex_ids(s)[1]: s for s in spans}
    llm_ids = {i for i, s in truth.items() if s.name.startswith("chat")}
    for span_id, span in truth.items():
        got = by_id[span_id]
        assert (moment(got["start"]), moment(got["end"])) == (
            at(span.start_time),
            at(span.end_time),
        )
        assert got["duration_ms"] == (span.end_time - span.start_time) / MS
        if span_id in llm_ids:
            assert got["llm"]["span_id"] == span_id
            assert got["llm"]["event_id"] == trace_id + span_id
            assert not {"input", "output", "system"} & set(got["llm"])
            assert got["attributes"] == {}
        else:
            assert got["llm"] is None
    statuses = {truth[i].name: (s["status"], s["status_message"]) for i, s in by_id.items()}
    assert statuses["execute_tool book"] == ("ERROR", "card declined")
    assert statuses["invoke_agent trip-planner"] == ("OK", None)
    assert statuses["execute_tool search_flights"] == ("UNSET", None)
    tool = next(s for s in found if s["name"] == "execute_tool search_hotels")
    assert tool["attributes"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search_hotels",
    }

    # Two LLM events, not three: the agent's root names a model and tokens but is no call.
    # Each read whole, with its content.
    events = {}
    for span_id in llm_ids:
        event = await read(http, tenant_client, f"/events/llm/{by_id[span_id]['llm']['event_id']}")
        events[event["span_id"]] = event
    assert set(events) == llm_ids
    flights, booking = (
        next(e for e in events.values() if e["model_name"] == model)
        for model in ("gpt-4o", "claude-3-5-haiku-latest")
    )
    for event in (flights, booking):
        assert event["trace_id"] == trace_id
        assert event["parent_span_id"] == hex_ids(truth[event["span_id"]])[2]
        assert event["session_id"] == "conv-7"  # from the root
        assert (event["environment"], event["release"]) == ("staging", "2.1.0")
    assert flights["user_id"] == "user-42"  # from the root
    assert booking["user_id"] == "user-7"  # its own
    assert flights["input"] == [{"role": "user", "content": "Flights to Oslo?"}]
    assert flights["output"] == [{"role": "assistant", "content": "Three found."}]
    assert flights["system"] == "You plan trips."
    assert flights["prompt_length"] == len("Flights to Oslo?")
    assert (flights["cache_read_tokens"], flights["cache_write_tokens"]) == (200, 100)
    assert flights["reasoning_tokens"] == 50
    assert booking["cache_write_tokens"] == 30  # the older name, cache_creation
    assert booking["input"] == [
        {"role": "user", "content": "Book it"},
        {"role": "assistant", "content": "Which one?"},
        {"role": "user", "content": "2"},
    ]
    assert booking["output"] == [{"role": "assistant", "content": "Booked."}]


async def test_openinference_and_openllmetry_llm_spans_carry_their_content_and_attribution(
    stack: Stack, database: Any, http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    rec = Recorder(**{"deployment.environment": "prod"})  # the older resource name
    t0 = start_ns()
    chain = rec.tracer.start_span(
        "agent", start_time=t0, attributes={"openinference.span.kind": "CHAIN"}
    )
    with trace.use_span(chain, end_on_exit=False):
        rec.tracer.start_span(
            "ChatCompletion",
            start_time=t0 + MS,
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 900,
                "llm.token_count.completion": 100,
                "llm.token_count.prompt_details.cache_read": 512,
                "llm.token_count.completion_details.reasoning": 64,
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "Be brief.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.contents.0.message_content.type": "text",
                "llm.input_messages.1.message.contents.0.message_content.text": "Hi",
                "llm.input_messages.1.message.contents.1.message_content.type": "text",
                "llm.input_messages.1.message.contents.1.message_content.text": "there",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Hello.",
                "input.value": '{"messages": "the raw request"}',
                "session.id": "s-1",
                "user.id": 1234,  # an int id
                "tag.tags": ["beta", "eu"],
            },
        ).end(end_time=t0 + 2 * MS)
        rec.tracer.start_span(
            "openai.chat",
            start_time=t0 + 3 * MS,
            attributes={
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "Ping?",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Pong.",
                "gen_ai.usage.cache_read_input_tokens": 7,
            },
        ).end(end_time=t0 + 4 * MS)
    chain.end(end_time=t0 + 5 * MS)
    spans = rec.finished()
    export(stack, tenant_client, "http", spans)

    events = {
        e["model_name"]: e for e in database["llm_events"].find({"tenant": tenant_client.tenant})
    }
    assert set(events) == {"gpt-4o-mini", "gpt-4o"}  # the CHAIN span is none
    oi = events["gpt-4o-mini"]
    assert oi["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi\nthere"},
    ]
    assert oi["output"] == [{"role": "assistant", "content": "Hello."}]
    assert (oi["cache_read_tokens"], oi["reasoning_tokens"]) == (512, 64)
    assert (oi["session_id"], oi["user_id"], oi["tags"]) == ("s-1", "1234", ["beta", "eu"])
    assert oi["environment"] == "prod"
    assert "release" not in oi and "system" not in oi
    llmetry = events["gpt-4o"]
    assert llmetry["input"] == [{"role": "user", "content": "Ping?"}]
    assert llmetry["output"] == [{"role": "assistant", "content": "Pong."}]
    assert llmetry["cache_read_tokens"] == 7
    assert "user_id" not in llmetry and "session_id" not in llmetry
    (trace_id,) = {hex_ids(s)[0] for s in spans}
    found = await trace_spans(http, tenant_client, trace_id)
    assert stored_tree(found) == tree(spans)
    assert [s["name"] for s in found] == ["agent", "ChatCompletion", "openai.chat"]


# --- Re-exports, orphans, late spans ----------------------------------------------------------


async def test_re_exported_orphan_and_late_spans_join_their_trace_once(
    stack: Stack,
    database: Any,
    http: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    tenant_client: ApiClient,
) -> None:
    rec = Recorder()
    t0 = start_ns()
    root = rec.tracer.start_span("request", start_time=t0)
    with trace.use_span(root, end_on_exit=False):
        a = rec.tracer.start_span("plan", start_time=t0 + MS)
        with trace.use_span(a, end_on_exit=False):
            b = rec.tracer.start_span("retrieve", start_time=t0 + 2 * MS)
            b.end(end_time=t0 + 3 * MS)
            llm = rec.tracer.start_span("chat", start_time=t0 + 4 * MS, attributes=chat())
            llm.end(end_time=t0 + 9 * MS)
        a.end(end_time=t0 + 10 * MS)
        c = rec.tracer.start_span("respond", start_time=t0 + 11 * MS)
        c.end(end_time=t0 + 12 * MS)
    root.end(end_time=t0 + 13 * MS)
    spans = {s.name: s for s in rec.finished()}
    (trace_id,) = {hex_ids(s)[0] for s in spans.values()}
    tenant = tenant_client.tenant
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    metadata = (("authorization", basic(tenant_client)),)

    async def export_names(*names: str) -> None:
        reply = await stub.Export(
            encode_spans([spans[n] for n in names]), metadata=metadata, timeout=30
        )
        assert not reply.HasField("partial_success"), reply

    async def stored() -> dict[str, tuple[str | None, str, str]]:
        return stored_tree(await trace_spans(http, tenant_client, trace_id))

    # First the grandchild and a child: their parents have not arrived (the root never will).
    _, before = await scrape(stack.metrics_url)
    await export_names("retrieve", "respond")
    assert await stored() == tree([spans["retrieve"], spans["respond"]])
    assert (await stored())[hex_ids(spans["retrieve"])[1]][0] == hex_ids(spans["plan"])[1]
    # The same export again (an exporter's retry): nothing is stored twice.
    await export_names("retrieve", "respond")
    _, after = await scrape(stack.metrics_url)

    def delta(outcome: str) -> float:
        return value(after, "aegis_spans_total", outcome=outcome) - value(
            before, "aegis_spans_total", outcome=outcome
        )

    assert (delta("stored"), delta("duplicate")) == (2, 2)
    # Late spans: the missing parent and an LLM call, with one already stored span again.
    await export_names("plan", "chat", "retrieve")
    await export_names("chat")
    expected = tree([spans[n] for n in ("plan", "retrieve", "chat", "respond")])
    assert await stored() == expected
    # Each once: three spans, and the LLM call as its one event.
    assert database["spans"].count_documents({"tenant": tenant}) == 3
    # "plan" is a root of what arrived, and keeps the parent that never came.
    assert (await stored())[hex_ids(spans["plan"])[1]][0] == hex_ids(spans["request"])[1]
    (event,) = database["llm_events"].find({"tenant": tenant})
    assert event["span_id"] == hex_ids(spans["chat"])[1]


async def test_span_attributes_are_bounded(
    stack: Stack, database: Any, tenant_client: ApiClient
) -> None:
    long_ascii = "x" * 2048  # 2 KiB
    long_utf8 = "€" * 1000  # 3000 bytes: cut on a character boundary
    long_list = ["y" * 100] * 20  # an array of 2 KiB as JSON
    attributes: dict[str, Any] = {
        "big": long_ascii,
        "accented": long_utf8,
        "list": long_list,
        "short": ["a", "b"],
        "n": 7,
        "ok": True,
    }
    attributes |= {f"a{i:02d}": i for i in range(MAX_ATTRIBUTES + 1 - len(attributes))}
    assert len(attributes) == 65
    rec = Recorder()
    t0 = start_ns()
    rec.tracer.start_span("wide", start_time=t0, attributes=attributes).end(end_time=t0 + MS)
    (span,) = rec.finished()
    export(stack, tenant_client, "grpc", [span])

    (record,) = database["spans"].find({"tenant": tenant_client.tenant})
    pairs = record["attributes"]
    assert len(pairs) == MAX_ATTRIBUTES == 64
    assert [key for key, _ in pairs] == list(attributes)[:64]  # the first 64, in order
    assert record["dropped_attributes"] == 1
    assert record["truncated_attributes"] == 3
    stored = dict(pairs)
    for key in ("big", "accented"):
        raw = stored[key].encode()
        assert len(raw) <= MAX_VALUE_BYTES == 1024
        assert attributes[key].startswith(stored[key]) and len(raw) >= 1021
    assert stored["accented"] == "€" * 341  # 1023 bytes: the 342nd would end past 1024
    assert len(stored["list"].encode()) == 1024
    assert json.dumps(long_list, separators=(",", ":")).startswith(stored["list"])
    assert (stored["short"], stored["n"], stored["ok"]) == (["a", "b"], 7, True)


async def test_a_span_with_bad_ids_is_rejected_alone_and_bad_llm_spans_are_kept_as_spans(
    stack: Stack, database: Any, http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    trace_id = uuid.uuid4().hex
    t0 = start_ns()

    def span(span_id: str, name: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": 2,
            "startTimeUnixNano": str(t0),
            "endTimeUnixNano": str(t0 + 5 * MS),
            "attributes": attributes,
        }

    no_model = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            span("0" * 16, "all-zero id", []),
                            span("1" * 16, "fine", []),
                            span("2" * 16, "chat without a model", no_model),
                        ]
                    }
                ]
            }
        ]
    }
    reply = await http.post(
        "/v1/traces", json=body, headers={"Authorization": basic(tenant_client)}
    )
    assert reply.status_code == 200, reply.text
    partial = reply.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64, a string in OTLP/JSON
    message = partial["errorMessage"]
    assert "1 span(s) rejected: span 0000000000000000: span_id: must be 8 bytes" in message
    assert "1 LLM span(s) stored as spans but not as LLM calls: span 2222222222222222" in message
    found = await trace_spans(http, tenant_client, trace_id)
    assert sorted(s["name"] for s in found) == ["chat without a model", "fine"]
    assert all(s["llm"] is None for s in found)
    assert all(s["kind"] == "SERVER" for s in found)


def ml_event(event_id: str, when: dt.datetime, **more: Any) -> dict[str, Any]:
    """An ML event as the ingest service takes it (converted, not yet checked)."""
    return {
        "event_id": event_id,
        "model_type": "rf",
        "model_id": "ranker",
        "input_shape": [],
        "prediction_count": 1,
        "timestamp": when,
        "metadata": {},
        "latency_ms": 4.0,
        **more,
    }


# --- Events with a trace_id ---------------------------------------------------------------------


async def test_events_with_a_trace_id_join_their_trace(
    stack: Stack,
    database: Any,
    http: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    tenant_client: ApiClient,
) -> None:
    """Through the ingest service itself (what every transport calls): an LLM event with its
    own span id, one without (keyed by its event id), an ML event; then the trace's root span
    over OTLP. An event is its own span: no span record is written for it."""
    tenant = tenant_client.tenant
    rec = Recorder()
    t0 = start_ns()
    rec.tracer.start_span("handle", start_time=t0).end(end_time=t0 + 900 * MS)
    (root,) = rec.finished()
    trace_id, root_id, _ = hex_ids(root)
    when = at(t0 + 10 * MS)
    llm = [
        {
            "event_id": "sdk-1",
            "model_name": "gpt-4o-mini",
            "prompt_length": None,
            "response_length": None,
            "tokens_used": 10,
            "cost": 0.01,
            "timestamp": when,
            "metadata": {},
            "latency_ms": 120.0,
            "error": "rate_limited",
            "trace_id": trace_id,
            "span_id": "a" * 16,
            "parent_span_id": root_id,
        },
        {
            "event_id": "sdk-2",
            "model_name": "gpt-4o-mini",
            "prompt_length": None,
            "response_length": None,
            "tokens_used": 10,
            "cost": 0.01,
            "timestamp": when,
            "metadata": {},
            "latency_ms": None,
            "trace_id": trace_id,
        },
        {  # no trace: no span
            "event_id": "sdk-3",
            "model_name": "gpt-4o-mini",
            "prompt_length": None,
            "response_length": None,
            "tokens_used": 10,
            "cost": 0.01,
            "timestamp": when,
            "metadata": {},
            "latency_ms": None,
        },
    ]
    ml = [ml_event("ml-1", when, trace_id=trace_id, parent_span_id=root_id)]
    principal = Principal(tenant_client.client_id, tenant, frozenset({"ingest"}))
    async with open_storage(stack_mongodb_url(stack), "aegisai", 5000) as storage:
        service = IngestService(storage)
        result = await service.ingest(principal, "llm", [dict(e) for e in llm])
        assert (result.accepted, result.spans_stored) == (3, 0)
        assert (await service.ingest(principal, "ml", [dict(e) for e in ml])).accepted == 1
        again = await service.ingest(principal, "llm", [dict(e) for e in llm])
        assert (again.duplicates, again.spans_stored) == (3, 0)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    await stub.Export(encode_spans([root]), metadata=(("authorization", basic(tenant_client)),))

    found = {s["span_id"]: s for s in await trace_spans(http, tenant_client, trace_id)}
    assert set(found) == {root_id, "a" * 16, "sdk-2", "ml-1"}
    own = found["a" * 16]
    assert (own["parent_span_id"], own["name"], own["kind"]) == (root_id, "gpt-4o-mini", "CLIENT")
    assert (own["llm"]["event_id"], own["ml"]) == ("sdk-1", None)
    assert (moment(own["start"]), moment(own["end"])) == (
        when,
        when + dt.timedelta(milliseconds=120),
    )
    assert (own["status"], own["status_message"]) == ("ERROR", "rate_limited")
    keyed = found["sdk-2"]
    assert keyed["parent_span_id"] is None  # shown as a root of its trace
    assert (keyed["llm"]["event_id"], keyed["status"]) == ("sdk-2", "UNSET")
    assert keyed["start"] == keyed["end"] and moment(keyed["start"]) == when
    ranker = found["ml-1"]
    assert (ranker["ml"]["event_id"], ranker["name"], ranker["llm"]) == ("ml-1", "ranker", None)
    assert ranker["parent_span_id"] == root_id
    assert found[root_id]["name"] == "handle"
    assert database["spans"].count_documents({"tenant": tenant}) == 1  # the root alone


async def test_a_partly_stored_batch_stores_only_its_new_events_and_spans_once(
    stack: Stack, database: Any, tenant_client: ApiClient
) -> None:
    """A batch sent again with more in it: ingest's first attempt inserts without looking
    (nearly every batch is new), meets a stored `_id` and is rolled back whole; the next
    looks first and stores what is new, once, with one listing and one row of each."""
    tenant = tenant_client.tenant
    trace_id = uuid.uuid4().hex
    when = at(start_ns())

    def event(i: int) -> dict[str, Any]:
        return ml_event(f"part-{i}", when, trace_id=trace_id)

    def span(i: int) -> dict[str, Any]:
        return span_record(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            parent_span_id="",
            name=f"tool-{i}",
            kind="INTERNAL",
            start=when,
            end=when + dt.timedelta(milliseconds=5),
            status="UNSET",
            status_message="",
            attributes=(),
        )

    principal = Principal(tenant_client.client_id, tenant, frozenset({"ingest"}))
    async with open_storage(stack_mongodb_url(stack), "aegisai", 5000) as storage:
        service = IngestService(storage)
        first = await service.ingest(principal, "ml", [event(0), event(1)], [span(0)])
        assert (first.accepted, first.spans_stored) == (2, 1)
        again = await service.ingest(
            principal, "ml", [event(i) for i in range(4)], [span(0), span(1)]
        )
        assert (again.accepted, again.duplicates) == (2, 2)
        assert (again.spans_stored, again.span_duplicates) == (1, 1)
    listings = database["event_batches"].find({"tenant": tenant}, sort=[("_id", 1)])
    assert [sorted(listing["ids"]) for listing in listings] == [
        [f"{tenant}:part-0", f"{tenant}:part-1"],
        [f"{tenant}:part-2", f"{tenant}:part-3"],
    ]
    assert database["ml_events"].count_documents({"tenant": tenant}) == 4
    assert database["spans"].count_documents({"tenant": tenant}) == 2
    rows = database["event_rows"].find({"tenant": tenant})
    assert sum(piece["n"] for piece in rows) == 6  # 4 events and 2 spans, each once


async def test_a_batch_past_one_commands_16_mb_is_stored_whole(
    stack: Stack, database: Any, tenant_client: ApiClient
) -> None:
    """A batch larger than one command's 16 MB (here 300 events of 64 kB of metadata) is
    stored whole, in one transaction with its rows and listing: insert_many's bulk path is
    held only to the 48 MB message size."""
    tenant = tenant_client.tenant
    when = at(start_ns())
    metadata = {f"k{k}": "x" * 16_000 for k in range(4)}
    events = [ml_event(f"big-{i}", when, metadata=metadata) for i in range(300)]
    principal = Principal(tenant_client.client_id, tenant, frozenset({"ingest"}))
    async with open_storage(stack_mongodb_url(stack), "aegisai", 30_000, 30_000) as storage:
        result = await IngestService(storage).ingest(principal, "ml", events)
    assert (result.accepted, result.rejected) == (300, 0), result.errors
    assert database["ml_events"].count_documents({"tenant": tenant}) == 300
    (listing,) = database["event_batches"].find({"tenant": tenant})
    assert len(listing["ids"]) == 300


async def test_a_rest_event_with_a_trace_id_gets_its_span(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    event = {
        "event_id": "rest-1",
        "model_name": "gpt-4o",
        "tokens_used": 5,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    for _ in range(2):  # a retry stores it once
        await ingest(http, tenant_client, "llm", [event])
    (span,) = await trace_spans(http, tenant_client, trace_id)
    assert (span["span_id"], span["name"], span["kind"]) == (span_id, "gpt-4o", "CLIENT")
    assert span["llm"]["event_id"] == "rest-1"


async def test_an_unknown_trace_is_not_found_and_a_bad_id_is_a_400(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    reply = await http.get(f"/traces/{uuid.uuid4().hex}", headers=tenant_client.headers)
    assert reply.status_code == 404, reply.text
    reply = await http.get("/traces/not-hex", headers=tenant_client.headers)
    assert reply.status_code == 400, reply.text
    assert "trace_id" in reply.json()["message"]


async def test_an_llm_span_its_event_refuses_is_kept_as_a_span_of_its_trace(
    stack: Stack, http: httpx.AsyncClient, channel: grpc.aio.Channel, tenant_client: ApiClient
) -> None:
    """Validation at ingest (not the mapping) refuses the call's event: a negative cost. The
    span stays in its trace, as a plain span, and the reply warns."""
    rec = Recorder()
    t0 = start_ns()
    root = rec.tracer.start_span("handle", start_time=t0)
    with trace.use_span(root, end_on_exit=False):
        rec.tracer.start_span(
            "chat", start_time=t0 + MS, attributes={**chat(), "gen_ai.usage.cost": -1.0}
        ).end(end_time=t0 + 2 * MS)
    root.end(end_time=t0 + 3 * MS)
    spans = {s.name: s for s in rec.finished()}
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    reply = await stub.Export(
        encode_spans(list(spans.values())),
        metadata=(("authorization", basic(tenant_client)),),
        timeout=30,
    )
    assert reply.partial_success.rejected_spans == 0
    assert "stored as spans but not as LLM calls" in reply.partial_success.error_message
    assert "cost" in reply.partial_success.error_message
    (trace_id,) = {hex_ids(s)[0] for s in spans.values()}
    found = {s["name"]: s for s in await trace_spans(http, tenant_client, trace_id)}
    assert set(found) == {"handle", "chat"}
    assert found["chat"]["llm"] is None
    assert found["chat"]["parent_span_id"] == hex_ids(spans["handle"])[1]
