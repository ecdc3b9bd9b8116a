"""`python -m bench.ml_drift` (part of `make bench`): issue 20 §5 on a running stack, through
the ingest API, with the background jobs on their default schedules. Adds "drift" to
results.json.

1. ML ingest with features against ML ingest without them. The same events (the seed's ML
   event, 100 rows: input_shape [100, 10], prediction_count 100), once bare and once carrying
   10 features of 100 rows (8 numeric, 2 categorical) and 100 numeric predictions, streamed by
   gRPC StreamEvents in batches of --batch-size with --in-flight batches in flight (the SDK's
   defaults: 8 in flight, and at most 1 MiB per batch, which 100 such events fill), to one
   tenant of the same stack. The two modes take turns over --rounds rounds (rotating which
   goes first); after each, the bench waits until the jobs have folded what it left (rollup
   and drift partials), so that the next mode does not pay for it. The messages are built
   before the clock starts: what is timed is the collector's work, from the first batch sent
   to the last acknowledged. Goal: with features >= 0.5 of the events/s without.
2. `GET /dashboard/ml-drift` over the last 30 days, 20 features (16 numeric, 4 categorical)
   and predictions, for two tenants: one with a small history and one with a 10x larger one
   (--small, --large events of --history-rows rows each), their timestamps spread evenly over
   the 30 days and the 7-day reference before them, sent through StreamEvents in time order.
   Once the drift job has folded them, the endpoint is called over the gateway's REST, the
   two tenants in turns (the same load on each); the medians are `ml_drift_30d_ms`, their
   ratio the growth (1.0: the read does not grow with the event count). Goal: <= 200 ms.
   The answer's row counts are checked against the rows sent into each window. To split the
   time, each call is followed by the collector's own MLDrift.report run in this process
   against the stack's database (no REST or gRPC hop), and by a bare fetch of the 37 days'
   day sketches (the database's part, at least).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import pathlib
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import psutil

from aegis.v1 import events_pb2
from bench.events import in_batches, seed_ml_event, to_proto
from bench.resend_stream import Batch, stream
from bench.stack import (
    DATABASE_NAME,
    Credentials,
    Stack,
    create_tenant_client,
    issue_token,
    running_stack,
)
from collector.domain import Kind
from collector.drift.report import MLDrift
from collector.store.storage import Storage, open_storage

HERE = pathlib.Path(__file__).resolve().parent
INGEST_ROWS, INGEST_NUMERIC, INGEST_CATEGORICAL = 100, 8, 2
HISTORY_NUMERIC, HISTORY_CATEGORICAL = 16, 4
CURRENT = dt.timedelta(days=30)
REFERENCE = dt.timedelta(days=7)  # the endpoint's default: the 7 days before the start
GOLDEN = (math.sqrt(5) - 1) / 2  # any prefix of the events covers the 37 days about evenly
INGEST_GOAL = 0.5
READ_GOAL_MS = 200.0
POLL_S = 0.5
ROLLUP_RETENTION_DAYS = 7.0  # the collector's default, which the stack keeps
MODES = ("plain", "features")


def say(text: str) -> None:
    print(f"bench.ml_drift: {text}", flush=True)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _columns(
    rng: np.random.Generator, rows: int, numeric: int, categorical: int, shifted: bool
) -> dict[str, events_pb2.FeatureValues]:
    """One event's feature columns. With `shifted`, the first numeric feature moves by one
    standard deviation, the second is scaled by 1.5 and the first categorical one favours
    other values: the current window drifts from the reference."""
    fv = events_pb2.FeatureValues
    out: dict[str, events_pb2.FeatureValues] = {}
    for i in range(numeric):
        values = rng.normal(i, 3, rows)
        if shifted and i == 0:
            values += 3
        if shifted and i == 1:
            values = (values - i) * 1.5 + i
        out[f"n{i}"] = fv(numbers=values.tolist())
    for i in range(categorical):
        choices = rng.zipf(1.5 if shifted and i == 0 else 2.0, rows) % (30 * (i + 1))
        out[f"c{i}"] = fv(strings=[f"c{k}" for k in choices.tolist()])
    return out


def ml_event(
    run: str,
    index: int,
    now: dt.datetime,
    rng: np.random.Generator | None,
    *,
    rows: int = INGEST_ROWS,
    numeric: int = INGEST_NUMERIC,
    categorical: int = INGEST_CATEGORICAL,
    at: dt.datetime | None = None,
    model_id: str | None = None,
    shifted: bool = False,
) -> events_pb2.MLEvent:
    """The seed's ML event `index` of `run` (as the ingest bench sends it); with `rng`, it
    also carries `numeric` + `categorical` feature columns of `rows` rows and the rows'
    predictions."""
    event = seed_ml_event(run, index, now)
    event.update(input_shape=[rows, numeric + categorical], prediction_count=rows)
    if at is not None:
        event["timestamp"] = at
    if model_id is not None:
        event["model_id"] = model_id
    message = to_proto(event)
    if rng is not None:
        for name, values in _columns(rng, rows, numeric, categorical, shifted).items():
            message.features[name].CopyFrom(values)
        message.predictions.numbers.extend(rng.random(rows).tolist())
    return message


# --- 1. ingest with features against without ---------------------------------------------


@dataclass
class Mode:
    """One mode's timed events and seconds over the rounds, and what the processes spent."""

    events: int = 0
    seconds: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    fold_after_s: float = 0.0
    retries: int = 0
    rounds: list[float] = field(default_factory=list)  # each round's events/s

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        out[name] = times.user + times.system
    return out


async def backlog_folded(storage: Storage, stall_s: float) -> int:
    """Wait until the rollup and drift jobs have folded every partial (nothing else writes
    meanwhile); give up once neither has folded any for `stall_s`. Returns how many are
    left. Estimated counts: cheap, and they do not slow the jobs waited for."""
    collections = (storage.partials, storage.drift_partials)
    left = [await c.estimated_document_count() for c in collections]
    progress = time.perf_counter()
    while any(left) and time.perf_counter() - progress < stall_s:
        await asyncio.sleep(POLL_S)
        now_left = [await c.estimated_document_count() for c in collections]
        if any(n < before for n, before in zip(now_left, left, strict=True)):
            progress = time.perf_counter()
        left = now_left
    return sum(left)


async def ingest_mode(
    stack: Stack,
    storage: Storage,
    who: Credentials,
    messages: Sequence[events_pb2.MLEvent],
    args: argparse.Namespace,
    mode: Mode,
) -> None:
    """One warm-up batch, then `messages` timed, then the wait for the jobs' folds."""
    batches: list[tuple[Kind, Batch]] = [("ml", b) for b in in_batches(messages, args.batch_size)]
    await stream(stack.grpc_target, who, batches[:1], args.in_flight, say)
    pids = {k: v for k, v in stack.pids.items() if k != "gateway"} | {"client": os.getpid()}
    started: list[float] = []
    before: dict[str, float] = {}

    def ready() -> None:
        before.update(_cpu(pids))
        started.append(time.perf_counter())

    streamed = await stream(stack.grpc_target, who, batches[1:], args.in_flight, say, ready=ready)
    took = time.perf_counter() - started[0]
    mode.seconds += took
    mode.rounds.append((len(messages) - len(batches[0][1])) / took)
    for name, spent in _cpu(pids).items():
        mode.cpu_s[name] = mode.cpu_s.get(name, 0.0) + spent - before[name]
    mode.events += len(messages) - len(batches[0][1])
    mode.retries += streamed.retries
    settle = time.perf_counter()
    await backlog_folded(storage, args.fold_stall)
    mode.fold_after_s += time.perf_counter() - settle


async def ingest(
    stack: Stack, storage: Storage, run: str, args: argparse.Namespace
) -> dict[str, Any]:
    who = await create_tenant_client(stack, f"bench-drift-ingest-{run}")
    now = dt.datetime.now(dt.UTC)
    rng = np.random.default_rng(20)
    per_round = max(2, args.ingest_events // args.rounds // args.batch_size) * args.batch_size
    modes = {name: Mode() for name in MODES}
    for round_no in range(args.rounds):
        order = MODES if round_no % 2 == 0 else MODES[::-1]
        for name in order:
            tag = f"{name}-{run}-{round_no}"
            with_features = rng if name == "features" else None
            messages = [ml_event(tag, i, now, with_features) for i in range(per_round)]
            await ingest_mode(stack, storage, who, messages, args, modes[name])
            say(
                f"round {round_no + 1}/{args.rounds} {name:<8} "
                f"{modes[name].events_per_s:6.0f} events/s so far "
                f"(folds after it, so far: {modes[name].fold_after_s:.0f} s)"
            )
    plain, features = modes["plain"], modes["features"]
    ratio = features.events_per_s / plain.events_per_s
    return {
        "events_per_s": {name: round(m.events_per_s) for name, m in modes.items()},
        "ratio": round(ratio, 3),
        # Each round's ratio: the machine's other load weighs on a round's two modes alike.
        "round_ratios": [
            round(f / p, 2) for f, p in zip(features.rounds, plain.rounds, strict=True)
        ],
        "goal": INGEST_GOAL,
        "verdict": "PASS" if ratio >= INGEST_GOAL else "MISS",
        "modes": {
            name: {
                "events": m.events,
                "seconds": round(m.seconds, 1),
                "cpu_ms_per_event": {
                    k: round(v * 1000 / m.events, 3) for k, v in sorted(m.cpu_s.items())
                },
                "rounds_events_per_s": [round(r) for r in m.rounds],
                "fold_after_s": round(m.fold_after_s, 1),
                "stream_retries": m.retries,
            }
            for name, m in modes.items()
        },
    }


# --- 2. ml-drift's read time over 30 days at two history sizes -----------------------------


@dataclass
class History:
    tenant: str
    token: str
    model_id: str
    size: int
    stamps: list[dt.datetime]
    figures: dict[str, Any] = field(default_factory=dict)

    def rows_within(self, start: dt.datetime, end: dt.datetime, rows: int) -> int:
        return sum(start <= at < end for at in self.stamps) * rows


def _stamp(index: int, now: dt.datetime) -> dt.datetime:
    ago = (index * GOLDEN) % 1.0 * (CURRENT + REFERENCE).total_seconds()
    at = now - dt.timedelta(seconds=ago)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


async def history(
    stack: Stack, storage: Storage, run: str, size: int, now: dt.datetime, args: argparse.Namespace
) -> History:
    """A tenant of its own with `size` events over the 37 days, sent and folded."""
    who = await create_tenant_client(stack, f"bench-drift-{run}-{size}")
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
        token = await issue_token(http, who)
    rng = np.random.default_rng(size)
    stamps = sorted(_stamp(i, now) for i in range(size))
    current_from = now - CURRENT
    messages = [
        ml_event(
            f"history-{run}-{size}",
            i,
            now,
            rng,
            rows=args.history_rows,
            numeric=HISTORY_NUMERIC,
            categorical=HISTORY_CATEGORICAL,
            at=at,
            model_id="churn",
            shifted=at >= current_from,
        )
        for i, at in enumerate(stamps)
    ]
    batches: list[tuple[Kind, Batch]] = [("ml", b) for b in in_batches(messages, args.batch_size)]
    started = time.perf_counter()
    streamed = await stream(stack.grpc_target, who, batches, args.in_flight, say)
    sent_s = time.perf_counter() - started
    partials = await storage.drift_partials.estimated_document_count()
    say(f"{size} events sent in {sent_s:.0f} s ({partials} drift partials); folding")
    left = await backlog_folded(storage, args.fold_stall)
    fold_s = time.perf_counter() - started - sent_s
    sketches = await storage.drift_day.count_documents({"tenant": who.tenant})
    say(f"{size} events folded in {fold_s:.0f} s ({left} partials left)")
    return History(
        who.tenant,
        token,
        "churn",
        size,
        stamps,
        {
            "events": size,
            "rows_sent_total": size * args.history_rows,
            "ingest_s": round(sent_s, 1),
            "ingest_events_per_s": round(size / sent_s),
            "stream_retries": streamed.retries,
            "drift_partials_unfolded_when_sent": partials,
            "fold_wait_s": round(fold_s, 1),
            "partials_left": left,
            "day_sketches": sketches,
        },
    )


def _drift_params(model_id: str, now: dt.datetime) -> dict[str, str]:
    def rfc3339(moment: dt.datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    return {"model_id": model_id, "start_date": rfc3339(now - CURRENT), "end_date": rfc3339(now)}


async def read_drift(http: httpx.AsyncClient, h: History) -> tuple[float, dict[str, Any]]:
    """One call of the endpoint over the last 30 days, as the ML page makes it: (ms, body)."""
    params = _drift_params(h.model_id, dt.datetime.now(dt.UTC))
    started = time.perf_counter()
    reply = await http.get(
        "/dashboard/ml-drift", params=params, headers={"Authorization": f"Bearer {h.token}"}
    )
    took = (time.perf_counter() - started) * 1000
    reply.raise_for_status()
    body: dict[str, Any] = reply.json()
    return took, body


async def query_in_process(storage: Storage, h: History) -> tuple[float, float]:
    """The same read without the REST and gRPC hops: the collector's MLDrift.report run in
    this process against the stack's database (ms), and of that, the database's part alone
    as a lower bound: fetching the 37 days' day sketches, undecoded (ms)."""
    now = dt.datetime.now(dt.UTC)
    params = _drift_params(h.model_id, now)
    dates = (params["start_date"], params["end_date"], "", "")
    started = time.perf_counter()
    await MLDrift(storage, retention_days=ROLLUP_RETENTION_DAYS).report(h.tenant, h.model_id, dates)
    report_ms = (time.perf_counter() - started) * 1000
    query = {
        "tenant": h.tenant,
        "model_id": h.model_id,
        "day": {"$gte": now - CURRENT - REFERENCE - dt.timedelta(days=1), "$lt": now},
    }
    started = time.perf_counter()
    found = [doc async for doc in storage.drift_day.find(query)]
    assert found
    return report_ms, (time.perf_counter() - started) * 1000


def check(h: History, body: dict[str, Any], rows: int) -> dict[str, Any]:
    """The answer's windows and rows against what was sent; its PSIs and statuses."""

    def window(name: str) -> tuple[dt.datetime, dt.datetime]:
        w = body[name]
        return dt.datetime.fromisoformat(w["start"]), dt.datetime.fromisoformat(w["end"])

    expected = {name: h.rows_within(*window(name), rows) for name in ("reference", "current")}
    got = {name: body[name]["rows"] for name in ("reference", "current")}
    return {
        "features": len(body["features"]),
        "rows": got,
        "rows_sent": expected,
        "rows_match": got == expected,
        "psi": {f["name"]: f["psi"] for f in body["features"][:3]},
        "status": {f["name"]: f["status"] for f in body["features"][:3]},
        "prediction_psi": body["predictions"]["psi"],
    }


def _summary(times: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(times), 1),
        "max": round(max(times), 1),
        "calls": [round(t, 1) for t in times],
    }


async def drift_reads(
    stack: Stack, storage: Storage, run: str, args: argparse.Namespace
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    histories = [await history(stack, storage, run, n, now, args) for n in (args.small, args.large)]
    turns: list[list[float]] = [[] for _ in histories]
    splits: list[list[tuple[float, float]]] = [[] for _ in histories]
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=60) as http:
        for h in histories:
            _, body = await read_drift(http, h)  # a warm-up
            h.figures.update(check(h, body, args.history_rows))
            say(f"{h.size} events: {json.dumps(h.figures)}")
        for _ in range(args.calls):
            for times, split, h in zip(turns, splits, histories, strict=True):
                times.append((await read_drift(http, h))[0])
                split.append(await query_in_process(storage, h))
    for times, split, h in zip(turns, splits, histories, strict=True):
        h.figures["read_ms"] = _summary(times)
        h.figures["in_process_report_ms"] = _summary([r for r, _ in split])
        h.figures["day_sketches_fetch_ms"] = _summary([f for _, f in split])
    small, large = (h.figures["read_ms"]["median"] for h in histories)
    return {
        "ml_drift_30d_ms": {str(h.size): h.figures["read_ms"]["median"] for h in histories},
        "growth": round(large / small, 2),
        "events_ratio": round(args.large / args.small, 2),
        "goal_ms": READ_GOAL_MS,
        "verdict": "PASS" if max(small, large) <= READ_GOAL_MS else "MISS",
        "in_process_report_ms": {
            str(h.size): h.figures["in_process_report_ms"]["median"] for h in histories
        },
        "day_sketches_fetch_ms": {
            str(h.size): h.figures["day_sketches_fetch_ms"]["median"] for h in histories
        },
        "sizes": [h.figures for h in histories],
    }


async def measure(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    run = secrets.token_hex(4)
    async with (
        running_stack(workdir) as stack,
        open_storage(stack.mongodb_url, DATABASE_NAME, 5000, 120_000) as storage,
    ):
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        ingest_figures = await ingest(stack, storage, run, args)
        say(
            f"ML ingest: {ingest_figures['events_per_s']} events/s, with features / without "
            f"{ingest_figures['ratio']} (by round {ingest_figures['round_ratios']}; goal >= "
            f"{INGEST_GOAL}) {ingest_figures['verdict']}"
        )
        read_figures = await drift_reads(stack, storage, run, args)
    return {
        "ingest": ingest_figures,
        "read": read_figures,
        "settings": {
            "ingest_event": f"{INGEST_ROWS} rows, {INGEST_NUMERIC} numeric + "
            f"{INGEST_CATEGORICAL} categorical features, numeric predictions",
            "history_event": f"{args.history_rows} rows, {HISTORY_NUMERIC} numeric + "
            f"{HISTORY_CATEGORICAL} categorical features, numeric predictions",
            "history_days": (CURRENT + REFERENCE).days,
            "ingest_events_per_mode": args.ingest_events,
            "rounds": args.rounds,
            "batch_size": args.batch_size,
            "in_flight": args.in_flight,
            "calls": args.calls,
            "ingest": "gRPC StreamEvents, background jobs on their default schedules",
            "collector_request_timeout_ms": args.request_timeout_ms,
        },
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ml_drift",
        description="ML ingest with features against without, and GET /dashboard/ml-drift's "
        "read time over 30 days at two history sizes (issue 20 §5); adds 'drift' to "
        "results.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--ingest-events",
        type=int,
        default=_env_int("BENCH_DRIFT_INGEST_EVENTS", 30_000),
        help="events per ingest mode over all rounds (env BENCH_DRIFT_INGEST_EVENTS)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=_env_int("BENCH_DRIFT_ROUNDS", 4),
        help="ingest rounds; each runs both modes, the first mode alternating "
        "(env BENCH_DRIFT_ROUNDS)",
    )
    p.add_argument(
        "--small",
        type=int,
        default=_env_int("BENCH_DRIFT_SMALL", 2000),
        help="events in the small tenant's 37 days (env BENCH_DRIFT_SMALL)",
    )
    p.add_argument(
        "--large",
        type=int,
        default=_env_int("BENCH_DRIFT_LARGE", 20_000),
        help="events in the large tenant's 37 days (env BENCH_DRIFT_LARGE)",
    )
    p.add_argument(
        "--history-rows",
        type=int,
        default=_env_int("BENCH_DRIFT_HISTORY_ROWS", 20),
        help="rows per history event (env BENCH_DRIFT_HISTORY_ROWS)",
    )
    p.add_argument(
        "--calls",
        type=int,
        default=_env_int("BENCH_DRIFT_CALLS", 15),
        help="timed ml-drift calls per size, after one warm-up (env BENCH_DRIFT_CALLS)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=_env_int("BENCH_DRIFT_BATCH_SIZE", 100),
        help="events per batch: 100 events of 100 rows x 11 columns fill the SDK's 1 MiB "
        "batch (env BENCH_DRIFT_BATCH_SIZE)",
    )
    p.add_argument("--in-flight", type=int, default=8, help="batches in flight (the SDK's)")
    p.add_argument(
        "--fold-stall",
        type=float,
        default=120.0,
        help="stop waiting for the jobs once they have folded nothing for this long (s)",
    )
    p.add_argument(
        "--request-timeout-ms",
        type=int,
        default=10_000,
        help="the stack collector's MONGODB_REQUEST_TIMEOUT_MS, as bench.alerts sets it: on "
        "a machine whose cores are shared, the default 1500 turns batches into timeouts and "
        "resends; both ingest modes run with the same",
    )
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results.json")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not 2 <= args.small < args.large:
        p.error("need 2 <= --small < --large")
    if min(args.calls, args.rounds, args.batch_size, args.in_flight, args.history_rows) < 1:
        p.error("--calls, --rounds, --batch-size, --in-flight and --history-rows must be >= 1")
    # SIGTERM unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Inherited by the stack's collector (stack.supervision.child_env).
    os.environ["MONGODB_REQUEST_TIMEOUT_MS"] = str(args.request_timeout_ms)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aegis-bench-drift-") as workdir:
        try:
            figures = asyncio.run(measure(args, pathlib.Path(workdir)))
        except BaseException:
            for log in sorted(pathlib.Path(workdir).glob("*.log")):
                lines = log.read_text(errors="replace").splitlines()
                if lines:
                    print(f"--- last lines of {log.name}", *lines[-15:], sep="\n", file=sys.stderr)
            raise
    figures["duration_s"] = round(time.perf_counter() - started)
    ingest_figures, read_figures = figures["ingest"], figures["read"]
    say(
        f"ML ingest {ingest_figures['events_per_s']} events/s; with features / without "
        f"{ingest_figures['ratio']} (goal >= {INGEST_GOAL}) {ingest_figures['verdict']}"
    )
    say(
        f"ml-drift over 30 days, median ms by history size {read_figures['ml_drift_30d_ms']}, "
        f"growth {read_figures['growth']} for {read_figures['events_ratio']}x the events "
        f"(goal <= {READ_GOAL_MS:.0f} ms) {read_figures['verdict']}; without the hops "
        f"(MLDrift.report in-process) {read_figures['in_process_report_ms']}, of which at "
        f"least the day sketches' fetch {read_figures['day_sketches_fetch_ms']}"
    )
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["drift"] = figures
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    say(f"wrote {args.out} (drift)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
