"""The benchmark's events: the seed's ML example with fresh ids and realistic metadata, and
an LLM call like an instrumented chat service sends.

One canonical event (a plain dict with a datetime timestamp) and its wire forms: the REST JSON
body, the protobuf message, and the document the collector stores. The stored form is made by
the collector's own conversion and validation and gets the same keys collector.ingest adds
(`_id` from tenant and event_id included), so the raw baseline and the dashboards' seeding
write exactly the documents the gRPC and REST paths write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2

from aegis.v1 import events_pb2
from collector.api.proto_events import llm_event_from_proto, ml_event_from_proto
from collector.domain import Kind
from collector.ingest.batch import OPTIONAL
from collector.ingest.validation import fill_and_check_llm, fill_and_check_ml

Event = dict[str, Any]
T = TypeVar("T")

# The seed README's `POST /ingest/ml` example.
SEED_ML: Event = {
    "model_type": "RandomForestClassifier",
    "model_id": "model_hash_123",
    "input_shape": [100, 10],
    "prediction_count": 100,
}
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
ATTRIBUTION = (
    "user_id",
    "session_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "environment",
    "release",
    "tags",
)
# The ingest modes' events: sessions of 5 traces of 4 spans, 1,000 users taking turns. Every
# span names a parent (the caller's span, not sent), so every attribution field is set.
EVENTS_PER_TRACE = 4
EVENTS_PER_SESSION = 20
USERS = 1000


def seed_ml_event(run: str, index: int, now: dt.datetime) -> Event:
    """Event `index` of `run`: a unique event_id, metadata like an instrumented service sends."""
    return {
        "event_id": f"{run}-{index:08d}",
        **SEED_ML,
        "timestamp": now - dt.timedelta(milliseconds=index % 60_000),
        "latency_ms": 8.0 + (index % 97) / 10,
        "metadata": {
            "n_estimators": 100,
            "max_depth": 12,
            "threshold": 0.5,
            "environment": "production",
            "region": REGIONS[index % len(REGIONS)],
            "feature_set": "v3",
            "request_id": f"req-{index:012x}",
            "cached": index % 5 == 0,
            "labels": ["fraud", "card-present"],
            "host": {"name": f"scorer-{index % 4}", "version": "1.4.2"},
        },
    }


def attribution(run: str, index: int) -> Event:
    """Every attribution field of event `index` of `run`, with ids unique to the run (the
    modes share a tenant): its user, session and trace, its span and its parent."""
    prefix = hashlib.blake2b(run.encode(), digest_size=4).hexdigest()
    trace, session = index // EVENTS_PER_TRACE, index // EVENTS_PER_SESSION
    return {
        "user_id": f"user-{session % USERS:04d}",
        "session_id": f"{prefix}-session-{session:08d}",
        "trace_id": f"{prefix}{trace + 1:024x}",
        "span_id": f"{prefix[:6]}{index + 1:010x}",
        "parent_span_id": f"{prefix[:6]}{0x80_0000_0000 + trace:010x}",
        "environment": "production",
        "release": "1.4.2",
        "tags": ["checkout", "pro" if index % 3 else "free"],
    }


def seed_ml_events(run: str, total: int, now: dt.datetime) -> list[Event]:
    """The ingest modes' events: the seed's, each with every attribution field set."""
    return [seed_ml_event(run, i, now) | attribution(run, i) for i in range(total)]


def llm_event(run: str, index: int, now: dt.datetime) -> Event:
    """LLM call `index` of `run`: token counts, cost at a small model's prices, 1 in 50 failed."""
    input_tokens = 150 + (index * 37) % 900
    output_tokens = 40 + (index * 53) % 400
    return {
        "event_id": f"{run}-{index:08d}",
        "model_name": "gpt-4o-mini",
        "prompt_length": input_tokens * 4,
        "response_length": output_tokens * 4,
        "tokens_used": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": (input_tokens * 0.15 + output_tokens * 0.6) / 1e6,
        "timestamp": now - dt.timedelta(milliseconds=index % 60_000),
        "latency_ms": 250.0 + (index * 7919) % 2500,
        "error": "RateLimitError" if index % 50 == 0 else "",
        "metadata": {
            "environment": "production",
            "region": REGIONS[index % len(REGIONS)],
            "prompt_template": "support-answer-v7",
            "temperature": 0.2,
            "user_tier": "pro" if index % 3 else "free",
            "request_id": f"req-{index:012x}",
            "stream": index % 4 == 0,
        },
    }


def in_batches(events: Sequence[T], size: int) -> list[Sequence[T]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def to_json(event: Event) -> Event:
    """The REST body form: RFC 3339 timestamp, everything else as is."""
    ts: dt.datetime = event["timestamp"]
    return {**event, "timestamp": ts.isoformat().replace("+00:00", "Z")}


def to_proto(event: Event) -> events_pb2.MLEvent:
    """The gRPC form, metadata encoded as the SDK sends it (JSON text)."""
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(event["timestamp"])
    return events_pb2.MLEvent(
        event_id=event["event_id"],
        model_type=event["model_type"],
        model_id=event["model_id"],
        input_shape=event["input_shape"],
        prediction_count=event["prediction_count"],
        timestamp=timestamp,
        metadata_json=_metadata_json(event),
        latency_ms=event["latency_ms"],
        error=event.get("error", ""),
        **_attribution(event),
    )


def to_llm_proto(event: Event) -> events_pb2.LLMEvent:
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(event["timestamp"])
    return events_pb2.LLMEvent(
        event_id=event["event_id"],
        model_name=event["model_name"],
        prompt_length=event["prompt_length"],
        response_length=event["response_length"],
        tokens_used=event["tokens_used"],
        input_tokens=event["input_tokens"],
        output_tokens=event["output_tokens"],
        cost=event["cost"],
        timestamp=timestamp,
        metadata_json=_metadata_json(event),
        latency_ms=event["latency_ms"],
        error=event["error"],
        **_attribution(event),
    )


def _attribution(event: Event) -> Event:
    return {name: event[name] for name in ATTRIBUTION if event.get(name)}


def _metadata_json(event: Event) -> bytes:
    return json.dumps(event["metadata"], separators=(",", ":")).encode()


def to_document(
    event: Event, tenant: str, client_id: str, now: dt.datetime, kind: Kind = "ml"
) -> Event:
    """What the collector stores for this event: converted and validated by the collector's
    own code, then given the keys collector.ingest adds, in the same way."""
    if kind == "ml":
        doc = ml_event_from_proto(to_proto(event))
        fill_and_check_ml(doc, now)
    else:
        doc = llm_event_from_proto(to_llm_proto(event))
        fill_and_check_llm(doc, now)
    doc.update(tenant=tenant, client_id=client_id, received_at=now)
    doc["_id"] = f"{tenant}:{doc['event_id']}"
    for optional in OPTIONAL:
        if doc.get(optional) in (None, ""):
            doc.pop(optional, None)
    return doc
