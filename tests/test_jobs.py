"""Background jobs: leases, the runner, two collectors on one database, retention.

Leases and the runner are driven here in the test process on a real database; the replica
test runs two real collector processes and kills one. Assertions read the lease documents
and the job_runs records; waits poll them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import pathlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from collector.app.settings import Settings
from collector.domain import Principal
from collector.explore.fold import fold_notes
from collector.ingest.batch import IngestService
from collector.jobs.leases import Lease
from collector.jobs.retention import apply_retention
from collector.jobs.runner import JobRunner
from collector.store.storage import Storage, open_storage
from tests.procs import Database, collector_env, start_collector, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("jobs")).start()
    yield db
    db.stop()


@pytest.fixture(scope="module")
async def storage(database: Database) -> AsyncIterator[Storage]:
    async with open_storage(database.url, "aegisai", 5000) as opened:
        yield opened


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {within_s}s: {what}"
        await asyncio.sleep(0.05)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_a_lease_is_held_by_one_holder_until_it_expires(storage: Storage) -> None:
    a = Lease(storage.job_leases, "lease-test", "holder-a", duration_s=1.0)
    b = Lease(storage.job_leases, "lease-test", "holder-b", duration_s=1.0)
    assert await a.acquire()
    assert await a.acquire(), "the holder may extend its own lease"
    assert not await b.acquire()
    assert await a.renew()
    held = await storage.job_leases.find_one({"_id": "lease-test"})
    assert held is not None and held["holder"] == "holder-a" and held["generation"] == 1

    await eventually(b.acquire, 10, "b takes the lease once a stops renewing")
    taken_at = utcnow()
    assert taken_at >= held["expires_at"], "taken before the lease expired"
    assert not await a.renew(), "a's lease is gone"
    assert not await a.acquire()
    now_held = await storage.job_leases.find_one({"_id": "lease-test"})
    assert now_held is not None and now_held["holder"] == "holder-b"
    assert now_held["generation"] == 2

    await b.release()
    assert await a.acquire(), "a released lease is free at once"


async def test_a_failing_job_is_recorded_and_the_scheduler_carries_on(storage: Storage) -> None:
    calls = 0

    async def flaky() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first run fails")
        return {"calls": calls}

    runner = JobRunner(storage, lease_s=5, holder="runner-test")
    runner.add("flaky", 0.1, flaky)
    runner.add("disabled", 0, flaky)
    assert runner.jobs == ["flaky"], "interval 0 leaves a job off"

    async def ran_after_failing() -> bool:
        runs = storage.job_runs.find({"job": "flaky"}).sort("started_at", 1)
        statuses = [r.get("status") async for r in runs]
        return statuses[:1] == ["failed"] and "ok" in statuses

    async with runner.running():
        await eventually(ran_after_failing, 20, "a run after the failing one")
    first = await storage.job_runs.find_one({"job": "flaky"}, sort=[("started_at", 1)])
    assert first is not None and first["error"] == "RuntimeError: first run fails"
    assert first["holder"] == "runner-test" and first["finished_at"] >= first["started_at"]
    ok = await storage.job_runs.find_one({"job": "flaky", "status": "ok"})
    assert ok is not None and ok["result"]["calls"] >= 2
    lease = await storage.job_leases.find_one({"_id": "flaky"})
    assert lease is not None and lease["expires_at"] <= utcnow(), "released at shutdown"


async def test_a_run_that_outlasts_its_interval_skips_ticks_quietly(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    active = most = runs = 0

    async def slow() -> None:
        nonlocal active, most, runs
        active += 1
        runs += 1
        most = max(most, active)
        try:
            await release.wait()
        finally:
            active -= 1

    def skipped() -> int:
        return sum("tick skipped" in r.getMessage() for r in caplog.records)

    async def two_ticks_skipped() -> bool:
        return skipped() >= 2

    caplog.set_level(logging.DEBUG, logger="collector.jobs.runner")
    runner = JobRunner(storage, lease_s=5, holder="slow-test")
    runner.add("slow", 0.05, slow)
    async with runner.running():
        await eventually(two_ticks_skipped, 30, "ticks arriving while the run is under way")
        assert (runs, most) == (1, 1), "a tick started a second run alongside the first"
        release.set()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, [r.getMessage() for r in warnings]


async def test_run_now_runs_only_where_the_lease_is_held(storage: Storage) -> None:
    ran: list[str] = []

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)

        return run

    first = JobRunner(storage, lease_s=30, holder="first")
    second = JobRunner(storage, lease_s=30, holder="second")
    first.add("manual", 60, job("first"))
    second.add("manual", 60, job("second"))
    assert await first.run_now("manual")
    assert not await second.run_now("manual")
    assert await first.run_now("manual")
    assert ran == ["first", "first"]


# --- Two collectors on one database -------------------------------------------------------


def _holder_prefix(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:"


def test_two_collectors_run_each_job_in_one_place_and_a_killed_holder_is_taken_over(
    tmp_path: pathlib.Path,
) -> None:
    db = Database(tmp_path).start()
    mongo: MongoClient[dict[str, Any]] = MongoClient(db.url, tz_aware=True)
    runs = mongo["aegisai"]["job_runs"]
    leases = mongo["aegisai"]["job_leases"]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    mongo["aegisai"]["ml_events"].insert_one(
        {"tenant": "t", "event_id": "old", "model_id": "m", "timestamp": old}
    )
    env = collector_env(
        db.url,
        tmp_path,
        JOB_LEASE_S="3",
        ALERTS_INTERVAL_S="0.2",
        RETENTION_INTERVAL_S="0.2",
        RETENTION_DAYS="30",
    )
    first, _ = start_collector(env, tmp_path / "first.log")
    second = None
    try:
        a = _holder_prefix(first.proc.pid)
        wait_until(lambda: runs.count_documents({"job": "alerts"}) >= 1, 30, "a first run")
        second, _ = start_collector(env, tmp_path / "second.log")
        b = _holder_prefix(second.proc.pid)
        # The second collector ticks too, every 0.2 s; none of its ticks may run a job.
        since = dt.datetime.now(dt.UTC)
        wait_until(
            lambda: runs.count_documents({"job": "alerts", "started_at": {"$gt": since}}) >= 10,
            30,
            "ten runs with both collectors up",
        )
        holders = {r["holder"].rpartition(":")[0] + ":" for r in runs.find()}
        assert holders == {a}, f"jobs ran outside the lease holder: {holders}"
        for job in ("alerts", "retention"):
            done = list(runs.find({"job": job}).sort("started_at", 1))
            for earlier, later in itertools.pairwise(done):
                finished = earlier.get("finished_at")
                assert finished is not None and finished <= later["started_at"], f"{job} overlap"
        assert mongo["aegisai"]["ml_events"].count_documents({"event_id": "old"}) == 0

        first.kill()  # SIGKILL: its leases are neither renewed nor released
        held = {lease["_id"]: lease for lease in leases.find()}
        assert {held[j]["holder"].rpartition(":")[0] + ":" for j in held} == {a}
        wait_until(
            lambda: (
                runs.count_documents({"job": "alerts", "holder": {"$regex": f"^{b}"}}) >= 1
                and runs.count_documents({"job": "retention", "holder": {"$regex": f"^{b}"}}) >= 1
            ),
            30,
            "the second collector takes both jobs over",
        )
        for job in ("alerts", "retention"):
            taken = runs.find_one(
                {"job": job, "holder": {"$regex": f"^{b}"}}, sort=[("started_at", 1)]
            )
            assert taken is not None
            assert taken["started_at"] >= held[job]["expires_at"], "taken over before expiry"
            lease = leases.find_one({"_id": job})
            assert lease is not None and lease["holder"].startswith(b)
            assert lease["generation"] == held[job]["generation"] + 1
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0
        mongo.close()
        db.stop()


# --- Retention ----------------------------------------------------------------------------


async def test_retention_deletes_old_events_audit_logs_and_minute_buckets_only(
    storage: Storage,
) -> None:
    now = utcnow()
    old, recent = now - dt.timedelta(days=31), now - dt.timedelta(days=29)
    ingest = IngestService(storage)
    tenants = ("ret-a", "ret-b")
    for tenant in tenants:
        principal = Principal(f"cl-{tenant}", tenant, frozenset({"ingest"}))
        ml = [
            {
                "event_id": f"{tenant}-{age}-{i}",
                "model_type": "rf",
                "model_id": "m",
                "input_shape": [],
                "prediction_count": 1,
                "timestamp": at,
                "metadata": {},
                "latency_ms": None,
            }
            for age, at in (("old", old), ("new", recent))
            for i in range(7)
        ]
        llm = [
            {
                "event_id": f"{tenant}-{age}",
                "model_name": "l",
                "prompt_length": 1,
                "response_length": 1,
                "tokens_used": 1,
                "cost": 0.1,
                "timestamp": at,
                "metadata": {},
                "latency_ms": None,
            }
            for age, at in (("old", old), ("new", recent))
        ]
        assert (await ingest.ingest(principal, "ml", ml)).accepted == 14
        assert (await ingest.ingest(principal, "llm", llm)).accepted == 2
        for age, at in (("old", old), ("new", recent)):
            await storage.audit_logs.insert_one(
                {
                    "event_type": "auth",
                    "tenant": tenant,
                    "client_id": "c",
                    "action": age,
                    "timestamp": at,
                    "details": {},
                }
            )
    minute = storage.buckets["minute"]
    hour = storage.buckets["hour"]
    # Buckets as the rollup job writes them: every (tenant, kind) also has a total bucket.
    owner = {"tenant": "ret-a", "kind": "ml", "model": "m"}
    await storage.buckets["total"].insert_one({**owner, "start": dt.datetime(1970, 1, 1)})
    await minute.insert_many(
        [
            {**owner, "start": now - dt.timedelta(days=8), "age": "old"},
            {**owner, "start": now - dt.timedelta(days=6), "age": "new"},
        ]
    )
    await hour.insert_one({**owner, "start": now - dt.timedelta(days=400), "age": "old"})
    await storage.job_leases.insert_one({"_id": "x"})  # a job of this name exists
    await storage.job_runs.insert_one({"job": "x", "started_at": now - dt.timedelta(days=8)})

    kept = await apply_retention(storage, retention_days=0, rollup_retention_days=0, now=now)
    assert kept == {"deleted": {"job_runs": 1}}, "0 keeps events, audit logs and buckets"
    assert await storage.ml_events.count_documents({"tenant": {"$in": tenants}}) == 28

    # A batch of 3 makes the batching loop go round several times.
    result = await apply_retention(
        storage,
        retention_days=30,
        rollup_retention_days=7,
        audit_retention_days=30,
        now=now,
        batch=3,
    )
    assert result["deleted"]["ml_events"] == 14
    assert result["deleted"]["llm_events"] == 2
    assert result["deleted"]["audit_logs"] >= 2
    assert result["deleted"]["rollups_minute"] == 1
    for tenant in tenants:
        ml_left = [d["event_id"] async for d in storage.ml_events.find({"tenant": tenant})]
        assert sorted(ml_left) == sorted(f"{tenant}-new-{i}" for i in range(7))
        llm_left = [d["event_id"] async for d in storage.llm_events.find({"tenant": tenant})]
        assert llm_left == [f"{tenant}-new"]
        audit_left = [d["action"] async for d in storage.audit_logs.find({"tenant": tenant})]
        assert audit_left == ["new"]
    assert [d["age"] async for d in minute.find()] == ["new"]
    assert [d["age"] async for d in hour.find()] == ["old"], "hour buckets are kept"


async def test_retention_deletes_old_spans_and_explore_documents(storage: Storage) -> None:
    """OTLP's spans go once their start is older than RETENTION_DAYS; explore's rows, directory
    and summaries once the hour or day they cover is."""
    now = utcnow()
    principal = Principal("cl-ret-spans", "ret-spans", frozenset({"ingest"}))
    trace_id = "ab" * 16

    def span(key: str, start: dt.datetime) -> dict[str, Any]:
        return {
            "trace_id": trace_id,
            "span_id": key,
            "name": key,
            "kind": "INTERNAL",
            "start": start,
            "end": start,
            "status": "UNSET",
            "attributes": [],
        }

    events = [
        {
            "event_id": f"span-{age}",
            "model_name": "l",
            "prompt_length": 1,
            "response_length": 1,
            "tokens_used": 1,
            "cost": 0.1,
            "timestamp": now - dt.timedelta(days=days),
            "metadata": {},
            "latency_ms": None,
            "trace_id": trace_id,
        }
        for age, days in (("old", 31), ("new", 29))
    ]
    spans = [span("old-alone", now - dt.timedelta(days=40)), span("new-alone", now)]
    result = await IngestService(storage).ingest(principal, "llm", events, spans)
    assert (result.accepted, result.spans_stored) == (2, 2)  # an event is its own span
    await fold_notes(storage)
    mine = {"tenant": "ret-spans"}

    async def hours(collection: Any, field: str) -> list[dt.datetime]:
        return sorted([d[field] async for d in collection.find(mine)])

    assert len(await hours(storage.event_rows, "hour")) == 4  # 2 events, 2 spans; 4 hours
    kept = await apply_retention(storage, retention_days=0, rollup_retention_days=0, now=now)
    assert "spans" not in kept["deleted"], "0 keeps spans"
    result = await apply_retention(
        storage, retention_days=30, rollup_retention_days=0, now=now, batch=1
    )
    assert result["deleted"]["spans"] == 1
    left = [d["span_id"] async for d in storage.spans.find(mine)]
    assert left == ["new-alone"]
    cutoff = now - dt.timedelta(days=30)
    assert result["deleted"]["event_rows"] == 2
    assert all(h >= cutoff - dt.timedelta(hours=1) for h in await hours(storage.event_rows, "hour"))
    assert result["deleted"]["explore_summaries"] >= 2  # the old hour's and day's at least
    assert all(
        s >= cutoff - dt.timedelta(days=1) for s in await hours(storage.explore_summaries, "start")
    )
    assert all(
        d >= cutoff - dt.timedelta(days=1) for d in await hours(storage.explore_directory, "day")
    )


async def test_alert_history_and_audit_logs_are_pruned_but_never_a_pending_delivery(
    storage: Storage,
) -> None:
    now = utcnow()
    old, recent = now - dt.timedelta(days=91), now - dt.timedelta(days=89)
    tenant = "ret-alerts"
    history = {  # alert event: (time of the state change, delivery status)
        "old-delivered": (old, "delivered"),
        "old-failed": (old, "failed"),
        "old-cancelled": (old, "cancelled"),
        "old-pending": (old, "pending"),  # its webhook is still to go: kept, with its attempts
        "new-delivered": (recent, "delivered"),
    }
    await storage.alert_events.insert_many(
        [
            {"_id": f"ar_ret:{name}", "tenant": tenant, "rule_id": "ar_ret", "seq": i}
            | {"time": at, "delivery_status": status}
            for i, (name, (at, status)) in enumerate(history.items())
        ]
    )
    await storage.alert_deliveries.insert_many(
        [
            {"_id": f"ar_ret:{name}:1", "tenant": tenant, "transition_id": f"ar_ret:{name}"}
            | {"attempt": 1, "time": at}
            for name, (at, _) in history.items()
        ]
    )
    await storage.audit_logs.insert_many(
        [
            {"tenant": tenant, "action": age, "timestamp": now - dt.timedelta(days=days)}
            for age, days in (("old", 366), ("new", 364))
        ]
    )

    kept = await apply_retention(storage, retention_days=0, rollup_retention_days=0, now=now)
    assert await storage.alert_events.count_documents({"tenant": tenant}) == 5, "0 keeps all"
    assert set(kept["deleted"]) == {"job_runs"}

    result = await apply_retention(
        storage,
        retention_days=0,
        rollup_retention_days=0,
        audit_retention_days=365,
        alert_history_retention_days=90,
        now=now,
        batch=2,
    )
    assert result["deleted"]["alert_events"] == 3
    assert result["deleted"]["alert_deliveries"] == 3
    left = {d["_id"] async for d in storage.alert_events.find({"tenant": tenant})}
    assert left == {"ar_ret:old-pending", "ar_ret:new-delivered"}
    attempts = {d["transition_id"] async for d in storage.alert_deliveries.find({"tenant": tenant})}
    assert attempts == left
    assert [d["action"] async for d in storage.audit_logs.find({"tenant": tenant})] == ["new"]


def test_alert_history_and_audit_logs_have_a_retention_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUDIT_RETENTION_DAYS", "ALERT_HISTORY_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.audit_retention_days, settings.alert_history_retention_days) == (365, 90)
