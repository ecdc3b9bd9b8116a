"""`python -m bench` (what `make bench` runs): one run, all modes, figures against the goals."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pathlib
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable

import httpx

from bench import dashboards, hot_path, plot, report
from bench.backlog import until_folded
from bench.phase import Phase
from bench.profile import Profiler, print_top
from bench.runs import GRPC_CLIENTS, MODES, Runs
from bench.sampler import Sampler
from bench.stack import (
    DATABASE_NAME,
    StackDied,
    create_tenant_client,
    issue_token,
    running_stack,
)
from collector.app import compiled
from collector.store.storage import open_storage

HERE = pathlib.Path(__file__).resolve().parent
# What the dashboards leave of --timeout: when the database has stopped answering, cancelling
# them still waits for their connections to be closed, up to the driver's 30 s socket timeout.
TIMEOUT_MARGIN_S = 60.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Start SecantusDB, the collector and the gateway; ingest the same events "
        "by raw insert_many, gRPC streaming through the SDK and REST; then time the dashboards "
        "over REST for one tenant's history at a small and a large size; print ratios against "
        "the goals; write results.json and throughput.png. A missed goal is reported, not "
        "an error.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--events",
        type=int,
        default=_env_int("BENCH_EVENTS", 60_000),
        help="events per mode, over all rounds (env BENCH_EVENTS)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=_env_int("BENCH_ROUNDS", 3),
        help="rounds; each runs every mode once, in rotating order (env BENCH_ROUNDS)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=_env_int("BENCH_BATCH_SIZE", 500),
        help="events per batch, every mode (env BENCH_BATCH_SIZE)",
    )
    p.add_argument(
        "--in-flight",
        type=int,
        default=_env_int("BENCH_IN_FLIGHT", 8),
        help="batches in flight for raw insert_many and the gRPC stream; 8 is the SDK's "
        "default (env BENCH_IN_FLIGHT)",
    )
    p.add_argument(
        "--rest-in-flight",
        type=int,
        default=_env_int("BENCH_REST_IN_FLIGHT", 3),
        help="concurrent REST requests (env BENCH_REST_IN_FLIGHT)",
    )
    p.add_argument(
        "--grpc-client",
        choices=sorted(GRPC_CLIENTS),
        default=os.environ.get("BENCH_GRPC_CLIENT", "sdk"),
        help="sdk: aegis_sdk.AegisClient, as applications use it; stream: a bare "
        "StreamEvents client, to tell the collector's cost from the SDK's "
        "(env BENCH_GRPC_CLIENT)",
    )
    p.add_argument(
        "--dashboard-small",
        type=int,
        default=_env_int("BENCH_DASHBOARD_SMALL", 10_000),
        help="events in the dashboard tenant's history at the first timing "
        "(env BENCH_DASHBOARD_SMALL)",
    )
    p.add_argument(
        "--dashboard-large",
        type=int,
        default=_env_int("BENCH_DASHBOARD_LARGE", 200_000),
        help="events in its history at the second timing (env BENCH_DASHBOARD_LARGE)",
    )
    p.add_argument(
        "--dashboard-in-flight",
        type=int,
        default=_env_int("BENCH_DASHBOARD_IN_FLIGHT", 1),
        help="REST requests in flight while the dashboard tenant's history is imported; 1 is "
        "one batch after the other, as issue 16's importer sent them "
        "(env BENCH_DASHBOARD_IN_FLIGHT)",
    )
    p.add_argument(
        "--dashboard-calls",
        type=int,
        default=_env_int("BENCH_DASHBOARD_CALLS", 20),
        help="timed calls per endpoint and size, after one warm-up (env BENCH_DASHBOARD_CALLS)",
    )
    p.add_argument(
        "--fold-stall",
        type=float,
        default=float(os.environ.get("BENCH_FOLD_STALL_S", 60)),
        help="stop waiting for the rollup job to fold the dashboard tenant's events, and time "
        "the dashboards anyway, once it has folded none of them for this long, in seconds "
        "(env BENCH_FOLD_STALL_S)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("BENCH_TIMEOUT_S", 840)),
        help="give up (and fail) when the measurements take longer, in seconds; keeps "
        "`make bench` within 15 minutes (env BENCH_TIMEOUT_S)",
    )
    p.add_argument(
        "--only",
        choices=["dashboards"],
        help="run one part alone: `dashboards` imports and times the dashboard history only, "
        "and updates the dashboard figures of an existing results.json (the others are kept, "
        "from the run that wrote them)",
    )
    p.add_argument(
        "--profile",
        type=pathlib.Path,
        metavar="DIR",
        help="attach py-spy to the collector during each mode's segments, write its samples "
        "to DIR and print each mode's top functions by self time (the sampling costs the "
        "collector some CPU: take the throughput figures of such a run with salt)",
    )
    p.add_argument(
        "--out",
        type=pathlib.Path,
        default=HERE,
        help="where results.json and throughput.png go",
    )
    return p


def say(text: str) -> None:
    print(f"bench: {text}", flush=True)


def show_logs(workdir: pathlib.Path, lines: int = 20) -> None:
    """The children's own logs end with the workdir; show their last lines before it goes."""
    for log in sorted(workdir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        if tail:
            print(f"--- last lines of {log.name}", *tail, sep="\n", file=sys.stderr)


async def until_first(work: Awaitable[None], watch: Awaitable[None], timeout_s: float) -> None:
    """Run `work`; stop at once if `watch` raises (a child died) or time runs out."""
    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(watch)]
    try:
        async with asyncio.timeout(timeout_s):
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        raise TimeoutError(f"the run took longer than {timeout_s:.0f} s (--timeout)") from None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


async def measure(
    args: argparse.Namespace, workdir: pathlib.Path
) -> tuple[dict[str, Phase], dashboards.DashboardRun]:
    """Start the stack, run the modes in rounds, time the dashboards, stop the stack."""
    per_round = max(1, args.events // (args.rounds * args.batch_size)) * args.batch_size
    async with running_stack(workdir) as stack:
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        run_id = secrets.token_hex(4)
        who = await create_tenant_client(stack, f"bench-{run_id}")
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            token = await issue_token(http, who)
        runs = Runs(
            stack=stack,
            who=who,
            token=token,
            batch_size=args.batch_size,
            in_flight=args.in_flight,
            rest_in_flight=args.rest_in_flight,
            grpc_client=args.grpc_client,
            run_id=run_id,
            now=dt.datetime.now(dt.UTC),
        )
        dashboard_run = dashboards.DashboardRun()
        # The bench process too: what the SDK (and the other clients) cost on the same cores.
        with Sampler({**stack.pids, "client": os.getpid()}) as sampler:
            profiler = None
            if args.profile is not None:
                profiler = Profiler(stack.pids["collector"], args.profile)
            phases = {mode: Phase(mode, sampler, profiler=profiler) for mode in MODES}

            def done(mode: str, round_no: int) -> None:
                rate = phases[mode].timeline.events_per_s
                settled = phases[mode].settle_s
                say(
                    f"round {round_no + 1}/{args.rounds} {mode:<4} {rate:7.0f} events/s so far "
                    f"(the jobs' folds after it, so far: {settled:.0f} s)"
                )

            async def settle() -> float:
                started = time.perf_counter()
                async with open_storage(stack.mongodb_url, DATABASE_NAME, 5000, 30_000) as st:
                    await until_folded(st, args.fold_stall)
                return time.perf_counter() - started

            async def work() -> None:
                nonlocal dashboard_run
                started = time.perf_counter()
                await runs.rounds(phases, args.rounds, per_round, done, settle)
                # On the same stack, after the rounds: their events are other tenants' data.
                # Within what is left of --timeout, so that a stuck rollup job costs the
                # dashboard figures, not the ingest figures measured already.
                dashboard_run = await dashboards.measure(
                    stack,
                    run_id,
                    (args.dashboard_small, args.dashboard_large),
                    batch_size=args.batch_size,
                    in_flight=args.dashboard_in_flight,
                    calls=args.dashboard_calls,
                    fold_stall_s=args.fold_stall,
                    budget_s=args.timeout - (time.perf_counter() - started) - TIMEOUT_MARGIN_S,
                    say=say,
                )

            await until_first(work(), stack.watch(), args.timeout)
        say("stopping the stack")
    return phases, dashboard_run


async def measure_dashboards(
    args: argparse.Namespace, workdir: pathlib.Path
) -> dashboards.DashboardRun:
    """The dashboard part alone, on a stack of its own."""
    started = time.perf_counter()
    async with running_stack(workdir) as stack:
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        dashboard_run = dashboards.DashboardRun()

        async def work() -> None:
            nonlocal dashboard_run
            dashboard_run = await dashboards.measure(
                stack,
                secrets.token_hex(4),
                (args.dashboard_small, args.dashboard_large),
                batch_size=args.batch_size,
                in_flight=args.dashboard_in_flight,
                calls=args.dashboard_calls,
                fold_stall_s=args.fold_stall,
                budget_s=args.timeout - (time.perf_counter() - started) - TIMEOUT_MARGIN_S,
                say=say,
            )

        await until_first(work(), stack.watch(), args.timeout)
        say("stopping the stack")
    return dashboard_run


def run_dashboards(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as workdir:
        try:
            dashboard_run = asyncio.run(measure_dashboards(args, pathlib.Path(workdir)))
        except Exception:
            show_logs(pathlib.Path(workdir))
            raise
    path = args.out / "results.json"
    args.out.mkdir(parents=True, exist_ok=True)
    data = report.with_dashboards(
        report.read(path), dashboard_run, _settings(args), time.perf_counter() - started
    )
    report.write(data, path)
    report.print_table(data)
    say(f"wrote the dashboard figures into {path}")
    return 0


def _settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "dashboard_sizes": [args.dashboard_small, args.dashboard_large],
        "dashboard_calls": args.dashboard_calls,
        "dashboard_in_flight": args.dashboard_in_flight,
    }


def run(args: argparse.Namespace) -> int:
    if args.only == "dashboards":
        return run_dashboards(args)
    started = time.perf_counter()
    say(f"{args.events} events per mode in {args.rounds} rounds, batches of {args.batch_size}")
    hot = hot_path.measure(args.batch_size)
    built = compiled.hot_path()
    say(
        f"collector hot path in-process: {hot.total_us:.1f} µs/event "
        f"({len(built.compiled)} of {len(compiled.MODULES + compiled.NATIVE)} modules compiled)"
    )
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as workdir:
        try:
            phases, dashboard_run = asyncio.run(measure(args, pathlib.Path(workdir)))
        except Exception:
            show_logs(pathlib.Path(workdir))
            raise
    settings = {
        "n_events": phases["grpc"].timeline.events,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "in_flight": args.in_flight,
        "rest_in_flight": args.rest_in_flight,
        "grpc_client": args.grpc_client,
        **_settings(args),
        "write_concern": {"w": "majority", "j": True},
        # The hot path compiled by `make`, or run as Python (collector.app.compiled).
        "compiled_modules": len(built.compiled),
        "database": "SecantusDB, started by collector.store.embedded as the stack starts it",
    }
    data = report.results(phases, hot, dashboard_run, settings, time.perf_counter() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    report.write(data, args.out / "results.json")
    plot.plot(list(phases.values()), args.out / "throughput.png")
    report.print_table(data)
    if args.profile is not None:
        cpu = {m: (p.cpu_us_per_event("collector"), "event") for m, p in phases.items()}
        cpu["otlp"] = (phases["otlp"].cpu_us_per_span("collector"), "span")
        print_top(args.profile, cpu)
    say(f"wrote {args.out / 'results.json'} and {args.out / 'throughput.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    counts = (args.events, args.rounds, args.batch_size, args.in_flight, args.rest_in_flight)
    if min(*counts, args.dashboard_in_flight) < 1:
        cli.error("--events, --rounds, --batch-size and the in-flight counts must be >= 1")
    if not 2 <= args.dashboard_small < args.dashboard_large or args.dashboard_calls < 1:
        cli.error("need 2 <= --dashboard-small < --dashboard-large and --dashboard-calls >= 1")
    # SIGTERM unwinds like Ctrl-C, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("bench: interrupted; the stack is stopped", file=sys.stderr)
        return 130
    except (StackDied, TimeoutError) as exc:
        print(f"bench: {exc}; the stack is stopped", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
