"""The collector's per-event ingest work, timed in-process on one batch of bench events.

Steps in the order the collector runs them: parse the StreamEvents request, convert each
event by field access (collector.api.proto_events), validate (collector.ingest.validation),
BSON-encode the document (what pymongo does inside insert_many). MessageToDict is timed as the
alternative the design rejects, so the claim "field access is much faster" carries a number.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import bson
from google.protobuf import json_format

from aegis.v1 import ingest_pb2
from bench.events import seed_ml_events, to_proto
from collector.api.proto_events import ml_event_from_proto
from collector.ingest.validation import fill_and_check_ml

REPEATS = 5


@dataclass(frozen=True)
class HotPath:
    parse_us: float
    convert_us: float
    message_to_dict_us: float
    validate_us: float
    bson_encode_us: float

    @property
    def message_to_dict_vs_convert(self) -> float:
        return self.message_to_dict_us / self.convert_us

    @property
    def total_us(self) -> float:
        return self.parse_us + self.convert_us + self.validate_us + self.bson_encode_us

    def as_dict(self) -> dict[str, float]:
        return {
            **asdict(self),
            "message_to_dict_vs_convert": self.message_to_dict_vs_convert,
            "total_us": self.total_us,
        }


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
    n = len(protos)

    def validate() -> None:
        # Our events carry every field, so validation fills nothing in: rerunning it is fair.
        for doc in converted:
            fill_and_check_ml(doc, now)

    return HotPath(
        parse_us=_best_us_per_event(lambda: ingest_pb2.StreamEventsRequest.FromString(wire), n),
        convert_us=_best_us_per_event(lambda: [ml_event_from_proto(p) for p in protos], n),
        message_to_dict_us=_best_us_per_event(
            lambda: [
                json_format.MessageToDict(p, preserving_proto_field_name=True) for p in protos
            ],
            n,
        ),
        validate_us=_best_us_per_event(validate, n),
        bson_encode_us=_best_us_per_event(lambda: [bson.encode(d) for d in converted], n),
    )
