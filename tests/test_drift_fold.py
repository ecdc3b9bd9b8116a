"""Drift sketches end to end (issue 20 §1): many events' features and predictions, sent
again as duplicates (some with other values) and across a collector SIGKILLed mid-stream while
one of its transactions had written a batch and its commit never arrived, then folded by an
interrupted job and two runners at once, read back as one sketch per feature that equals one
sketch over all the values sent: exactly the counts, within KLL's rank error the quantiles.

The test owns its database and collector; the collector's own jobs are slowed right down, so
the test folds when it says (it calls the job's function, as the scheduler does).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import pathlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from datasketches import frequent_strings_sketch, kll_doubles_sketch

from aegis.v1 import auth_pb2, auth_pb2_grpc, events_pb2, ingest_pb2, ingest_pb2_grpc
from collector.drift import fold
from collector.drift.fold import fold_drift
from collector.drift.reader import Distribution, read_distributions
from collector.jobs.retention import apply_retention
from collector.store.storage import Storage, open_storage
from tests.procs import ADMIN_ID, ADMIN_SECRET, Backend, count_events

pytestmark = pytest.mark.timeout(300)
UTC = dt.UTC
# Events over 10 hours across a midnight: hour sketches at the edges, day sketches between.
FIRST = dt.datetime(2024, 5, 1, 19, tzinfo=UTC)
HOURS = 10
BATCHES, PER_BATCH = 30, 20
PLANS = [f"plan-{i}" for i in range(12)]
RANK_ERROR = 0.0075  # KLL k=400 (collector.drift.sketches)
RETRYABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
)


@dataclass
class Sent:
    """What every event carried, by its time: (timestamp, ages, plans, scores)."""

    rows: list[tuple[dt.datetime, list[float], list[str], list[float]]] = field(
        default_factory=list
    )

    def within(
        self, start: dt.datetime, end: dt.datetime
    ) -> tuple[list[float], Counter[str], list[float]]:
        ages: list[float] = []
        plans: Counter[str] = Counter()
        scores: list[float] = []
        for at, age, plan, score in self.rows:
            if start <= at < end:
                ages += age
                plans.update(plan)
                scores += score
        return ages, plans, scores


def _batches(rng: random.Random, sent: Sent) -> list[ingest_pb2.IngestMLRequest]:
    fv = events_pb2.FeatureValues
    out = []
    for b in range(BATCHES):
        events = []
        for e in range(PER_BATCH):
            at = FIRST + dt.timedelta(seconds=rng.randrange(HOURS * 3600))
            rows = rng.randint(1, 25)
            ages = [round(rng.gauss(40, 12), 3) for _ in range(rows)]
            plans = rng.choices(PLANS, weights=range(1, 13), k=rows)
            scores = [rng.random() for _ in range(rows)]
            sent.rows.append((at, ages, plans, scores))
            event = events_pb2.MLEvent(
                event_id=f"e-{b}-{e}",
                model_id="churn",
                model_type="xgboost",
                features={"age": fv(numbers=ages), "plan": fv(strings=plans)},
                predictions=fv(numbers=scores),
            )
            event.timestamp.FromDatetime(at)
            events.append(event)
        out.append(ingest_pb2.IngestMLRequest(events=events))
    return out


class Api:
    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(target)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self.channel)
        self.metadata: tuple[tuple[str, str], ...] = ()

    async def sign_in(self) -> Api:
        auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        reply = await auth.IssueToken(
            auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET), timeout=30
        )
        self.metadata = (("authorization", f"Bearer {reply.access_token}"),)
        return self

    async def send(self, request: ingest_pb2.IngestMLRequest) -> ingest_pb2.IngestResponse:
        """Send until answered (a retryable refusal is resent: exactly once makes it safe)."""
        deadline = time.monotonic() + 120
        while True:
            try:
                return await self.ingest.IngestML(request, metadata=self.metadata, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


@pytest.fixture
def backend(tmp_path: pathlib.Path) -> Iterator[Backend]:
    running = Backend(
        tmp_path, quiet_monitors=True, proxied=True, ROLLUP_INTERVAL_S="3600"
    ).start_collector()
    yield running
    running.stop()


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with open_storage(backend.db.url, "aegisai", 5000) as opened:
        yield opened


async def _read(storage: Storage, start: dt.datetime, end: dt.datetime) -> dict[str, Distribution]:
    found = await read_distributions(storage, "default", "churn", start, end)
    return {d.name if d.role == "feature" else "prediction": d for d in found}


def _assert_numeric(d: Distribution, values: list[float]) -> None:
    sketch = kll_doubles_sketch.deserialize(d.blob)
    assert (d.kind, d.rows, sketch.n) == ("numeric", len(values), len(values))
    ordered = sorted(values)
    assert (sketch.get_min_value(), sketch.get_max_value()) == (ordered[0], ordered[-1])
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        estimate = sketch.get_quantile(q)
        true_rank = sum(1 for v in ordered if v <= estimate) / len(ordered)
        assert abs(true_rank - q) <= RANK_ERROR, (q, true_rank)


async def check(storage: Storage, sent: Sent) -> None:
    """Every range's sketches equal the values sent in its hours."""
    ranges = [
        (FIRST, FIRST + dt.timedelta(hours=HOURS)),  # edges and a whole day
        (dt.datetime(2024, 5, 1, tzinfo=UTC), dt.datetime(2024, 5, 3, tzinfo=UTC)),  # days
        (FIRST + dt.timedelta(hours=3, minutes=20), FIRST + dt.timedelta(hours=6, minutes=5)),
    ]
    for start, end in ranges:
        # A range is read in whole hours.
        first = start.replace(minute=0)
        last = end.replace(minute=0) + (dt.timedelta(hours=1) if end.minute else dt.timedelta())
        ages, plans, scores = sent.within(first, last)
        found = await _read(storage, start, end)
        assert set(found) == {"age", "plan", "prediction"}
        _assert_numeric(found["age"], ages)
        _assert_numeric(found["prediction"], scores)
        plan = frequent_strings_sketch.deserialize(found["plan"].blob)
        assert (found["plan"].kind, found["plan"].rows) == ("categorical", plans.total())
        assert {p: plan.get_estimate(p) for p in PLANS} == {p: plans[p] for p in PLANS}


async def test_sketches_count_every_value_once_across_duplicates_a_kill_and_folds(
    backend: Backend, storage: Storage
) -> None:
    rng = random.Random(20)
    sent = Sent()
    batches = _batches(rng, sent)
    total = BATCHES * PER_BATCH
    assert backend.collector is not None and backend.proxy is not None
    api = await Api(backend.target).sign_in()
    half = BATCHES // 2
    for request in batches[:half]:
        assert (await api.send(request)).accepted == PER_BATCH

    # The rest on one stream; one of its transactions writes its batch (events and drift
    # partials) and its commit never arrives; the collector is killed meanwhile.
    backend.proxy.drop_next_commit()
    stream = api.ingest.StreamEvents(
        iter(
            [ingest_pb2.StreamEventsRequest(sequence=i, ml=r) for i, r in enumerate(batches[half:])]
        ),
        metadata=api.metadata,
    )
    acks: list[int] = []

    async def read_acks() -> None:
        async for ack in stream:
            acks.append(ack.sequence)

    reading = asyncio.create_task(read_acks())
    deadline = time.monotonic() + 60
    while backend.proxy.commits_dropped < 1:
        assert time.monotonic() < deadline, "no commit was dropped"
        await asyncio.sleep(0.02)
    backend.collector.kill()  # SIGKILL: its open transaction stays behind in the database
    with pytest.raises(grpc.aio.AioRpcError):
        await reading
    assert len(acks) < BATCHES - half, "the kill should land mid-stream"
    assert count_events(backend.db.url, "ml", "default") < total
    await api.channel.close()

    backend.start_collector()
    api = await Api(backend.target).sign_in()
    answered = [await api.send(request) for request in batches]
    assert sum(r.accepted + r.duplicates for r in answered) == total
    assert sum(r.rejected for r in answered) == 0
    assert count_events(backend.db.url, "ml", "default") == total
    # Retries with other values: duplicates, summarised no second time.
    for request in batches[:3]:
        changed = ingest_pb2.IngestMLRequest()
        changed.CopyFrom(request)
        for event in changed.events:
            event.features["age"].numbers[:] = [1e6] * len(event.features["age"].numbers)
        assert (await api.send(changed)).duplicates == PER_BATCH
    await api.channel.close()
    await check(storage, sent)  # nothing folded: partials only

    # The job stopped after two rounds, as a crash between transactions would stop it.
    pending = await storage.drift_partials.count_documents({})
    assert await fold_drift(storage, limit=5, max_rounds=2) == 10
    await check(storage, sent)  # partials, hours and days mixed

    # Cancelled wherever it is, inside a transaction or between two: all or nothing of it.
    folding = asyncio.create_task(fold_drift(storage, limit=4))
    await asyncio.sleep(0.3)
    folding.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await folding
    left = await storage.drift_partials.count_documents({})
    assert left <= pending - 10
    await check(storage, sent)

    # Two runners at once (as if a lease had been lost): each partial still lands once.
    results = await asyncio.gather(fold_drift(storage, limit=7), fold_drift(storage, limit=7))
    assert sum(results) == left
    assert await storage.drift_partials.count_documents({}) == 0
    assert await storage.drift_hour.count_documents({}) == 3 * HOURS
    assert await storage.drift_day.count_documents({}) == 3 * 2
    await check(storage, sent)  # hours and days only
    assert await fold_drift(storage) == 0, "a second run finds nothing to fold"

    # Retention deletes the (old) hour sketches and keeps the days; a reader told which hours
    # are kept widens an older edge to its whole day.
    await apply_retention(storage, retention_days=0, rollup_retention_days=7)
    assert await storage.drift_hour.count_documents({}) == 0
    assert await storage.drift_day.count_documents({}) == 3 * 2
    kept_from = dt.datetime.now(UTC) - dt.timedelta(days=7)
    edge = FIRST + dt.timedelta(hours=1, minutes=30)
    found = await read_distributions(
        storage, "default", "churn", edge, edge + dt.timedelta(hours=1), hours_from=kept_from
    )
    ages, _, _ = sent.within(
        dt.datetime(2024, 5, 1, tzinfo=UTC), dt.datetime(2024, 5, 2, tzinfo=UTC)
    )
    [age] = [d for d in found if d.name == "age"]
    _assert_numeric(age, ages)


async def test_the_scheduled_job_folds_on_its_own(tmp_path: pathlib.Path) -> None:
    backend = Backend(tmp_path, ROLLUP_INTERVAL_S="0.2").start_collector()
    try:
        sent = Sent()
        api = await Api(backend.target).sign_in()
        for request in _batches(random.Random(4), sent)[:3]:
            assert (await api.send(request)).accepted == PER_BATCH
        del sent.rows[3 * PER_BATCH :]  # the values of the batches sent
        await api.channel.close()
        async with open_storage(backend.db.url, "aegisai", 5000) as storage:
            deadline = time.monotonic() + 60
            while await storage.drift_partials.count_documents({}):
                assert time.monotonic() < deadline, "the drift job did not fold its partials"
                await asyncio.sleep(0.1)
            assert await storage.drift_day.count_documents({}) == 3 * 2
            runs = await storage.job_runs.count_documents({"job": "drift"})
            assert runs > 0
            await check(storage, sent)
    finally:
        backend.stop()


async def test_a_round_writes_a_bounded_number_of_sketches(
    backend: Backend, storage: Storage
) -> None:
    """A partial holds a sketch per feature of its (model, hour): one of 150 features makes a
    round of its own (300 writes, over WRITES), never split, never left behind."""
    fv = events_pb2.FeatureValues
    events = []
    for hour in range(3):
        event = events_pb2.MLEvent(event_id=f"wide-{hour}", model_id="wide", model_type="t")
        for i in range(150):
            event.features[f"f{i:03d}"].CopyFrom(fv(numbers=[float(hour), float(i)]))
        event.timestamp.FromDatetime(FIRST + dt.timedelta(hours=hour))
        events.append(event)
    api = await Api(backend.target).sign_in()
    assert (await api.send(ingest_pb2.IngestMLRequest(events=events))).accepted == 3
    await api.channel.close()
    assert await storage.drift_partials.count_documents({}) == 3  # one per (model, hour)

    assert fold.WRITES < 2 * 150
    assert await fold_drift(storage, max_rounds=1) == 1
    assert await fold_drift(storage, max_rounds=1) == 1
    assert await fold_drift(storage) == 1
    assert await storage.drift_hour.count_documents({}) == 3 * 150
    found = await read_distributions(
        storage, "default", "wide", FIRST, FIRST + dt.timedelta(hours=3)
    )
    assert len(found) == 150
    for d in found:
        sketch = kll_doubles_sketch.deserialize(d.blob)
        i = float(d.name[1:])
        assert (d.rows, sketch.get_min_value(), sketch.get_max_value()) == (6, 0.0, max(2.0, i))
