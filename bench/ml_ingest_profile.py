"""`python -m bench.ml_ingest_profile`: where the collector's time goes per ML event with
features, against the same event without (issue 20 §5's ingest ratio), in-process.

One batch at a time, through the collector's own steps on an embedded database of its own:
parse the StreamEvents request (protobuf), convert each event (collector.api.proto_events),
then IngestService.ingest (validation with the features' checks, taking the drift inputs,
and the transaction: events, rollup partial, listing, explore rows and, with features, the
drift partials built by collector.drift.partials). Batches of bench.ml_drift's events (100
rows, 10 features, predictions), the two modes alternating. Prints wall ms per event for
each step and, for the ingest step with features, the functions with the most own time
(cProfile) and the cumulative time of the drift and database steps. Not part of
`make bench`: it explains a figure of bench.ml_drift, it is not one.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from aegis.v1 import ingest_pb2
from bench.ml_drift import ml_event
from collector.api.proto_events import ml_event_from_proto
from collector.domain import Principal
from collector.ingest.batch import IngestService
from collector.store.embedded import embedded_database
from collector.store.storage import open_storage

# (label, the function's file ends with, its name): cumulative time inside ingest.
WATCHED = (
    ("validation (fill_and_check_ml)", "ingest/validation.py", "fill_and_check_ml"),
    ("features.check", "ingest/features.py", "check"),
    ("take_inputs", "drift/partials.py", "take_inputs"),
    ("drift_partials (sketch + serialise)", "drift/partials.py", "drift_partials"),
    ("insert_new (transaction, its encoding)", "store/storage.py", "insert_new"),
    ("bson encode (pymongo, C)", "", "_do_batched_op_msg"),
)


def _wire(run: str, first: int, size: int, with_features: bool, rng: np.random.Generator) -> bytes:
    now = dt.datetime.now(dt.UTC)
    events = [ml_event(run, first + i, now, rng if with_features else None) for i in range(size)]
    request = ingest_pb2.StreamEventsRequest(
        sequence=1, ml=ingest_pb2.IngestMLRequest(events=events)
    )
    return request.SerializeToString()


async def profile(batches: int, size: int) -> dict[str, Any]:
    rng = np.random.default_rng(20)
    principal = Principal("profile", "profile", frozenset({"ingest"}))
    steps: dict[str, dict[str, float]] = {
        m: {"parse": 0.0, "convert": 0.0, "ingest": 0.0} for m in ("plain", "features")
    }
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="aegis-profile-") as workdir:
        async with (
            embedded_database(Path(workdir)) as url,
            open_storage(url, "aegisai", 5000, 30_000) as storage,
        ):
            service = IngestService(storage)
            for n in range(batches + 1):  # the first of each mode is a warm-up
                for mode in ("plain", "features"):
                    wire = _wire(mode, n * size, size, mode == "features", rng)
                    t0 = time.perf_counter()
                    request = ingest_pb2.StreamEventsRequest.FromString(wire)
                    t1 = time.perf_counter()
                    docs: list[dict[str, Any] | Any] = [
                        ml_event_from_proto(e) for e in request.ml.events
                    ]
                    t2 = time.perf_counter()
                    watch = mode == "features" and n > 0
                    if watch:
                        profiler.enable()
                    result = await service.ingest(principal, "ml", docs)
                    if watch:
                        profiler.disable()
                    t3 = time.perf_counter()
                    assert result.accepted == size, result
                    if n > 0:
                        for step, took in zip(
                            ("parse", "convert", "ingest"), (t1 - t0, t2 - t1, t3 - t2), strict=True
                        ):
                            steps[mode][step] += took
    events = batches * size
    per_event = {
        mode: {k: round(v * 1000 / events, 3) for k, v in s.items()} for mode, s in steps.items()
    }
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    own: list[tuple[float, str]] = []
    for (path, _line, name), (_cc, _nc, tottime, cumtime, _callers) in raw.items():
        for label, suffix, wanted in WATCHED:
            if name == wanted and path.endswith(suffix):
                cumulative[label] = cumulative.get(label, 0.0) + cumtime
        own.append((tottime, f"{Path(path).name}:{name}"))
    own.sort(reverse=True)
    return {
        "events_per_mode": events,
        "batch_size": size,
        "wall_ms_per_event": per_event,
        "features_ingest_cpu_ms_per_event_cumulative": {
            k: round(v * 1000 / events, 3) for k, v in cumulative.items()
        },
        "features_ingest_own_ms_per_event_top": {
            name: round(t * 1000 / events, 3) for t, name in own[:15]
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ml_ingest_profile", description=__doc__)
    p.add_argument("--batches", type=int, default=20, help="timed batches per mode")
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(profile(args.batches, args.batch_size)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
