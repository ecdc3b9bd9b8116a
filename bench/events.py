"""The benchmark's events: the seed's ML example with fresh ids and realistic metadata.

One canonical event (a plain dict with a datetime timestamp) and its three wire forms: the
REST JSON body, the protobuf message, and the document the collector stores. The stored form
is made by the collector's own conversion and validation, so the raw baseline writes exactly
the documents the gRPC and REST paths write.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2

from aegis.v1 import events_pb2
from collector import convert
from collector.validation import fill_and_check_ml

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


def seed_ml_events(run: str, total: int, now: dt.datetime) -> list[Event]:
    return [seed_ml_event(run, i, now) for i in range(total)]


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
        metadata_json=json.dumps(event["metadata"], separators=(",", ":")).encode(),
        latency_ms=event["latency_ms"],
    )


def to_document(event: Event, tenant: str, client_id: str, now: dt.datetime) -> Event:
    """What the collector stores for this event (collector.ingest adds the same three keys)."""
    doc = convert.ml_event_from_proto(to_proto(event))
    fill_and_check_ml(doc, now)
    doc.update(tenant=tenant, client_id=client_id, received_at=now)
    return doc
