"""OTLP/gRPC ingest with the real OpenTelemetry SDK: agent traces made by its tracer (a root,
three tool calls and two GenAI chat calls each), exported by
`opentelemetry-exporter-otlp-proto-grpc` (which encodes them to protobuf as it sends), a few
exports in flight. Each chat span becomes one LLM event priced from the price table; the root
and the tools are stored as spans of their trace.

The spans are made before the clock starts, as the REST bodies are encoded before theirs:
the bench measures delivery, not the application's tracing.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import AsyncMongoClient

from bench.phase import Phase
from bench.stack import DATABASE_NAME, Credentials

EXPORT_TIMEOUT_S = 60
# A batch the exporter gave up on is exported again, as a span processor that keeps what it
# could not deliver would; after this many exports of one batch the bench fails.
EXPORTS_PER_BATCH = 4
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-2.0-flash")
TOOLS = ("search_orders", "fetch_invoice", "send_email")
LLM_PER_TRACE = 2
SPANS_PER_TRACE = 1 + len(TOOLS) + LLM_PER_TRACE


class ExportFailed(RuntimeError):
    pass


def _chat(tracer: trace.Tracer, i: int, step: int) -> None:
    model = MODELS[(i + step) % len(MODELS)]
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai" if model.startswith("gpt") else "",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 200 + (i + step) % 800,
        "gen_ai.usage.output_tokens": 50 + (i + step) % 300,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.temperature": 0.7,
    }
    with tracer.start_as_current_span(f"chat {model}", kind=trace.SpanKind.CLIENT) as span:
        span.set_attributes(attributes)


def make_spans(llm_calls: int, service: str) -> list[ReadableSpan]:
    """Agent traces holding `llm_calls` GenAI chat spans, as an instrumented agent records
    them: a root naming the user and the conversation, a chat call that picks tools, three
    tool calls, a chat call that answers (SPANS_PER_TRACE spans, LLM_PER_TRACE of them chat
    calls). Spans come in the order they end, as a span processor gets them."""
    memory = InMemorySpanExporter()
    resource = Resource.create(
        {
            "service.name": service,
            "service.version": "1.4.2",
            "deployment.environment.name": "production",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.otlp")
    for i in range(-(-llm_calls // LLM_PER_TRACE)):
        root = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-agent",
            "user.id": f"user-{i // 5 % 1000:04d}",
            "gen_ai.conversation.id": f"{service}-conversation-{i // 5:08d}",
            "tag.tags": ["checkout", "pro" if i % 3 else "free"],
        }
        with tracer.start_as_current_span("invoke_agent support-agent", attributes=root):
            _chat(tracer, i, 0)
            for tool in TOOLS:
                attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
                with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
                    pass
            _chat(tracer, i, 1)
    provider.shutdown()
    return list(memory.get_finished_spans())


def llm_calls_in(spans: Sequence[ReadableSpan]) -> int:
    return sum(
        1 for span in spans if (span.attributes or {}).get("gen_ai.operation.name") == "chat"
    )


def basic_auth(who: Credentials) -> str:
    pair = f"{who.client_id}:{who.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


async def _stored(mongodb_url: str, tenant: str) -> tuple[int, int]:
    """The tenant's LLM events and other spans stored."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    try:
        db = client[DATABASE_NAME]
        events = await db["llm_events"].count_documents({"tenant": tenant})
        return events, await db["spans"].count_documents({"tenant": tenant})
    finally:
        await client.close()


async def ingest_otlp(
    target: str,
    mongodb_url: str,
    who: Credentials,
    warmup: Sequence[ReadableSpan],
    spans: Sequence[ReadableSpan],
    *,
    batch_size: int,
    in_flight: int,
    phase: Phase,
) -> None:
    """Export warm-up spans (one batch per exporter), then time exporting `spans`; every span
    must end up stored, chat calls as LLM events and the others as spans. The phase counts
    LLM events, and every span in `phase.spans`."""
    before = await _stored(mongodb_url, who.tenant)
    exporters = [
        OTLPSpanExporter(
            endpoint=target,
            insecure=True,
            headers={"authorization": basic_auth(who)},
            # The exporter retries UNAVAILABLE and RESOURCE_EXHAUSTED (after their RetryInfo)
            # until this deadline, then drops the batch. Its default, 10 s, is shorter than a
            # busy embedded database can stay busy at 8 batches in flight; an application
            # that must not lose spans sets OTEL_EXPORTER_OTLP_TIMEOUT higher, as here.
            timeout=EXPORT_TIMEOUT_S,
        )
        for _ in range(in_flight)
    ]
    batches = [spans[i : i + batch_size] for i in range(0, len(spans), batch_size)]
    lock = threading.Lock()
    failures: list[str] = []

    def export(exporter: OTLPSpanExporter, todo: list[Sequence[ReadableSpan]]) -> None:
        while True:
            with lock:
                if not todo or failures:
                    return
                batch = todo.pop()
            for attempt in range(1, EXPORTS_PER_BATCH + 1):
                if exporter.export(batch) == SpanExportResult.SUCCESS:
                    break
                # The exporter gave up (its retries and deadline spent on a busy database).
                # The same spans again are the same event ids: stored once whatever happened.
                with lock:
                    if attempt == EXPORTS_PER_BATCH:
                        failures.append(f"{attempt} exports of the same {len(batch)} spans failed")
                        return
                    phase.retries += 1
            with lock:
                phase.spans += len(batch)
            phase.acked(llm_calls_in(batch))

    try:
        warm = [warmup[i : i + batch_size] for i in range(0, len(warmup), batch_size)]
        for exporter, batch in zip(exporters, warm, strict=False):
            if exporter.export(batch) != SpanExportResult.SUCCESS:
                raise ExportFailed("the warm-up export failed")
        todo = list(reversed(batches))
        phase.start()
        await asyncio.gather(*(asyncio.to_thread(export, e, todo) for e in exporters))
        phase.stop()
    finally:
        for exporter in exporters:
            exporter.shutdown()
    if failures:
        raise ExportFailed("; ".join(failures))
    after = await _stored(mongodb_url, who.tenant)
    stored = (after[0] - before[0], after[1] - before[1])
    sent = [*warmup, *spans]
    llm = llm_calls_in(sent)
    if stored != (llm, len(sent) - llm):
        raise ExportFailed(
            f"{stored[0]} LLM events and {stored[1]} spans stored of {llm} and {len(sent) - llm}"
        )
