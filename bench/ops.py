"""`python -m bench.ops` (the second half of `make bench`): the live tail's cost and the
export's memory, added to results.json under "ops".

- Tail: the same gRPC stream ingest with 0, 1 and 50 TailEvents subscribers of the ingesting
  tenant open (all in this process, each reading every event); events/s for each, and how
  long after the last batch was acknowledged the last subscriber had every event.
- Export: EXPORT_EVENTS LLM events of one tenant are written straight into the database, as
  ingest stores them (documents and batch listings, by the collector's own code), then
  exported as NDJSON through GET /export/llm while the collector's and the gateway's RSS are
  sampled: flat memory means peak minus the RSS before the export stays small.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import secrets
import statistics
import sys
import tempfile
import time
from typing import Any

import grpc
import httpx
from pymongo import AsyncMongoClient

from aegis.v1 import auth_pb2, auth_pb2_grpc, tail_pb2, tail_pb2_grpc
from bench.events import llm_event, seed_ml_events, to_document
from bench.phase import Phase
from bench.sampler import Sampler
from bench.stack import DATABASE_NAME, Credentials, Stack, create_tenant_client, running_stack
from bench.stream_ingest import ingest_stream
from collector.ingest.listing import batch_listing
from collector.store.storage import DURABLE

HERE = pathlib.Path(__file__).resolve().parent
SUBSCRIBERS = (0, 1, 50)


def say(text: str) -> None:
    print(f"bench.ops: {text}", flush=True)


async def _token(stack: Stack, who: Credentials) -> str:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(clientId=who.client_id, clientSecret=who.client_secret)
        )
    return str(reply.access_token)


class Subscriber:
    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self.call = tail_pb2_grpc.TailServiceStub(channel).TailEvents(
            tail_pb2.TailEventsRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )
        self.received = 0
        self.last_at = 0.0
        self.dropped = False

    async def started(self) -> None:
        first = await self.call.read()
        assert first is not grpc.aio.EOF and first.started, first

    async def follow(self, expected: int) -> None:
        """Read until every event came, or the collector dropped us for falling behind."""
        try:
            await self._follow(expected)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            self.dropped = True

    async def _follow(self, expected: int) -> None:
        while self.received < expected:
            item = await self.call.read()
            if item is grpc.aio.EOF:
                raise RuntimeError("a tail ended early")
            self.received += len(item.events)
            self.last_at = time.perf_counter()


async def tail_run(
    stack: Stack, who: Credentials, sampler: Sampler, subscribers: int, events: int, run: str
) -> dict[str, Any]:
    token = await _token(stack, who)
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        subs = [Subscriber(channel, token) for _ in range(subscribers)]
        await asyncio.gather(*(s.started() for s in subs))
        batch = 500
        todo = seed_ml_events(run, batch + events, dt.datetime.now(dt.UTC))
        phase = Phase(f"tail-{subscribers}", sampler)
        following = [asyncio.ensure_future(s.follow(batch + events)) for s in subs]
        await ingest_stream(
            stack.grpc_target,
            who,
            todo[:batch],
            todo[batch:],
            batch_size=batch,
            in_flight=8,
            phase=phase,
        )
        acked_at = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*following), timeout=300)
        idle_ms = await idle_latency_ms(stack, who, subs[0]) if subs else None
        for s in subs:
            s.call.cancel()
    figures: dict[str, Any] = {
        "subscribers": subscribers,
        "events": phase.timeline.events,
        "events_per_s": round(phase.timeline.events_per_s, 1),
        "collector_cpu_us_per_event": round(phase.cpu_us_per_event("collector"), 1),
    }
    if idle_ms is not None:
        figures["idle_latency_ms_median"] = idle_ms
    if subs:
        kept = [s for s in subs if not s.dropped]
        figures["dropped_subscribers"] = len(subs) - len(kept)
        if kept:
            figures["all_delivered_after_last_ack_s"] = round(
                max(s.last_at for s in kept) - acked_at, 3
            )
    return figures


async def idle_latency_ms(stack: Stack, who: Credentials, sub: Subscriber, n: int = 20) -> float:
    """Median time from sending one event (REST) to its arrival on the tail, ingest idle."""
    token = await _token(stack, who)
    latencies = []
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
        for i in range(n):
            event = {"model_type": "m", "model_id": "idle", "event_id": f"idle-{i}"}
            sent = time.perf_counter()
            reply = await http.post(
                "/ingest/ml", json={"events": [event]}, headers={"Authorization": f"Bearer {token}"}
            )
            reply.raise_for_status()
            item = await sub.call.read()
            assert item is not grpc.aio.EOF and item.events[0].event["event_id"] == f"idle-{i}"
            latencies.append((time.perf_counter() - sent) * 1000)
    return round(statistics.median(latencies), 1)


async def seed_export(stack: Stack, tenant: str, total: int, batch: int = 1000) -> float:
    """Store `total` LLM events of `tenant` as ingest does; returns the seconds it took."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    try:
        db = client[DATABASE_NAME]
        events = db.get_collection("llm_events", write_concern=DURABLE)
        listings = db.get_collection("event_batches", write_concern=DURABLE)
        for start in range(0, total, batch):
            docs = [
                to_document(llm_event(tenant, i, now), tenant, "bench", now, "llm")
                for i in range(start, min(total, start + batch))
            ]
            await events.insert_many(docs, ordered=False)
            await listings.insert_one(batch_listing(tenant, "llm", docs))
            if start and start % 100_000 == 0:
                say(f"  seeded {start} events")
    finally:
        await client.close()
    return time.perf_counter() - started


async def export_run(stack: Stack, who: Credentials, total: int) -> dict[str, Any]:
    seeded_s = await seed_export(stack, who.tenant, total)
    say(f"seeded {total} events in {seeded_s:.0f} s; exporting")
    token = await _token(stack, who)
    pids = {name: stack.pids[name] for name in ("collector", "gateway", "database")}
    lines = 0
    received = 0
    with Sampler(pids, interval_s=0.25) as sampler:
        await asyncio.sleep(1.0)  # a few samples before the export starts
        started = time.perf_counter()
        async with (
            httpx.AsyncClient(base_url=stack.http_url, timeout=600) as http,
            http.stream(
                "GET",
                "/export/llm",
                params={"format": "ndjson"},
                headers={"Authorization": f"Bearer {token}"},
            ) as reply,
        ):
            reply.raise_for_status()
            async for data in reply.aiter_bytes():
                lines += data.count(b"\n")
                received += len(data)
        elapsed = time.perf_counter() - started
    if lines != total:
        raise RuntimeError(f"the export held {lines} lines, not {total}")
    figures: dict[str, Any] = {
        "events": total,
        "seconds": round(elapsed, 1),
        "events_per_s": round(total / elapsed, 1),
        "mb_sent": round(received / 1e6, 1),
    }
    for name, series in sampler.series.items():
        before = series.between(0, started) or [0.0]
        during = series.between(started, started + elapsed) or [0.0]
        figures[f"{name}_rss_mb"] = {
            "before": round(before[-1], 1),
            "peak": round(max(during), 1),
            "growth": round(max(during) - before[-1], 1),
            "samples": len(during),
        }
    return figures


async def measure(args: argparse.Namespace, workdir: pathlib.Path) -> dict[str, Any]:
    run = secrets.token_hex(4)
    async with running_stack(workdir) as stack:
        say(f"stack up: gRPC {stack.grpc_target}, REST {stack.http_url}")
        tail: list[dict[str, Any]] = []
        with Sampler({"collector": stack.pids["collector"]}) as sampler:
            for n in args.subscribers:
                who = await create_tenant_client(stack, f"ops-tail-{n}-{run}")
                figures = await tail_run(stack, who, sampler, n, args.tail_events, f"t{n}-{run}")
                say(f"ingest with {n:>2} subscribers: {figures['events_per_s']:8.0f} events/s")
                tail.append(figures)
        who = await create_tenant_client(stack, f"ops-export-{run}")
        export = await export_run(stack, who, args.export_events)
        say(f"export: {export}")
    base = next((t["events_per_s"] for t in tail if t["subscribers"] == 0), None)
    for t in tail:
        t["vs_no_subscriber"] = round(t["events_per_s"] / base, 2) if base else None
    return {"tail": tail, "export": export}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__.split("\n")[0])
    p.add_argument(
        "--tail-events",
        type=int,
        default=int(os.environ.get("BENCH_TAIL_EVENTS", 20_000)),
        help="events ingested per subscriber count (env BENCH_TAIL_EVENTS)",
    )
    p.add_argument(
        "--subscribers", type=int, nargs="+", default=list(SUBSCRIBERS), help="subscriber counts"
    )
    p.add_argument(
        "--export-events",
        type=int,
        default=int(os.environ.get("BENCH_EXPORT_EVENTS", 1_000_000)),
        help="events in the exported tenant (env BENCH_EXPORT_EVENTS)",
    )
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-ops-") as workdir:
        ops = asyncio.run(measure(args, pathlib.Path(workdir)))
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data["ops"] = {
        **ops,
        "settings": {
            "tail_events": args.tail_events,
            "export_events": args.export_events,
            "tail_client": "gRPC TailEvents readers in the bench process (same 2 cores)",
        },
    }
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    say(f"wrote {args.out} (ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
