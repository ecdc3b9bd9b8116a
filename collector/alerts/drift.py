"""The values of drift rules (issue 20 §3): `feature_drift`, the largest PSI of a model's
features (or of the rule's `feature`), and `prediction_drift`, its predictions' PSI.

The current window is the rule's (`window_minutes` before the evaluation), widened to whole
hours as drift sketches are hourly; the reference is the 7 days before it, or fixed by the
rule's `reference_start` and `reference_end` (the dashboards' date formats, both or neither).
A feature with too few rows in either window (collector.drift.compare.MIN_ROWS) has no PSI
and is ignored; with none left the value is unknown, and a rule does not hold on it. Each
value comes with the features at `warning` or `drift`, which the rule's events and webhooks
carry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from collector.dates import parse_range
from collector.drift.report import DEFAULT_REFERENCE, MLDrift, Window, ceil_hour, floor_hour
from collector.errors import InvalidArgument
from collector.store.storage import Storage

DRIFT_METRICS = ("feature_drift", "prediction_drift")
NOTEWORTHY = ("warning", "drift")


def fixed_reference(reference_start: str, reference_end: str) -> Window | None:
    """A rule's fixed reference window, in whole hours; None when it has none. InvalidArgument
    naming the field for a bound without the other or a date that does not parse."""
    if not reference_start and not reference_end:
        return None
    if not reference_start or not reference_end:
        missing = "reference_end" if reference_start else "reference_start"
        raise InvalidArgument(f"{missing}: required with the other (both or neither)")
    dates = parse_range(reference_start, reference_end, ("reference_start", "reference_end"))
    assert dates.start is not None and dates.end is not None
    return Window(floor_hour(dates.start), ceil_hour(dates.end))


@dataclass(frozen=True)
class DriftValue:
    value: float | None
    # The features at warning or drift, by name: {name, psi, status}.
    features: list[dict[str, Any]] = field(default_factory=list)


class DriftValues:
    def __init__(self, storage: Storage, *, retention_days: float = 0) -> None:
        self._drift = MLDrift(storage, retention_days=retention_days)

    async def __call__(
        self, rule: dict[str, Any], start: dt.datetime, end: dt.datetime
    ) -> DriftValue:
        """The rule's drift value over [start, end)."""
        current = Window(floor_hour(start), ceil_hour(end))
        reference = fixed_reference(
            rule.get("reference_start") or "", rule.get("reference_end") or ""
        ) or Window(current.start - DEFAULT_REFERENCE, current.start)
        report = await self._drift.compare(rule["tenant"], rule["model"], reference, current)
        noteworthy = [
            {"name": c.name, "psi": c.drift.psi, "status": c.drift.status}
            for c in report.features
            if c.drift.status in NOTEWORTHY
        ]
        if rule["metric"] == "prediction_drift":
            psi = report.predictions.drift.psi if report.predictions is not None else None
            return DriftValue(psi, noteworthy)
        known = [
            c.drift.psi
            for c in report.features
            if c.drift.psi is not None and rule.get("feature") in (None, c.name)
        ]
        return DriftValue(max(known) if known else None, noteworthy)
