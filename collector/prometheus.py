"""The collector's Prometheus metrics: every metric is declared here, one line each.

Labels take only values from closed sets we define (kinds, outcomes, job names), never a
tenant, model, client or anything else a caller chooses: each distinct label value is a new
time series, so a user-controlled one would let any client grow the scrape without bound.

Add a metric by declaring it below on REGISTRY; `serve_metrics` exposes everything declared.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# Our own registry (not prometheus_client's global one): only what is declared here is served.
REGISTRY = CollectorRegistry()

KINDS = ("ml", "llm")
EventOutcome = Literal["accepted", "duplicate", "rejected"]
EVENT_OUTCOMES: tuple[EventOutcome, ...] = ("accepted", "duplicate", "rejected")

EVENTS = Counter(
    "aegis_events", "Events received, by kind and outcome", ["kind", "outcome"], registry=REGISTRY
)
INGEST_BATCH_SECONDS = Histogram(
    "aegis_ingest_batch_seconds",
    "Time to validate and durably write one batch (unary or stream), seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
INFLIGHT_BATCHES = Gauge(
    "aegis_inflight_batches",
    "Batches being written now (holding an admission slot)",
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "aegis_database_up", "1 if the last database ping was answered, else 0", registry=REGISTRY
)
JOB_RUNS = Counter(
    "aegis_job_runs",
    "Background job runs on this replica, by job (our names) and outcome (ok, failed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "aegis_webhook_deliveries",
    "Alert webhook delivery attempts, by outcome (delivered, failed)",
    ["outcome"],
    registry=REGISTRY,
)
EXPORTED_EVENTS = Counter(
    "aegis_exported_events", "Events sent by ExportEvents, by kind", ["kind"], registry=REGISTRY
)
TAIL_SUBSCRIBERS = Gauge(
    "aegis_tail_subscribers", "TailEvents calls open on this replica", registry=REGISTRY
)
TAIL_STREAMS = Gauge(
    "aegis_tail_change_streams",
    "Change streams this replica holds open for TailEvents (at most 1)",
    registry=REGISTRY,
)
TAIL_DROPPED = Counter(
    "aegis_tail_dropped_subscribers",
    "TailEvents calls ended because the subscriber fell too far behind",
    registry=REGISTRY,
)

RateLimit = Literal["ingest", "read", "auth", "alert_writes"]
RATE_LIMITS: tuple[RateLimit, ...] = ("ingest", "read", "auth", "alert_writes")
RATE_LIMITED = Counter(
    "aegis_rate_limited",
    "Calls refused by a per-client rate limit, by limit (ingest, read, auth, alert_writes)",
    ["limit"],
    registry=REGISTRY,
)
OtlpOutcome = Literal["accepted", "duplicate", "rejected", "other"]
OTLP_OUTCOMES: tuple[OtlpOutcome, ...] = ("accepted", "duplicate", "rejected", "other")
OTLP_SPANS = Counter(
    "aegis_otlp_spans",
    "OTLP spans received, by outcome: LLM calls accepted, duplicate or rejected (as LLM "
    "events); other spans",
    ["outcome"],
    registry=REGISTRY,
)
SpanOutcome = Literal["stored", "duplicate"]
SPAN_OUTCOMES: tuple[SpanOutcome, ...] = ("stored", "duplicate")
SPANS = Counter(
    "aegis_spans",
    "Span records of traces (OTLP spans, events with a trace_id), by outcome",
    ["outcome"],
    registry=REGISTRY,
)

# Every label combination exists from the start, so a rate() over a fresh process is 0, not
# absent.
for _limit in RATE_LIMITS:
    RATE_LIMITED.labels(_limit)
for _otlp in OTLP_OUTCOMES:
    OTLP_SPANS.labels(_otlp)
for _span in SPAN_OUTCOMES:
    SPANS.labels(_span)
for _kind in KINDS:
    EXPORTED_EVENTS.labels(_kind)
    for _outcome in EVENT_OUTCOMES:
        EVENTS.labels(_kind, _outcome)
for _delivery in ("delivered", "failed"):
    WEBHOOK_DELIVERIES.labels(_delivery)


def count_events(kind: str, accepted: int, duplicates: int, rejected: int) -> None:
    EVENTS.labels(kind, "accepted").inc(accepted)
    EVENTS.labels(kind, "duplicate").inc(duplicates)
    EVENTS.labels(kind, "rejected").inc(rejected)


def count_spans(stored: int, duplicates: int) -> None:
    SPANS.labels("stored").inc(stored)
    SPANS.labels("duplicate").inc(duplicates)


@contextlib.contextmanager
def serve_metrics(host: str, port: int | None) -> Iterator[int | None]:
    """Serve REGISTRY as Prometheus text at http://host:port/metrics in a thread for the
    block; port 0 picks a free port. Yields the bound port, or None when port is None (off)."""
    if port is None:
        yield None
        return
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        if isinstance(thread, threading.Thread):
            thread.join(timeout=5)
