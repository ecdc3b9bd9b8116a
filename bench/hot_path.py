"""The collector's per-event ingest work, timed in-process on one batch of bench events.

Steps in the order the collector runs them: read the StreamEvents request into dicts as the
servicer does (collector.api.ingest_service.stream_request: off the wire by
collector.api.wire_events when built), validate (collector.ingest.validation), encode the
documents to BSON (collector.store.raw_documents). The paths they replace are timed beside
them: protobuf's parse with collector.api.proto_events' field access, PyMongo's bson.encode,
and MessageToDict, the alternative the design rejected first.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import bson
from google.protobuf import json_format

from aegis.v1 import ingest_pb2
from bench.events import seed_ml_events, to_document, to_proto
from collector.api.ingest_service import stream_request
from collector.api.proto_events import ml_event_from_proto
from collector.ingest.validation import fill_and_check_ml
from collector.store.raw_documents import raw_documents

REPEATS = 5


@dataclass(frozen=True)
class HotPath:
    read_us: float  # the servicer's read: parse and convert
    protobuf_read_us: float  # protobuf's parse, then proto_events
    message_to_dict_us: float  # protobuf's parse, then MessageToDict
    validate_us: float
    bson_encode_us: float  # raw_documents
    pymongo_encode_us: float  # bson.encode

    @property
    def total_us(self) -> float:
        return self.read_us + self.validate_us + self.bson_encode_us

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_us": self.total_us}


def _best_us_per_event(work: Callable[[], object], events: int) -> float:
    """Fastest of a few runs: the cost of the code, not of whatever else the machine did."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1e6 / events


def measure(batch_size: int) -> HotPath:
    now = dt.datetime.now(dt.UTC)
    batch = seed_ml_events("hotpath", batch_size, now)
    protos = [to_proto(e) for e in batch]
    wire = ingest_pb2.StreamEventsRequest(
        sequence=1, ml=ingest_pb2.IngestMLRequest(events=protos)
    ).SerializeToString()
    converted = [ml_event_from_proto(p) for p in protos]
    for doc in converted:
        fill_and_check_ml(doc, now)
    stored = [to_document(e, "bench", "bench", now) for e in batch]  # with their _id
    n = len(protos)

    def validate() -> None:
        # Our events carry every field, so validation fills nothing in: rerunning it is fair.
        for doc in converted:
            fill_and_check_ml(doc, now)

    def parsed() -> ingest_pb2.StreamEventsRequest:
        return ingest_pb2.StreamEventsRequest.FromString(wire)

    return HotPath(
        read_us=_best_us_per_event(lambda: stream_request(wire), n),
        protobuf_read_us=_best_us_per_event(
            lambda: [ml_event_from_proto(p) for p in parsed().ml.events], n
        ),
        message_to_dict_us=_best_us_per_event(
            lambda: [
                json_format.MessageToDict(p, preserving_proto_field_name=True)
                for p in parsed().ml.events
            ],
            n,
        ),
        validate_us=_best_us_per_event(validate, n),
        bson_encode_us=_best_us_per_event(lambda: raw_documents(stored), n),
        pymongo_encode_us=_best_us_per_event(lambda: [bson.encode(d) for d in stored], n),
    )
