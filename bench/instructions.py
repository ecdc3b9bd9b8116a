"""`python -m bench.instructions`: the collector's instructions per event (gRPC, REST) or per
span (OTLP), counted by valgrind's callgrind, for changes too small for the noise of timings.

Wall and CPU times on these shared 2-core machines vary by a quarter from one run to the next
(docs/benchmarks.md), so a change of 1 % cannot be seen in them; the instructions the CPU
executes for the same work vary by under 0.1 %. This runs the collector's own steps in one
process, as bench.ml_ingest_profile does, on an embedded database of its own: parse the
request as gRPC hands it over (StreamEventsRequest, read as the servicer reads it:
collector.api.wire_events; for REST the IngestMLJsonRequest the gateway forwards, its events
as one JSON text; OTLP's ExportTraceServiceRequest, read as the servicer reads it:
collector.otlp.wire_spans), convert (collector.api.json_events) and ingest
(IngestService.ingest, or OtlpIngest.export: validation, pricing, the transaction with its
partial, listing and explore rows). Batches of the bench's events (bench.events:
seed-shaped ML events with every attribution field; bench.otlp_ingest: agent traces of 6
spans, 2 of them LLM calls), 500 a batch, built before any is ingested.

It runs itself twice under callgrind, ingesting FEW and MANY batches, and reports the
difference of the main thread's instructions divided by the events (spans) of the extra
batches: start-up, imports and the building of batches cancel out. The database is a child
process and not counted; neither is anything but the main thread (numpy's OpenBLAS threads
spin, and are kept to one). Under callgrind the collector runs ~50x slower, so a run of each
mode takes a few minutes. Not part of `make bench`: it needs valgrind, and it explains figures
rather than being one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Any

BATCH = 500
FEW, MANY = 10, 30
WARM_UP = 2  # batches ingested before the counted ones, in both runs


def _grpc_batches(count: int) -> list[bytes]:
    from aegis.v1 import ingest_pb2
    from bench.events import seed_ml_events, to_proto

    now = dt.datetime.now(dt.UTC)
    return [
        ingest_pb2.StreamEventsRequest(
            sequence=n,
            ml=ingest_pb2.IngestMLRequest(
                events=[to_proto(e) for e in seed_ml_events(f"batch{n}", BATCH, now)]
            ),
        ).SerializeToString()
        for n in range(count)
    ]


def _rest_batches(count: int) -> list[bytes]:
    from aegis.v1 import ingest_pb2
    from bench.events import seed_ml_events, to_json

    now = dt.datetime.now(dt.UTC)
    return [
        ingest_pb2.IngestMLJsonRequest(
            events_json=json.dumps(
                [to_json(e) for e in seed_ml_events(f"batch{n}", BATCH, now)]
            ).encode()
        ).SerializeToString()
        for n in range(count)
    ]


def _otlp_batches(count: int) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from bench.otlp_ingest import LLM_PER_TRACE, SPANS_PER_TRACE, make_spans

    spans = make_spans(count * BATCH * LLM_PER_TRACE // SPANS_PER_TRACE, "instructions")
    return [
        encode_spans(spans[i : i + BATCH]).SerializeToString()
        for i in range(0, count * BATCH, BATCH)
    ]


async def _ingest(mode: str, batches: int, total: int) -> int:
    """Ingest the first `batches` of `total` built batches; return the events (spans) stored."""

    from aegis.v1 import ingest_pb2
    from collector.api import json_events
    from collector.api.ingest_service import stream_batch_from_proto, stream_request
    from collector.domain import Principal
    from collector.ingest.batch import IngestService
    from collector.ingest.invalid import Invalid
    from collector.otlp.service import OtlpIngest
    from collector.otlp.servicer import export_request
    from collector.otlp.spans import spans_of
    from collector.store.embedded import embedded_database
    from collector.store.storage import open_storage

    wires = {"grpc": _grpc_batches, "rest": _rest_batches, "otlp": _otlp_batches}[mode](total)
    principal = Principal("instructions", "instructions", frozenset({"ingest"}))
    stored = 0
    with tempfile.TemporaryDirectory(prefix="aegis-instructions-") as workdir:
        async with (
            embedded_database(pathlib.Path(workdir)) as url,
            open_storage(url, "aegisai", 5000, 30_000) as storage,
        ):
            ingest = IngestService(storage)
            otlp = OtlpIngest(ingest)
            for wire in wires[:batches]:
                if mode in ("grpc", "rest"):
                    docs: list[dict[str, Any] | Invalid]
                    if mode == "grpc":
                        # As the servicer reads it (collector.api.wire_events when built).
                        docs = stream_batch_from_proto(stream_request(wire)).events
                    else:
                        batch = ingest_pb2.IngestMLJsonRequest.FromString(wire)
                        docs = [
                            json_events.ml_event_from_data(e)
                            for e in json_events.decoded_events(batch)
                        ]
                    result = await ingest.ingest(principal, "ml", docs)
                    assert result.accepted == len(docs), result
                    stored += result.accepted
                else:
                    read = export_request(wire)  # as the servicer reads it
                    spans = read if isinstance(read, list) else spans_of(read)
                    outcome = await otlp.export(principal, spans)
                    assert outcome.accepted and outcome.spans_stored, outcome
                    stored += len(spans)
    return stored


def _main_thread_instructions(out: pathlib.Path) -> int:
    """The main thread's instructions: what callgrind counts below `main`."""
    report = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=none", "--auto=no", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in report.splitlines():
        if "(below main)" in line and "libc_start_call_main" in line:
            return int(line.split()[0].replace(",", ""))
    raise RuntimeError(f"no main thread in {out}'s callgrind report")


def _counted(mode: str, batches: int, workdir: pathlib.Path) -> int:
    out = workdir / f"{mode}-{batches}.callgrind"
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--trace-children=no",
            sys.executable,
            "-m",
            "bench.instructions",
            "--inner",
            mode,
            str(WARM_UP + batches),
            str(WARM_UP + MANY),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _main_thread_instructions(out)


def measure(mode: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aegis-callgrind-") as tmp:
        workdir = pathlib.Path(tmp)
        few, many = _counted(mode, FEW, workdir), _counted(mode, MANY, workdir)
    unit = "span" if mode == "otlp" else "event"
    return {
        "mode": mode,
        f"instructions_per_{unit}": round((many - few) / ((MANY - FEW) * BATCH)),
        "batches": [FEW, MANY],
        "batch_size": BATCH,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    p.add_argument(
        "--mode", choices=("grpc", "rest", "otlp"), action="append", help="default: all three"
    )
    p.add_argument("--inner", nargs=3, metavar=("MODE", "BATCHES", "TOTAL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner:
        from collector.app.server import tune_garbage_collector

        mode, batches, total = args.inner
        tune_garbage_collector()  # as the collector does at start
        asyncio.run(_ingest(mode, int(batches), int(total)))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        p.error("needs valgrind (apt install valgrind)")
    for mode in args.mode or ["grpc", "rest", "otlp"]:
        print(json.dumps(measure(mode)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
