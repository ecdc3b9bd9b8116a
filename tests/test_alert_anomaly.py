"""Anomaly rules' baselines: the 25 windows read in one pass are each window's value.

A private database, collector and gateway (webhooks to 127.0.0.1 allowed; the scheduled
alerts and rollup jobs off: each test evaluates, and folds when it wants buckets, itself).
The windows are judged at a whole minute T, so a 1-minute rule's current window is the
minute before T and its baseline the 24 minutes before that.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pathlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from collector.alerts.anomaly import BASELINE_WINDOWS
from collector.alerts.metrics import RollupMetrics, baseline_bounds
from collector.alerts.webhooks import DeliveryPolicy
from collector.rollups.fold import fold_partials
from collector.store.storage import Storage, open_storage
from tests.conftest import ApiClient, create_client, ingest, issue_token, llm_event
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Database,
    collector_env,
    start_collector,
    start_gateway,
)

pytestmark = pytest.mark.timeout(180)

SECRET = "a-webhook-secret-of-some-length"
FAST = DeliveryPolicy(timeout_s=5, backoff_base_s=0.05, horizon_s=20)
WEBHOOK_KEYS = {"id", "name", "state", "value", "threshold", "window_minutes", "time"}
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Backend:
    db: Database
    http_url: str


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data: pathlib.Path = tmp_path_factory.mktemp("anomaly")
    db = Database(data).start()
    env = collector_env(
        db.url,
        data,
        ALLOW_PRIVATE_WEBHOOKS="true",
        ALERTS_INTERVAL_S="0",
        ROLLUP_INTERVAL_S="0",
        RETENTION_INTERVAL_S="0",
    )
    collector, grpc_port = start_collector(env, data / "collector.log")
    gateway, http_port = start_gateway(f"127.0.0.1:{grpc_port}", data / "gateway.log")
    yield Backend(db, f"http://127.0.0.1:{http_port}")
    gateway.stop()
    assert collector.stop() == 0, "the collector (with its jobs) did not exit cleanly"
    db.stop()


@pytest.fixture(scope="module")
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with open_storage(backend.db.url, "aegisai", 5000) as opened:
        yield opened


@pytest.fixture(scope="module")
async def api(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=backend.http_url, timeout=30) as client:
        yield client


@pytest.fixture
async def manager(api: httpx.AsyncClient, storage: Storage) -> AsyncIterator[ApiClient]:
    """A client of a fresh tenant; afterwards every rule is deleted, so that the next test's
    job runs judge only its own."""
    root = ApiClient(
        ADMIN_ID, ADMIN_SECRET, "default", await issue_token(api, ADMIN_ID, ADMIN_SECRET)
    )
    yield await create_client(api, root, f"t-{uuid.uuid4().hex[:12]}", ["ingest", "read", "alerts"])
    await storage.alert_rules.delete_many({})


def whole_minute() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


async def test_the_baseline_read_in_one_pass_equals_each_window_read_alone(
    api: httpx.AsyncClient, storage: Storage, manager: ApiClient
) -> None:
    """A 90-minute window judged 17 min 30 s past an hour: its 25 windows (91 minutes once
    widened) cut hour buckets everywhere. Events over the 38 hours before, some folded into
    minute, hour and day buckets and some still in partials: every metric of every window,
    as with_baseline reads them together, equals window_value reading that window alone."""
    now = whole_minute().replace(minute=17, second=30) - dt.timedelta(hours=1)
    rng = random.Random(20)

    def batch(n: int) -> list[dict[str, Any]]:
        return [
            llm_event(
                rng.choice(["llm-a", "llm-b"]),
                timestamp=(now - dt.timedelta(minutes=rng.uniform(0, 38 * 60))).isoformat(),
                tokens_used=rng.randint(1, 500),
                cost=round(rng.uniform(0, 0.01), 6),
                latency_ms=round(rng.uniform(1, 900), 1),
                error=rng.choice(["", "", "timeout"]),
            )
            for _ in range(n)
        ]

    await ingest(api, manager, "llm", batch(300))
    await fold_partials(storage)
    await ingest(api, manager, "llm", batch(200))
    assert await storage.partials.count_documents({"tenant": manager.tenant}) > 0

    metrics = RollupMetrics(storage)
    start = now - dt.timedelta(minutes=90)
    bounds = baseline_bounds(start, now, None)
    assert len(bounds) == BASELINE_WINDOWS + 2 and bounds[-1] == now.replace(second=0) + MINUTE
    assert {b - a for a, b in itertools.pairwise(bounds)} == {91 * MINUTE}
    for metric in ("requests", "cost", "tokens", "error_rate", "latency_p95"):
        for model in (None, "llm-b"):
            value, windows = await metrics.with_baseline(manager.tenant, metric, model, start, now)
            alone = [
                await metrics.window_value(manager.tenant, metric, model, a, b)
                for a, b in itertools.pairwise(bounds)
            ]
            assert [*windows, value] == pytest.approx(alone), (metric, model)
            assert value == pytest.approx(
                await metrics.window_value(manager.tenant, metric, model, start, now)
            )
    _, counts = await metrics.with_baseline(manager.tenant, "requests", None, start, now)
    assert len(counts) == BASELINE_WINDOWS and sum(c or 0 for c in counts) >= 400, "not vacuous"
