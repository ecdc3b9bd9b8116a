"""OTLP/gRPC ingest with the real OpenTelemetry SDK: GenAI chat spans made by its tracer,
exported by `opentelemetry-exporter-otlp-proto-grpc` (which encodes them to protobuf as it
sends), a few exports in flight, each span one LLM event priced from the price table.

The spans are made before the clock starts, as the REST bodies are encoded before theirs:
the bench measures delivery, not the application's tracing.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence

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


class ExportFailed(RuntimeError):
    pass


def make_spans(count: int, service: str) -> list[ReadableSpan]:
    """`count` GenAI chat spans as an instrumented OpenAI-style client records them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.otlp")
    for i in range(count):
        model = MODELS[i % len(MODELS)]
        span = tracer.start_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai" if model.startswith("gpt") else "",
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": 200 + i % 800,
                "gen_ai.usage.output_tokens": 50 + i % 300,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.request.temperature": 0.7,
            },
        )
        span.end()
    provider.shutdown()
    return list(memory.get_finished_spans())


def _basic(who: Credentials) -> str:
    pair = f"{who.client_id}:{who.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


async def _stored(mongodb_url: str, tenant: str) -> int:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    try:
        return await client[DATABASE_NAME]["llm_events"].count_documents({"tenant": tenant})
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
    must end up stored."""
    before = await _stored(mongodb_url, who.tenant)
    exporters = [
        OTLPSpanExporter(
            endpoint=target,
            insecure=True,
            headers={"authorization": _basic(who)},
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
            phase.acked(len(batch))

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
    stored = await _stored(mongodb_url, who.tenant) - before
    if stored != len(warmup) + len(spans):
        raise ExportFailed(f"{stored} of {len(warmup) + len(spans)} spans stored as LLM events")
