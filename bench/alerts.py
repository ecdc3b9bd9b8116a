"""`python -m bench.alerts` (`make bench-alerts`): one 7-day alert rule's evaluation time for a
tenant with a small history and one with a large history, added to results.json as "alerts".

Each tenant gets its events, half ML and half LLM, 2 models of each kind (--models), spread
over the last 8 days, so that the 7-day window's old edge lies where minute buckets are no
longer kept (ROLLUP_RETENTION_DAYS, 7). They go through the collector's gRPC StreamEvents as
an application streams them (batches in time order, a few in flight), with the stack's
background jobs running on their default schedules. Once the rollup job has folded them, the
value of an `error_rate` rule over 10,080 minutes (both kinds: both event collections) is
computed by the collector's own RollupMetrics against the stack's database, as the alerts job
computes it: right after each history is folded, and again for both tenants in turns once
both are stored (the same load on each). The median of the turns is `alert_eval_7d_ms`; the
large tenant's over the small one's is the growth (1.0: the evaluation does not grow with the
event count). Each value is checked against a brute-force count over the events sent.

Alongside, an anomaly rule on `error_rate` over 360 minutes (the longest an anomaly rule may
have): its window and 24 baseline windows read in one pass (RollupMetrics.with_baseline),
timed the same way (`alert_anomaly_6h_ms`), each of the 25 windows' values checked against
brute force.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
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

from pymongo.errors import NetworkTimeout

from bench.events import Event, in_batches, llm_event, seed_ml_event
from bench.resend_stream import stream
from bench.stack import DATABASE_NAME, Stack, create_tenant_client, running_stack
from collector.alerts.anomaly import MAX_WINDOW_MINUTES
from collector.alerts.metrics import RollupMetrics, baseline_bounds
from collector.domain import Kind
from collector.rollups.reader import minutes_kept_since, read_window
from collector.store.storage import Storage, open_storage

HERE = pathlib.Path(__file__).resolve().parent
DAYS = 8
WINDOW = dt.timedelta(days=7)
ANOMALY_WINDOW = dt.timedelta(minutes=MAX_WINDOW_MINUTES)
# Each batch of a backfill holds a cell per (model, minute): few models keep folds short.
MODELS_PER_KIND = 2
ROLLUP_RETENTION_DAYS = 7.0  # the collector's default, which the stack keeps
GOLDEN = (math.sqrt(5) - 1) / 2  # any prefix of the events covers the 8 days about evenly
POLL_S = 0.5


def say(text: str) -> None:
    print(f"bench.alerts: {text}", flush=True)


def history_event(run: str, index: int, now: dt.datetime, models: int) -> tuple[Kind, Event]:
    """Event `index`: even ML (1 in 100 failed), odd LLM (1 in 50 failed)."""
    model = (index // 2) % models
    timestamp = now - dt.timedelta(seconds=(index * GOLDEN) % 1.0 * DAYS * 86_400)
    timestamp = timestamp.replace(microsecond=timestamp.microsecond // 1000 * 1000)
    if index % 2 == 0:
        ml = seed_ml_event(run, index, now)
        ml.update(model_id=f"ml-model-{model:02d}", timestamp=timestamp)
        ml["error"] = "ValueError" if index % 100 == 0 else ""
        return "ml", ml
    llm = llm_event(run, index, now)
    llm.update(model_name=f"llm-model-{model:02d}", timestamp=timestamp)
    return "llm", llm


@dataclass
class Sent:
    """What was sent, for the brute-force check: (timestamp, failed) of every event."""

    events: list[tuple[dt.datetime, bool]] = field(default_factory=list)

    def error_rate(self, start: dt.datetime, end: dt.datetime) -> float | None:
        inside = [failed for at, failed in self.events if start <= at < end]
        return sum(inside) / len(inside) if inside else None


def batches_of(
    run: str, first: int, end: int, now: dt.datetime, args: argparse.Namespace, sent: Sent
) -> list[tuple[Kind, Sequence[Event]]]:
    by_kind: dict[Kind, list[Event]] = {"ml": [], "llm": []}
    for index in range(first, end):
        kind, event = history_event(run, index, now, args.models)
        by_kind[kind].append(event)
        sent.events.append((event["timestamp"], bool(event["error"])))
    lanes = [
        [
            (kind, batch)
            for batch in in_batches(sorted(events, key=lambda e: e["timestamp"]), args.batch_size)
        ]
        for kind, events in by_kind.items()
    ]
    return [pair for row in itertools.zip_longest(*lanes) for pair in row if pair is not None]


async def until_folded(storage: Storage, stall_s: float) -> int:
    """Wait until the collector's rollup job has folded every partial (nothing else writes
    meanwhile); give up once it has folded none for `stall_s`. Returns how many are left."""
    left = await storage.partials.estimated_document_count()
    progress = time.perf_counter()
    while left and time.perf_counter() - progress < stall_s:
        await asyncio.sleep(POLL_S)
        try:
            now_left = await storage.partials.estimated_document_count()
        except NetworkTimeout:
            continue
        if now_left < left:
            progress = time.perf_counter()
        left = now_left
    return left


async def evaluate(metrics: RollupMetrics, tenant: str) -> tuple[float, float | None]:
    """One evaluation of the 7-day error_rate rule at the current time: (ms, value)."""
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    value = await metrics.window_value(tenant, "error_rate", None, now - WINDOW, now)
    return (time.perf_counter() - started) * 1000, value


async def evaluate_anomaly(metrics: RollupMetrics, tenant: str) -> float:
    """One evaluation of the 6-hour error_rate anomaly rule at the current time: ms."""
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    await metrics.with_baseline(tenant, "error_rate", None, now - ANOMALY_WINDOW, now)
    return (time.perf_counter() - started) * 1000


async def check_anomaly(storage: Storage, tenant: str, sent: Sent) -> dict[str, Any]:
    """The anomaly rule's 25 windows (24 baseline, then the current one) against brute force."""
    now = dt.datetime.now(dt.UTC)
    metrics = RollupMetrics(storage, minute_retention_days=ROLLUP_RETENTION_DAYS)
    start = now - ANOMALY_WINDOW
    value, windows = await metrics.with_baseline(tenant, "error_rate", None, start, now)
    bounds = baseline_bounds(start, now, minutes_kept_since(ROLLUP_RETENTION_DAYS))
    expected = [sent.error_rate(a, b) for a, b in itertools.pairwise(bounds)]
    got = [*windows, value]
    matching = sum(g == e for g, e in zip(got, expected, strict=True))
    return {"anomaly_windows": len(got), "anomaly_windows_matching_brute_force": matching}


async def check(storage: Storage, tenant: str, sent: Sent) -> dict[str, Any]:
    """The rule's value against brute force over the events sent (the window's old edge as a
    minute and as its whole hour), and how many buckets and partial cells an evaluation
    reads: what its cost grows with."""
    now = dt.datetime.now(dt.UTC)
    metrics = RollupMetrics(storage, minute_retention_days=ROLLUP_RETENTION_DAYS)
    value = await metrics.window_value(tenant, "error_rate", None, now - WINDOW, now)
    since = minutes_kept_since(ROLLUP_RETENTION_DAYS)
    read = [await read_window(storage, tenant, k, now - WINDOW, now, since) for k in ("ml", "llm")]
    start = (now - WINDOW).replace(second=0, microsecond=0)
    end = now + dt.timedelta(minutes=1)
    expected = {
        "minute_edges": sent.error_rate(start, end),
        "hour_at_old_edge": sent.error_rate(start.replace(minute=0), end),
    }
    return {
        "pieces_read": sum(len(kind) for kind in read),
        "value": value,
        "brute_force": expected,
        "value_matches": [k for k, v in expected.items() if v is not None and value == v],
    }


async def history(
    stack: Stack, storage: Storage, run: str, size: int, now: dt.datetime, args: argparse.Namespace
) -> tuple[str, dict[str, Any]]:
    """A tenant of its own with `size` events, sent and folded; its tenant and figures."""
    who = await create_tenant_client(stack, f"bench-alerts-{run}-{size}")
    sent = Sent()
    batches = batches_of(f"{run}-{size}", 0, size, now, args, sent)
    started = time.perf_counter()
    streamed = await stream(stack.grpc_target, who, batches, args.in_flight, say)
    sent_s = time.perf_counter() - started
    say(f"{size} events sent in {sent_s:.0f} s; folding")
    left = await until_folded(storage, args.fold_stall)
    fold_s = time.perf_counter() - started - sent_s
    metrics = RollupMetrics(storage, minute_retention_days=ROLLUP_RETENTION_DAYS)
    await evaluate(metrics, who.tenant)  # a warm-up
    times = [(await evaluate(metrics, who.tenant))[0] for _ in range(args.calls)]
    await evaluate_anomaly(metrics, who.tenant)  # a warm-up
    anomaly_times = [await evaluate_anomaly(metrics, who.tenant) for _ in range(args.calls)]
    figures = {
        "events": size,
        "ingest_s": round(sent_s, 1),
        "ingest_events_per_s": round(size / sent_s),
        "fold_wait_s": round(fold_s, 1),
        "partials_left": left,
        "stream_retries": streamed.retries,
        "stream_errors": streamed.errors,
        "eval_ms_right_after": _summary(times),
        "anomaly_eval_ms_right_after": _summary(anomaly_times),
        **await check(storage, who.tenant, sent),
        **await check_anomaly(storage, who.tenant, sent),
    }
    say(
        f"{size} events: fold waited {fold_s:.0f} s; 7-day rule evaluated in "
        f"{figures['eval_ms_right_after']['median']} ms (median of {len(times)}, "
        f"{figures['pieces_read']} buckets and cells read), value {figures['value']}, "
        f"brute force {figures['brute_force']}; 6-hour anomaly rule in "
        f"{figures['anomaly_eval_ms_right_after']['median']} ms, "
        f"{figures['anomaly_windows_matching_brute_force']} of {figures['anomaly_windows']} "
        "windows as brute force"
    )
    return who.tenant, figures


def _summary(times: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(times), 2),
        "max": round(max(times), 2),
        "calls": [round(t, 2) for t in times],
    }


async def measure(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    """One tenant per size, on one stack. Each is timed right after its history is folded,
    and, once every history is stored, all of them again in turns, so that the machine's load
    weighs on every size alike: those times are `alert_eval_7d_ms`."""
    run = secrets.token_hex(4)
    now = dt.datetime.now(dt.UTC)
    sizes: list[dict[str, Any]] = []
    async with (
        running_stack(workdir) as stack,
        open_storage(stack.mongodb_url, DATABASE_NAME, 5000, 120_000) as storage,
    ):
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        tenants: list[str] = []
        for size in (args.small, args.large):
            tenant, figures = await history(stack, storage, run, size, now, args)
            tenants.append(tenant)
            sizes.append(figures)
        metrics = RollupMetrics(storage, minute_retention_days=ROLLUP_RETENTION_DAYS)
        turns: list[list[float]] = [[] for _ in tenants]
        anomaly_turns: list[list[float]] = [[] for _ in tenants]
        for _ in range(args.calls):
            for times, anomaly_times, tenant in zip(turns, anomaly_turns, tenants, strict=True):
                times.append((await evaluate(metrics, tenant))[0])
                anomaly_times.append(await evaluate_anomaly(metrics, tenant))
    for figures, times, anomaly_times in zip(sizes, turns, anomaly_turns, strict=True):
        figures["eval_ms_in_turns"] = _summary(times)
        figures["anomaly_eval_ms_in_turns"] = _summary(anomaly_times)
    small, large = (f["eval_ms_in_turns"]["median"] for f in sizes)
    return {
        "alert_eval_7d_ms": {str(f["events"]): f["eval_ms_in_turns"]["median"] for f in sizes},
        "alert_anomaly_6h_ms": {
            str(f["events"]): f["anomaly_eval_ms_in_turns"]["median"] for f in sizes
        },
        "growth": round(large / small, 2),
        "events_ratio": round(args.large / args.small, 2),
        "sizes": sizes,
        "settings": {
            "metric": "error_rate",
            "window_minutes": int(WINDOW.total_seconds() // 60),
            "history_days": DAYS,
            "models": 2 * args.models,
            "rollup_retention_days": ROLLUP_RETENTION_DAYS,
            "batch_size": args.batch_size,
            "in_flight": args.in_flight,
            "calls": args.calls,
            "ingest": "gRPC StreamEvents, background jobs on their default schedules",
            "collector_request_timeout_ms": args.request_timeout_ms,
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.split("\n")[0])
    p.add_argument(
        "--small",
        type=int,
        default=int(os.environ.get("BENCH_ALERT_SMALL", 100_000)),
        help="events in the small tenant's history (env BENCH_ALERT_SMALL)",
    )
    p.add_argument(
        "--large",
        type=int,
        default=int(os.environ.get("BENCH_ALERT_LARGE", 1_000_000)),
        help="events in the large tenant's history (env BENCH_ALERT_LARGE)",
    )
    p.add_argument("--calls", type=int, default=20, help="timed evaluations per size")
    p.add_argument("--models", type=int, default=MODELS_PER_KIND, help="models of each kind")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--in-flight", type=int, default=2)
    p.add_argument(
        "--fold-stall",
        type=float,
        default=120.0,
        help="stop waiting for the rollup job once it has folded nothing for this long (s)",
    )
    p.add_argument(
        "--request-timeout-ms",
        type=int,
        default=10_000,
        help="the stack collector's MONGODB_REQUEST_TIMEOUT_MS: on a machine whose cores are "
        "shared, 1500 (the default) turns the history's batches into timeouts and retries; "
        "what is timed here, the rule's evaluation, does not depend on it",
    )
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    if not 2 <= args.small < args.large or min(args.calls, args.models) < 1:
        p.error("need 2 <= --small < --large, --calls >= 1 and --models >= 1")
    # SIGTERM unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Inherited by the stack's collector (stack.supervision.child_env).
    os.environ["MONGODB_REQUEST_TIMEOUT_MS"] = str(args.request_timeout_ms)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-alerts-") as workdir:
        try:
            figures = asyncio.run(measure(args, pathlib.Path(workdir)))
        finally:
            for log in sorted(pathlib.Path(workdir).glob("*.log")):
                warnings = [line for line in log.read_text(errors="replace").splitlines()]
                if warnings:
                    say(f"{log.name}, last lines:")
                    print(*warnings[-15:], sep="\n", file=sys.stderr)
    say(f"alert_eval_7d_ms {figures['alert_eval_7d_ms']}, growth {figures['growth']}")
    say(f"alert_anomaly_6h_ms {figures['alert_anomaly_6h_ms']}")
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["alerts"] = figures
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    say(f"wrote {args.out} (alerts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
