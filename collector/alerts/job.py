"""The alerts job: evaluate every rule, then deliver the webhooks of new and pending events.

A plain async function with explicit dependencies; the scheduler runs it under the `alerts`
lease, and tests call it directly on a Storage of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from collector.alerts.evaluate import evaluate_rules
from collector.alerts.metrics import RollupMetrics, WindowValue
from collector.alerts.webhooks import DeliveryPolicy, deliver_pending
from collector.storage import Storage


async def run_alerts(
    storage: Storage,
    *,
    allow_private_webhooks: bool,
    policy: DeliveryPolicy | None = None,
    window_value: WindowValue | None = None,
    now: dt.datetime | None = None,
    minute_retention_days: float = 0,
) -> dict[str, Any]:
    """One evaluation at `now` (default: the current time) and one round of deliveries."""
    metrics = RollupMetrics(storage, minute_retention_days=minute_retention_days)
    values = window_value or metrics.window_value
    evaluation = await evaluate_rules(storage, values, now or dt.datetime.now(dt.UTC))
    deliveries = await deliver_pending(storage, allow_private=allow_private_webhooks, policy=policy)
    return {**dataclasses.asdict(evaluation), **dataclasses.asdict(deliveries)}
