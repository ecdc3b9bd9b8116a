"""`python -m bench.explore` (the third part of `make bench`): the explore read API on a
month of one tenant's LLM calls, added to results.json under "explore".

On a stack of its own (SecantusDB, the collector with its background jobs, the gateway), a
fresh tenant gets the corpus of bench.explore_corpus (1M LLM calls over 30 days by default,
10k users, 50k sessions, 100k traces, each call with every attribution field; one session of
200 calls; one agent trace of 50 spans), sent as its application would (bench.explore_send).
The bench waits until the rollup and explore jobs have folded everything (the counts of
`rollup_partials` and `explore_pending` fall to 0) and the explore job has merged its parts
and built its day summaries (`explore_dirty` falls to 0: a minute after the last fold
touched them), and reports how long that took. Then it
times over REST, one warm-up and then --calls calls each (bench.explore_reads), every answer
checked against what was sent: the first page of events, one user's page (the last 24 hours
and the last 30 days), 20 pages deep with the cursor, the 50-span trace, the 200-call session,
the top 20 users by cost over 30 days; and, in-process against the stack's database, one
evaluation of the alert rules (one rule: cost by user_id over 43,200 minutes), as the
alerts job runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import operator
import os
import pathlib
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench import explore_ui
from bench.backlog import until_folded
from bench.explore_corpus import AGENT_SPANS, Corpus, Shape
from bench.explore_reads import MONTH, Reads, Timing, Wrong, expect, month
from bench.explore_send import Sent, export_spans, send_all
from bench.report import Goal, machine
from bench.stack import DATABASE_NAME, Stack, create_tenant_client, issue_token, running_stack
from collector.alerts.job import evaluate_alerts
from collector.alerts.metrics import RollupMetrics
from collector.store.storage import Storage, open_storage

HERE = pathlib.Path(__file__).resolve().parent
ROOTS_PER_EXPORT = 500
LE = operator.le
GOALS = (
    Goal("events_first_page_ms", "first page of events, median ms", 150.0, LE, "<="),
    Goal("events_user_page_ms", "one user's page (24 h), median ms", 150.0, LE, "<="),
    Goal("events_user_page_30d_ms", "one user's page (30 days), median ms", 150.0, LE, "<="),
    Goal("events_deep_page_max_ms", "slowest of 20 pages deep, ms", 150.0, LE, "<="),
    Goal("trace_ms", "50-span trace, median ms", 50.0, LE, "<="),
    Goal("session_ms", "200-call session, median ms", 100.0, LE, "<="),
    Goal("users_top_ms", "top 20 users by cost, 30 d, median ms", 200.0, LE, "<="),
    Goal("grouped_rule_eval_ms", "cost by user, 30 d rule, median ms", 1000.0, LE, "<="),
    Goal("events_page_render_ms", "Events page in Chromium, median ms", 1000.0, LE, "<="),
    Goal("trace_waterfall_render_ms", "50-span waterfall in Chromium, median ms", 1000.0, LE, "<="),
)
RULE = {
    "name": "Any user above $20 in 30 days",
    "metric": "cost",
    "comparison": "gt",
    "threshold": 20.0,
    "window_minutes": 43_200,
    "group_by": "user_id",
    # Never called: no user comes near $20 (the bench checks every user's value instead).
    "webhook_url": "http://127.0.0.1:9/never-called",
}


def say(text: str) -> None:
    print(f"bench.explore: {text}", flush=True)


async def grouped_rule(
    http: httpx.AsyncClient, storage: Storage, corpus: Corpus, tenant: str, calls: int
) -> Timing:
    """Create the rule over REST, check every user's 30-day cost as the rule sees it, then
    time evaluate_alerts (every rule of the database: this one) in-process."""
    reply = await http.post("/alerts/rules", json={**RULE, "webhook_secret": secrets.token_hex(16)})
    expect(reply.status_code == 201, f"POST /alerts/rules: {reply.status_code} {reply.text}")
    now = dt.datetime.now(dt.UTC)
    values = await RollupMetrics(storage).group_values(
        tenant, "cost", "user_id", None, now - MONTH, now
    )
    expected = corpus.tally.cost
    expect(values.keys() == expected.keys(), f"{len(values)} users valued, not {len(expected)}")
    wrong = [u for u, v in values.items() if not math.isclose(v or 0, expected[u], rel_tol=1e-9)]
    expect(not wrong, f"{len(wrong)} users valued wrong, e.g. {wrong[:3]}")
    times = []
    for call in range(calls + 1):
        started = time.perf_counter()
        evaluation = await evaluate_alerts(storage)
        if call:
            times.append((time.perf_counter() - started) * 1000)
        expect(evaluation.rules == 1 and not evaluation.failed, f"evaluation {evaluation}")
        expect(not evaluation.transitions, "a group changed state: no user is above $20")
    return Timing(times)


async def _measure_reads(
    stack: Stack,
    storage: Storage,
    corpus: Corpus,
    trace_id: str,
    tenant: str,
    token: str,
    calls: int,
) -> tuple[dict[str, Timing], dict[str, str]]:
    """Every figure's timings, and why a figure has none (a wrong answer): the others are
    measured all the same."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=120, headers=headers) as http:
        reads = Reads(http, corpus, calls)
        steps: list[tuple[str, Callable[[], Awaitable[Timing]]]] = [
            ("events_first_page", reads.first_page),
            ("events_user_page", lambda: reads.user_page(None)),
            ("events_user_page_30d", lambda: reads.user_page(month())),
            ("events_deep_pages", reads.deep_pages),
            ("trace", lambda: reads.trace(trace_id)),
            ("session", reads.session),
            ("users_top", reads.users_top),
            ("grouped_rule_eval", lambda: grouped_rule(http, storage, corpus, tenant, calls)),
        ]
        timings: dict[str, Timing] = {}
        wrong: dict[str, str] = {}
        for name, step in steps:
            try:
                t = timings[name] = await step()
            except Wrong as exc:
                wrong[name] = str(exc)
                say(f"{name}: WRONG ANSWER, not timed: {exc}")
                continue
            say(f"{name}: median {t.median_ms:.1f} ms, max {t.max_ms:.1f} ms")
    await _measure_pages(stack, trace_id, token, calls, timings, wrong)
    return timings, wrong


async def _measure_pages(
    stack: Stack,
    trace_id: str,
    token: str,
    calls: int,
    timings: dict[str, Timing],
    wrong: dict[str, str],
) -> None:
    """The dashboard's Events page and the agent trace's waterfall in Chromium (bench.explore_ui):
    each page load's time until its rows are on screen. Without a Chromium, not measured."""
    if not explore_ui.CHROMIUM.exists():
        say(f"no Chromium at {explore_ui.CHROMIUM}: the pages' render times are not measured")
        return
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=120) as http:
        first = await http.get("/events/llm", headers={"Authorization": f"Bearer {token}"})
    views = {
        "events_page_render": explore_ui.events(len(first.json()["events"])),
        "trace_waterfall_render": explore_ui.waterfall(trace_id, AGENT_SPANS),
    }
    try:
        renders = await explore_ui.measure(stack.http_url, token, views, calls)
    except explore_ui.WrongPage as exc:
        wrong["pages"] = str(exc)
        say(f"pages: WRONG, not timed: {exc}")
        return
    for name, times in renders.items():
        t = timings[name] = Timing(times)
        say(f"{name}: median {t.median_ms:.1f} ms, max {t.max_ms:.1f} ms")


async def measure(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    run = secrets.token_hex(4)
    shape = Shape(args.events)
    corpus = Corpus(run, shape, dt.datetime.now(dt.UTC))
    async with running_stack(workdir) as stack:
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        scopes = ("ingest", "read", "alerts")
        who = await create_tenant_client(stack, f"bench-explore-{run}", scopes)
        say(
            f"sending {shape.events} calls ({shape.users} users, {shape.sessions} sessions, "
            f"{shape.traces} traces with their root spans) and the long session"
        )
        started = time.perf_counter()
        sent = await send_all(
            stack.grpc_target, who, corpus.calls(), corpus.root_spans(ROOTS_PER_EXPORT), say
        )
        trace_id, agent_spans = corpus.agent_trace()
        await asyncio.to_thread(export_spans, stack.grpc_target, who, iter([agent_spans]), Sent())
        ingest_s = time.perf_counter() - started
        say(
            f"sent in {ingest_s:.0f} s: {sent.calls} calls ({sent.calls / sent.calls_s:.0f}/s), "
            f"{sent.spans} root spans ({sent.spans / sent.spans_s:.0f}/s); waiting for the folds"
        )
        async with open_storage(stack.mongodb_url, DATABASE_NAME, 5000, 120_000) as storage:
            folds = await until_folded(storage, args.fold_stall, tidied=True)
            say(f"folds: {folds}")
            async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
                token = await issue_token(http, who)
            timings, wrong = await _measure_reads(
                stack, storage, corpus, trace_id, who.tenant, token, args.calls
            )
    return {**_figures(args, shape, sent, ingest_s, folds, timings), "wrong_answers": wrong}


def _figures(
    args: argparse.Namespace,
    shape: Shape,
    sent: Sent,
    ingest_s: float,
    folds: dict[str, Any],
    timings: dict[str, Timing],
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        f"{name}_ms": round(t.median_ms, 1)
        for name, t in timings.items()
        if name != "events_deep_pages"
    }
    if deep := timings.get("events_deep_pages"):
        figures["events_deep_page_max_ms"] = round(deep.max_ms, 1)
        figures["events_deep_page_median_ms"] = round(deep.median_ms, 1)
    return {
        **figures,
        "goals": {
            g.key: {"target": f"{g.sign} {g.target:g}", "verdict": g.verdict(figures.get(g.key))}
            for g in GOALS
        },
        "timings": {name: t.as_dict() for name, t in timings.items()},
        "ingest": {
            "seconds": round(ingest_s, 1),
            "calls": sent.calls,
            "calls_per_s": round(sent.calls / sent.calls_s, 1),
            "root_spans": sent.spans,
            "root_spans_per_s": round(sent.spans / sent.spans_s, 1) if sent.spans_s else None,
            "stream_retries": sent.stream_retries,
            "export_retries": sent.export_retries,
            "errors": sent.errors,
        },
        "folds_after_ingest": folds,
        "settings": {
            "events": shape.events,
            "users": shape.users,
            "sessions": shape.sessions,
            "traces": shape.traces,
            "calls": args.calls,
            "ingest": "LLM calls through AsyncAegisClient (gRPC stream, batches of 500, 8 in "
            "flight, time order); trace roots through the OpenTelemetry SDK's OTLP/gRPC "
            "exporter (500 spans an export); background jobs on their default schedules",
        },
        "machine": machine(),
    }


def print_table(data: dict[str, Any]) -> None:
    for goal in GOALS:
        value = data.get(goal.key)
        shown = "n/a" if value is None else f"{value:.1f}"
        verdict = data["goals"][goal.key]["verdict"]
        print(f"  {goal.label:<40} {shown:>9}   goal {goal.sign} {goal.target:<6g} {verdict}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.explore", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    p.add_argument(
        "--events",
        type=int,
        default=int(os.environ.get("BENCH_EXPLORE_EVENTS", 1_000_000)),
        help="LLM calls in the corpus (env BENCH_EXPLORE_EVENTS)",
    )
    p.add_argument("--calls", type=int, default=10, help="timed calls per figure, after a warm-up")
    p.add_argument(
        "--fold-stall",
        type=float,
        default=300.0,
        help="stop waiting for the jobs once they have folded nothing for this long (s)",
    )
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    if args.events < 1000 or args.calls < 1:
        p.error("need --events >= 1000 and --calls >= 1")
    # SIGTERM unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Inherited by the stack's collector: the rule's webhook names a loopback address.
    os.environ["ALLOW_PRIVATE_WEBHOOKS"] = "true"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aegis-bench-explore-") as workdir:
        explore = asyncio.run(measure(args, pathlib.Path(workdir)))
    explore["wall_s"] = round(time.perf_counter() - started, 1)
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["explore"] = explore
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print_table(explore)
    say(f"wrote {args.out} (explore)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
