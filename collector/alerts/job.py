"""The alerts job: evaluate every rule, then hand the new and pending events to the deliverer.

The scheduler runs `alerts_job` under the `alerts` lease: it evaluates and wakes the
deliverer, which sends in the background (collector.alerts.webhooks), so a slow receiver
never holds the run, the lease or the next evaluation. `run_alerts` is the one-shot form for
tests and tools: it evaluates, then waits until the deliveries have settled. Both are plain
async functions with explicit dependencies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from collector.alerts.delivery import Deliverer, deliver_pending
from collector.alerts.drift import DriftValues
from collector.alerts.evaluate import Evaluation, evaluate_rules
from collector.alerts.metrics import RollupMetrics, WindowValue
from collector.alerts.webhooks import DeliveryPolicy
from collector.store.storage import Storage


async def evaluate_alerts(
    storage: Storage,
    *,
    window_value: WindowValue | None = None,
    now: dt.datetime | None = None,
    minute_retention_days: float = 0,
) -> Evaluation:
    """One evaluation of every rule at `now` (default: the current time)."""
    metrics = RollupMetrics(storage, minute_retention_days=minute_retention_days)
    values = window_value or metrics.window_value
    return await evaluate_rules(
        storage,
        values,
        now or dt.datetime.now(dt.UTC),
        metrics.group_values,
        metrics.with_baseline,
        metrics.baselines_per_model,
        DriftValues(storage, retention_days=minute_retention_days),
    )


async def alerts_job(
    storage: Storage, deliverer: Deliverer, *, minute_retention_days: float = 0
) -> dict[str, Any]:
    """The scheduled run: one evaluation, then the deliverer is woken; never waits for it."""
    evaluation = await evaluate_alerts(storage, minute_retention_days=minute_retention_days)
    deliverer.wake()
    return {**dataclasses.asdict(evaluation), "deliveries_in_flight": deliverer.in_flight}


async def run_alerts(
    storage: Storage,
    *,
    allow_private_webhooks: bool,
    policy: DeliveryPolicy | None = None,
    window_value: WindowValue | None = None,
    now: dt.datetime | None = None,
    minute_retention_days: float = 0,
) -> dict[str, Any]:
    """One evaluation at `now`, then deliveries until they settle (retries within the
    policy's horizon included)."""
    evaluation = await evaluate_alerts(
        storage, window_value=window_value, now=now, minute_retention_days=minute_retention_days
    )
    deliveries = await deliver_pending(storage, allow_private=allow_private_webhooks, policy=policy)
    return {**dataclasses.asdict(evaluation), **dataclasses.asdict(deliveries)}
