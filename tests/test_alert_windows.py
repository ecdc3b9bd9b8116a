"""Alert windows against brute force: a 7-day rule reads hour and day buckets for its old edge,
minute buckets for its recent one and the partials not folded yet, never raw events.

A private database and collector (its rollup and alerts jobs off: the test folds and
evaluates, calling the jobs' functions as the scheduler does), ROLLUP_RETENTION_DAYS at its
default of 7, so the window's old edge lies where minute buckets are not kept.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from aegis.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
)
from collector.alerts.evaluate import evaluate_rules
from collector.alerts.metrics import RollupMetrics
from collector.alerts.webhooks import body
from collector.rollups.fold import fold_partials
from collector.rollups.reader import kinds_with_events
from collector.store.storage import Storage, open_storage
from tests.procs import Backend, grpc_client_for

pytestmark = pytest.mark.timeout(240)

RETENTION_DAYS = 7.0
WEEK = dt.timedelta(days=7)
LLM_MODELS = ("gpt-a", "gpt-b")
ML_MODELS = ("fraud", "churn")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data: pathlib.Path = tmp_path_factory.mktemp("alert-windows")
    running = Backend(
        data,
        ROLLUP_INTERVAL_S="0",
        ALERTS_INTERVAL_S="0",
        RETENTION_INTERVAL_S="0",
        ROLLUP_RETENTION_DAYS=str(RETENTION_DAYS),
        ALLOW_PRIVATE_WEBHOOKS="true",
    ).start_collector()
    yield running
    running.stop()


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    async with open_storage(backend.db.url, "aegisai", 5000) as opened:
        yield opened


class Tenant:
    """A fresh tenant's client over gRPC: ingest, read and manage alert rules."""

    def __init__(self, target: str) -> None:
        self.name = f"w-{uuid.uuid4().hex[:10]}"
        client_id, secret = grpc_client_for(target, self.name, ("ingest", "read", "alerts"))
        self._channel = grpc.insecure_channel(target)
        token = (
            auth_pb2_grpc.AuthServiceStub(self._channel)
            .IssueToken(auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret))
            .access_token
        )
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self.alerts = alerts_pb2_grpc.AlertServiceStub(self._channel)

    def send(self, kind: str, events: list[dict[str, Any]]) -> None:
        if kind == "llm":
            reply = self.ingest.IngestLLM(
                ingest_pb2.IngestLLMRequest(events=[_llm(e) for e in events]),
                metadata=self.metadata,
                timeout=30,
            )
        else:
            reply = self.ingest.IngestML(
                ingest_pb2.IngestMLRequest(events=[_ml(e) for e in events]),
                metadata=self.metadata,
                timeout=30,
            )
        assert reply.accepted == len(events), reply

    def close(self) -> None:
        self._channel.close()


@pytest.fixture
def tenant(backend: Backend) -> Iterator[Tenant]:
    client = Tenant(backend.target)
    yield client
    client.close()


def _stamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _llm(e: dict[str, Any]) -> events_pb2.LLMEvent:
    return events_pb2.LLMEvent(
        event_id=e["event_id"],
        model_name=e["model"],
        tokens_used=e["amount"],
        cost=e["cost"],
        timestamp=_stamp(e["timestamp"]),
        error=e["error"],
        latency_ms=e["latency"],
    )


def _ml(e: dict[str, Any]) -> events_pb2.MLEvent:
    return events_pb2.MLEvent(
        event_id=e["event_id"],
        model_id=e["model"],
        model_type="rf",
        prediction_count=e["amount"],
        timestamp=_stamp(e["timestamp"]),
        error=e["error"],
        latency_ms=e["latency"],
    )


def event(rng: random.Random, kind: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "model": rng.choice(LLM_MODELS if kind == "llm" else ML_MODELS),
        "amount": rng.randint(1, 400),
        "cost": round(rng.uniform(0, 0.01), 7),
        "timestamp": at.replace(microsecond=at.microsecond // 1000 * 1000),  # BSON's grain
        "error": rng.choice(["", "", "", "timeout"]),
        "latency": round(rng.uniform(1, 900), 3),
    }


def brute(
    events: list[dict[str, Any]],
    metric: str,
    model: str | None,
    start: dt.datetime,
    end: dt.datetime,
) -> float | None:
    inside = [
        e
        for e in events
        if start <= e["timestamp"] < end and (model is None or e["model"] == model)
    ]
    llm = [e for e in inside if e["kind"] == "llm"]
    ml = [e for e in inside if e["kind"] == "ml"]
    if metric == "cost":
        return sum(e["cost"] for e in llm)
    if metric == "tokens":
        return float(sum(e["amount"] for e in llm))
    if metric == "requests":
        return float(len(llm))
    if metric == "predictions":
        return float(sum(e["amount"] for e in ml))
    if metric == "no_data":
        return float(len(inside))
    if metric == "error_rate":  # ML and LLM events alike
        return sum(bool(e["error"]) for e in inside) / len(inside) if inside else None
    raise AssertionError(metric)


CHECKS = [
    (metric, model)
    for metric in ("cost", "tokens", "requests", "predictions", "no_data", "error_rate")
    for model in (None, "gpt-a", "fraud")
]


async def check_window(
    storage: Storage, tenant: Tenant, sent: list[dict[str, Any]], now: dt.datetime
) -> None:
    """Every metric of a 7-day window at `now`, as the alerts job computes it, equals brute
    force over the events sent, the window's old edge widened to its whole hour."""
    metrics = RollupMetrics(storage, minute_retention_days=RETENTION_DAYS)
    start = (now - WEEK).replace(minute=0, second=0, microsecond=0)
    for metric, model in CHECKS:
        got = await metrics.window_value(tenant.name, metric, model, now - WEEK, now)
        want = brute(sent, metric, model, start, now)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (metric, model)


async def test_a_7_day_window_is_exact_from_buckets_and_partials_alone(
    storage: Storage, tenant: Tenant
) -> None:
    rng = random.Random(7)
    wall = dt.datetime.now(dt.UTC)
    # On a half hour, so that the window's old edge (7 days before) lies inside an hour whose
    # minutes are older than the minute buckets kept.
    now = wall.replace(minute=0, second=0, microsecond=0) - dt.timedelta(minutes=30)
    edge = now - WEEK
    sent: list[dict[str, Any]] = []
    for kind in ("llm", "ml"):
        spread = [
            event(rng, kind, now - dt.timedelta(seconds=rng.uniform(-1200, 8 * 86_400)))
            for _ in range(300)
        ]
        # Around both edges: in the old edge's hour before and after it, in the hour before
        # that, in the last minute, and after the window's end.
        near = [
            event(rng, kind, edge + dt.timedelta(minutes=offset, seconds=rng.uniform(0, 59)))
            for offset in (-45, -15, -15, -1, 0, 10, 29)
        ] + [event(rng, kind, now - dt.timedelta(seconds=s)) for s in (1, 30)]
        near.append(event(rng, kind, now + dt.timedelta(minutes=5)))
        batch = spread + near
        sent += batch
        for at in range(0, len(batch), 60):
            tenant.send(kind, batch[at : at + 60])
    assert any(edge - dt.timedelta(minutes=30) <= e["timestamp"] < edge for e in sent)

    # Partly folded: buckets and partials. Minutes older than 7 days get no minute bucket, as
    # in the collector's own job.
    assert (
        await fold_partials(storage, minute_retention_days=RETENTION_DAYS, limit=1, max_rounds=3)
        == 3
    )
    assert await storage.partials.count_documents({"tenant": tenant.name}) > 0
    await check_window(storage, tenant, sent, now)
    known = await kinds_with_events(storage, tenant.name, ["gpt-b", "churn", "gpt-x"])
    assert known == {"gpt-b": {"llm"}, "churn": {"ml"}, "gpt-x": set()}, "partials count too"

    await fold_partials(storage, minute_retention_days=RETENTION_DAYS)
    assert await storage.partials.count_documents({"tenant": tenant.name}) == 0
    await check_window(storage, tenant, sent, now)

    # A rule over 10,080 minutes, judged by the evaluation the alerts job runs.
    rule = tenant.alerts.CreateRule(
        alerts_pb2.CreateRuleRequest(
            name="errors this week",
            metric="error_rate",
            comparison="gt",
            threshold=0.1,
            window_minutes=7 * 24 * 60,
            webhook_url="http://127.0.0.1:9/hook",
            webhook_secret="s" * 16,
        ),
        metadata=tenant.metadata,
        timeout=30,
    )
    metrics = RollupMetrics(storage, minute_retention_days=RETENTION_DAYS)
    await evaluate_rules(
        storage,
        metrics.window_value,
        now,
        metrics.group_values,
        metrics.with_baseline,
        metrics.baselines_per_model,
    )
    judged = await storage.alert_rules.find_one({"_id": rule.id})
    assert judged is not None
    start = edge.replace(minute=0)
    assert judged["last_value"] == pytest.approx(brute(sent, "error_rate", None, start, now))
    assert judged["state"] == "firing"

    # The mechanism: with the tenant's raw events gone and its buckets kept, every value is
    # the same, so none of it was read from raw events.
    for collection in (storage.ml_events, storage.llm_events):
        await collection.delete_many({"tenant": tenant.name})
    await check_window(storage, tenant, sent, now)


async def test_error_rate_counts_failed_ml_events_as_well_as_llm_ones(
    storage: Storage, tenant: Tenant
) -> None:
    rng = random.Random(3)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    ml = [event(rng, "ml", now - dt.timedelta(minutes=3)) for _ in range(4)]
    for i, e in enumerate(ml):
        e.update(model="fraud", error="ValueError" if i == 0 else "")
    tenant.send("ml", ml)
    metrics = RollupMetrics(storage, minute_retention_days=RETENTION_DAYS)
    value = await metrics.window_value(
        tenant.name, "error_rate", None, now - dt.timedelta(minutes=10), now
    )
    assert value == 0.25, "1 failed ML event of 4, no LLM event"


async def test_alert_answers_and_webhook_bodies_show_values_without_float_noise(
    storage: Storage, tenant: Tenant
) -> None:
    rng = random.Random(5)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    llm = [event(rng, "llm", now - dt.timedelta(minutes=2)) for _ in range(2)]
    for e, cost in zip(llm, (0.1, 0.2), strict=True):
        e.update(model="noisy", cost=cost)
    tenant.send("llm", llm)
    rule = tenant.alerts.CreateRule(
        alerts_pb2.CreateRuleRequest(
            name="noisy spend",
            metric="cost",
            model="noisy",
            comparison="gt",
            threshold=0.25,
            window_minutes=10,
            webhook_url="http://127.0.0.1:9/hook",
            webhook_secret="s" * 16,
        ),
        metadata=tenant.metadata,
        timeout=30,
    )
    metrics = RollupMetrics(storage, minute_retention_days=RETENTION_DAYS)
    await evaluate_rules(
        storage,
        metrics.window_value,
        now,
        metrics.group_values,
        metrics.with_baseline,
        metrics.baselines_per_model,
    )
    stored = await storage.alert_rules.find_one({"_id": rule.id})
    assert stored is not None and stored["last_value"] == 0.1 + 0.2 == 0.30000000000000004

    got = tenant.alerts.GetRule(
        alerts_pb2.GetRuleRequest(id=rule.id), metadata=tenant.metadata, timeout=30
    )
    assert got.state == "firing" and got.last_value == 0.3
    events = tenant.alerts.ListAlertEvents(
        alerts_pb2.ListAlertEventsRequest(rule_id=rule.id), metadata=tenant.metadata, timeout=30
    ).events
    assert [e.value for e in events] == [0.3]
    change = await storage.alert_events.find_one({"rule_id": rule.id})
    assert change is not None
    assert json.loads(body(change))["value"] == 0.3
    assert b"0.30000000000000004" not in body(change)
