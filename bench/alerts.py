"""`python -m bench.alerts` (`make bench-alerts`): one 7-day alert rule's evaluation time as a
tenant's history grows, added to results.json under "alerts".

A tenant of its own gets `small` events, then more up to `large`: half ML, half LLM, 2 models
of each kind (--models), spread over the last 8 days, so that the 7-day window's old edge lies where
minute buckets are no longer kept (ROLLUP_RETENTION_DAYS, 7). They go through the collector's
gRPC StreamEvents as an application streams them (batches in time order, several in flight),
with the stack's background jobs running on their default schedules. Once the rollup job has
folded them, the value of an `error_rate` rule over 10,080 minutes (both kinds: both event
collections) is computed `calls` times by the collector's own RollupMetrics against the stack's
database, as the alerts job computes it; the median is `alert_eval_7d_ms`, and the large size's
over the small one's is the growth (1.0: the evaluation does not grow with the event count).
Each value is checked against a brute-force count over the events sent.
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
from bench.stack import DATABASE_NAME, create_tenant_client, running_stack
from collector.alerts.metrics import RollupMetrics
from collector.domain import Kind
from collector.rollups.reader import minutes_kept_since, read_window
from collector.store.storage import Storage, open_storage

HERE = pathlib.Path(__file__).resolve().parent
DAYS = 8
WINDOW = dt.timedelta(days=7)
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


async def time_rule(
    storage: Storage, tenant: str, calls: int, sent: Sent
) -> tuple[list[float], float | None, dict[str, float | None], int]:
    """`calls` evaluations of the 7-day error_rate rule: their times in ms, the last value,
    the brute-force values over the window as minutes and as whole hours at its start, and
    how many buckets and partial cells one evaluation reads (what its cost grows with)."""
    metrics = RollupMetrics(storage, minute_retention_days=ROLLUP_RETENTION_DAYS)
    times: list[float] = []
    value: float | None = None
    now = dt.datetime.now(dt.UTC)
    for _ in range(calls + 1):  # the first is a warm-up
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        value = await metrics.window_value(tenant, "error_rate", None, now - WINDOW, now)
        times.append((time.perf_counter() - started) * 1000)
    since = minutes_kept_since(ROLLUP_RETENTION_DAYS)
    read = [await read_window(storage, tenant, k, now - WINDOW, now, since) for k in ("ml", "llm")]
    pieces = sum(len(kind) for kind in read)
    start = (now - WINDOW).replace(second=0, microsecond=0)
    end = now + dt.timedelta(minutes=1)
    expected = {
        "minute_edges": sent.error_rate(start, end),
        "hour_at_old_edge": sent.error_rate(start.replace(minute=0), end),
    }
    return times[1:], value, expected, pieces


async def measure(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    run = secrets.token_hex(4)
    sizes: list[dict[str, Any]] = []
    async with running_stack(workdir) as stack:
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        who = await create_tenant_client(stack, f"bench-alerts-{run}")
        now = dt.datetime.now(dt.UTC)
        sent = Sent()
        async with open_storage(stack.mongodb_url, DATABASE_NAME, 5000, 120_000) as storage:
            stored = 0
            for size in (args.small, args.large):
                batches = batches_of(run, stored, size, now, args, sent)
                started = time.perf_counter()
                streamed = await stream(stack.grpc_target, who, batches, args.in_flight, say)
                sent_s = time.perf_counter() - started
                say(f"{size - stored} events sent in {sent_s:.0f} s, {size} in all; folding")
                left = await until_folded(storage, args.fold_stall)
                fold_s = time.perf_counter() - started - sent_s
                times, value, expected, pieces = await time_rule(
                    storage, who.tenant, args.calls, sent
                )
                matches = [k for k, v in expected.items() if v is not None and value == v]
                figures = {
                    "events": size,
                    "ingest_s": round(sent_s, 1),
                    "ingest_events_per_s": round((size - stored) / sent_s),
                    "fold_wait_s": round(fold_s, 1),
                    "partials_left": left,
                    "stream_retries": streamed.retries,
                    "stream_errors": streamed.errors,
                    "eval_ms_median": round(statistics.median(times), 2),
                    "eval_ms_max": round(max(times), 2),
                    "eval_ms": [round(t, 2) for t in times],
                    "pieces_read": pieces,
                    "value": value,
                    "brute_force": expected,
                    "value_matches": matches,
                }
                say(
                    f"{size} events: fold waited {fold_s:.0f} s; 7-day rule evaluated in "
                    f"{figures['eval_ms_median']} ms (median of {len(times)}, {pieces} buckets "
                    f"and cells read), value {value}, "
                    f"brute force {expected}"
                )
                sizes.append(figures)
                stored = size
    small, large = sizes
    growth = large["eval_ms_median"] / small["eval_ms_median"]
    return {
        "alert_eval_7d_ms": {
            str(small["events"]): small["eval_ms_median"],
            str(large["events"]): large["eval_ms_median"],
        },
        "growth": round(growth, 2),
        "events_ratio": round(large["events"] / small["events"], 2),
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
        help="events at the first timing (env BENCH_ALERT_SMALL)",
    )
    p.add_argument(
        "--large",
        type=int,
        default=int(os.environ.get("BENCH_ALERT_LARGE", 1_000_000)),
        help="events at the second timing (env BENCH_ALERT_LARGE)",
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
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["alerts"] = figures
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    say(f"wrote {args.out} (alerts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
