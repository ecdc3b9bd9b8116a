"""Sending the explore corpus as its application would: the LLM calls through our SDK's gRPC
stream (batches of 500, in time order, the SDK's window in flight), the agents' spans through
the OpenTelemetry SDK's OTLP/gRPC exporter, both at once, as two services of one application
send them. Nothing is written into the database directly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from aegis_sdk import AsyncAegisClient
from bench.explore_corpus import Event
from bench.otlp_ingest import EXPORT_TIMEOUT_S, EXPORTS_PER_BATCH, ExportFailed, basic_auth
from bench.stack import Credentials

BATCH = 500
IN_FLIGHT = 8  # the SDK's default window
BUFFER = 20_000  # events the SDK holds; log_llm waits for room beyond (on_full="block")
PROGRESS_EVERY = 100_000


class DeliveryFailed(RuntimeError):
    pass


@dataclass
class Sent:
    """What each sender delivered and how long it took."""

    calls: int = 0
    calls_s: float = 0.0
    stream_retries: int = 0
    spans: int = 0
    spans_s: float = 0.0
    export_retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def send_calls(
    target: str, who: Credentials, calls: Iterable[Event], sent: Sent, say: Callable[[str], None]
) -> None:
    """Log every call through AsyncAegisClient, then wait until all are acknowledged."""
    started = time.perf_counter()
    client = AsyncAegisClient(
        target,
        who.client_id,
        who.client_secret,
        batch_size=BATCH,
        max_in_flight=IN_FLIGHT,
        max_buffer=BUFFER,
        on_full="block",
        block_timeout=None,
    )
    async with client:
        for n, call in enumerate(calls, start=1):
            await client.log_llm(**call)
            if n % PROGRESS_EVERY == 0:
                rate = client.stats.acked / (time.perf_counter() - started)
                say(f"  {n} calls logged, {client.stats.acked} acknowledged ({rate:.0f}/s)")
        await client.flush()
        stats = client.stats
    sent.calls_s = time.perf_counter() - started
    sent.calls = stats.accepted + stats.duplicates
    sent.stream_retries = stats.retries
    sent.errors = dict(stats.errors)
    if stats.rejected or stats.dropped or sent.calls != stats.logged:
        raise DeliveryFailed(f"the SDK delivered {sent.calls} of {stats.logged} calls: {stats}")


def _export(exporter: OTLPSpanExporter, batch: Sequence[ReadableSpan], sent: Sent) -> None:
    """One batch until the collector took it; the same spans again after the exporter gave
    up (its retries and deadline spent on a busy database): stored once whatever happened."""
    for _ in range(EXPORTS_PER_BATCH):
        if exporter.export(batch) == SpanExportResult.SUCCESS:
            sent.spans += len(batch)
            return
        sent.export_retries += 1
    raise ExportFailed(f"{EXPORTS_PER_BATCH} exports of the same {len(batch)} spans failed")


def export_spans(
    target: str, who: Credentials, batches: Iterator[list[ReadableSpan]], sent: Sent
) -> None:
    """Export every batch, one after the other, as a BatchSpanProcessor does (blocking: run
    it in a thread)."""
    started = time.perf_counter()
    exporter = OTLPSpanExporter(
        endpoint=target,
        insecure=True,
        headers={"authorization": basic_auth(who)},
        timeout=EXPORT_TIMEOUT_S,
    )
    try:
        for batch in batches:
            _export(exporter, batch, sent)
    finally:
        exporter.shutdown()
    sent.spans_s += time.perf_counter() - started


async def send_all(
    target: str,
    who: Credentials,
    calls: Iterable[Event],
    spans: Iterator[list[ReadableSpan]],
    say: Callable[[str], None],
) -> Sent:
    """The calls and the spans at once; returns once both are acknowledged."""
    sent = Sent()
    await asyncio.gather(
        send_calls(target, who, calls, sent, say),
        asyncio.to_thread(export_spans, target, who, spans, sent),
    )
    return sent
