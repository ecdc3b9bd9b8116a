"""The values alert rules are judged on: one number per (tenant, metric, model, window).

`WindowValue` is the seam between evaluation and storage; `RollupMetrics` answers it from the
rollups (buckets plus the partials not yet folded), never from raw events, so an evaluation
costs the same however many events are stored. Windows are on event time (`timestamp`) and
widened to whole minutes, the rollups' finest grain: [start rounded down, end rounded up).
An edge older than the minute buckets kept (ROLLUP_RETENTION_DAYS, less an hour's margin) is
widened to its whole hour instead (collector.rollups.reader.widened): with the defaults, a
7-day window starts at the top of the hour holding its start. `model` narrows to one ML
model_id / LLM model_name.

| metric        | value                                                    | empty window |
|---------------|----------------------------------------------------------|--------------|
| cost          | sum of LLM `cost`                                        | 0            |
| tokens        | sum of LLM `tokens_used`                                 | 0            |
| requests      | number of LLM events                                     | 0            |
| error_rate    | events with a non-empty `error` / events (ML and LLM)    | None         |
| latency_p95   | 95th percentile of `latency_ms` over ML and LLM events   | None         |
| predictions   | sum of ML `prediction_count`                             | 0            |
| no_data       | number of ML and LLM events                              | 0            |
| feature_drift, prediction_drift | a PSI (collector.alerts.drift)                 | None         |

None means there is nothing to judge; a rule's condition does not hold on None.

`BaselineValues` is the seam for anomaly rules (collector.alerts.anomaly): the window's value
and those of the 24 windows of its length before it, read together in one pass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from aegis_shared import json_schema
from collector.alerts.anomaly import BASELINE_WINDOWS
from collector.domain import Kind
from collector.explore.rows import epoch_ms
from collector.explore.summaries import Summary
from collector.explore.windows import summaries
from collector.rollups import cells, histogram
from collector.rollups.cells import Cell
from collector.rollups.reader import minutes_kept_since, read_window, read_windows, widened
from collector.store.storage import Storage

# The metrics a rule may name: the enum of CreateRuleRequest.metric in alerts.proto, which the
# REST documentation states and the dashboard reads from it. KINDS and RANGES say how each
# behaves; a metric added to the proto without them stops the collector at import.
METRICS: tuple[str, ...] = tuple(json_schema.of("aegis.v1.CreateRuleRequest", "metric")["enum"])
KINDS: dict[str, tuple[Kind, ...]] = {
    "cost": ("llm",),
    "tokens": ("llm",),
    "requests": ("llm",),
    "predictions": ("ml",),
    "error_rate": ("ml", "llm"),
    "latency_p95": ("ml", "llm"),
    "no_data": ("ml", "llm"),
    "feature_drift": ("ml",),
    "prediction_drift": ("ml",),
}


@dataclass(frozen=True)
class Range:
    """The values a metric can take, and how to say so to a person."""

    low: float
    high: float
    what: str


# A rule whose threshold lies outside its metric's range, or at the end its comparison points
# away from, can never fire (or never stop firing); collector.alerts.rules refuses it.
RANGES: dict[str, Range] = {
    "cost": Range(0, math.inf, "a sum of LLM costs, 0 or more"),
    "tokens": Range(0, math.inf, "a sum of LLM tokens, 0 or more"),
    "requests": Range(0, math.inf, "a number of LLM events, 0 or more"),
    "error_rate": Range(0, 1, "a fraction of ML and LLM events, from 0 to 1"),
    "latency_p95": Range(0, math.inf, "a latency in milliseconds, 0 or more"),
    "predictions": Range(0, math.inf, "a sum of ML predictions, 0 or more"),
    "no_data": Range(0, math.inf, "a number of ML and LLM events, 0 or more"),
    "feature_drift": Range(0, math.inf, "a PSI, 0 or more"),
    "prediction_drift": Range(0, math.inf, "a PSI, 0 or more"),
}

# What a rule may be grouped by (CreateRuleRequest.group_by), and what a rule grouped by user
# or session can judge: the explore summaries (collector.explore.summaries) hold sums, counts
# and errors per user and session, not latency histograms or predictions.
GROUPS: tuple[str, ...] = tuple(
    g for g in json_schema.of("aegis.v1.CreateRuleRequest", "group_by")["enum"] if g
)
ATTRIBUTION_GROUPS = {"user_id": "user", "session_id": "session"}  # → summary dimension
ATTRIBUTION_METRICS = ("cost", "tokens", "requests", "error_rate", "no_data")

json_schema.agree("collector.alerts.metrics.KINDS", KINDS, METRICS)
json_schema.agree("collector.alerts.metrics.RANGES", RANGES, METRICS)


class WindowValue(Protocol):
    def __call__(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> Awaitable[float | None]: ...


def value_of(metric: str, cell: Cell) -> float | None:
    if metric == "cost":
        return float(cell["cost"])
    if metric == "tokens":
        return float(cell["tokens"])
    if metric in ("requests", "no_data"):
        return float(cell["n"])
    if metric == "predictions":
        return float(cell["predictions"])
    if metric == "error_rate":
        return cell["errors"] / cell["n"] if cell["n"] else None
    if metric == "latency_p95":
        if not cell["timed"]:
            return None
        return histogram.percentile(cell["h"], 0.95, cell["lat_min"], cell["lat_max"])
    raise ValueError(f"unknown metric {metric!r}")


class BaselineValues(Protocol):
    """(the window's value, the values of the BASELINE_WINDOWS windows before it)."""

    def __call__(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> Awaitable[tuple[float | None, list[float | None]]]: ...


class GroupBaselines(Protocol):
    """BaselineValues per model."""

    def __call__(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> Awaitable[dict[str, tuple[float | None, list[float | None]]]]: ...


def baseline_bounds(
    start: dt.datetime, end: dt.datetime, minutes_since: dt.datetime | None
) -> list[dt.datetime]:
    """[S - 24 L, ..., S - L, S, E]: the window [S, E) widened as every rule's (`widened`),
    and the BASELINE_WINDOWS windows of its length L before it, back to back, less those that
    start before `minutes_since` (their minute buckets may be gone: they have no data)."""
    current_start, current_end = widened(start, end, minutes_since)
    length = current_end - current_start
    before = [current_start - k * length for k in range(BASELINE_WINDOWS, 0, -1)]
    kept = [b for b in before if minutes_since is None or b >= minutes_since]
    return [*kept, current_start, current_end]


class GroupValues(Protocol):
    def __call__(
        self,
        tenant: str,
        metric: str,
        group_by: str,
        model: str | None,
        start: dt.datetime,
        end: dt.datetime,
    ) -> Awaitable[dict[str, float | None]]: ...


def summary_value(metric: str, summary: Summary) -> float | None:
    if metric == "cost":
        return summary.cost
    if metric == "tokens":
        return float(summary.tokens)
    if metric == "requests":
        return float(summary.llm)
    if metric == "no_data":
        return float(summary.n)
    if metric == "error_rate":
        return summary.errors / summary.n if summary.n else None
    raise ValueError(f"metric {metric!r} is not kept per user or session")


class RollupMetrics:
    def __init__(self, storage: Storage, *, minute_retention_days: float = 0) -> None:
        self._storage = storage
        self._minute_days = minute_retention_days

    async def _per_model(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> dict[str, Cell]:
        """The window's cells of the metric's kinds, added up per model (only `model`'s when
        given)."""
        if metric not in KINDS:
            raise ValueError(f"unknown metric {metric!r}")
        per_model: dict[str, Cell] = {}
        since = minutes_kept_since(self._minute_days)
        for kind in KINDS[metric]:
            for piece in await read_window(self._storage, tenant, kind, start, end, since):
                if model is None or piece.model == model:
                    cells.merge(per_model.setdefault(piece.model, cells.empty()), piece.cell)
        return per_model

    async def window_value(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> float | None:
        total = cells.empty()
        for cell in (await self._per_model(tenant, metric, model, start, end)).values():
            cells.merge(total, cell)
        return value_of(metric, total)

    async def _windows_per_model(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> tuple[int, dict[str, list[Cell]]]:
        """(how many windows, the cells of the window and its baseline windows
        (`baseline_bounds`; the window last) per model seen in any of them, only `model`'s
        when given), all read in one pass over the buckets and partials of [S - 24 L, E)
        (collector.rollups.reader.read_windows)."""
        if metric not in KINDS:
            raise ValueError(f"unknown metric {metric!r}")
        since = minutes_kept_since(self._minute_days)
        bounds = baseline_bounds(start, end, since)
        per_model: dict[str, list[Cell]] = {}
        for kind in KINDS[metric]:
            windows = await read_windows(self._storage, tenant, kind, bounds, since)
            for index, pieces in enumerate(windows):
                for piece in pieces:
                    if model is None or piece.model == model:
                        if piece.model not in per_model:
                            per_model[piece.model] = [cells.empty() for _ in bounds[1:]]
                        cells.merge(per_model[piece.model][index], piece.cell)
        return len(bounds) - 1, per_model

    async def with_baseline(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> tuple[float | None, list[float | None]]:
        """The window's value, as `window_value`, and its baseline windows' (`baseline_bounds`),
        read in one pass. An empty window's value is as `value_of` says: 0 for counts, None
        (no data) for rates and latencies. Baseline windows lost to minute retention are left
        out: the list may be shorter than BASELINE_WINDOWS."""
        count, per_model = await self._windows_per_model(tenant, metric, model, start, end)
        totals = [cells.empty() for _ in range(count)]
        for windows in per_model.values():
            for total, cell in zip(totals, windows, strict=True):
                cells.merge(total, cell)
        values = [value_of(metric, total) for total in totals]
        return values[-1], values[:-1]

    async def baselines_per_model(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> dict[str, tuple[float | None, list[float | None]]]:
        """`with_baseline` for each model seen in the window or its baseline windows, from
        the same one pass: each model is judged against its own baseline."""
        _, found = await self._windows_per_model(tenant, metric, model, start, end)
        out: dict[str, tuple[float | None, list[float | None]]] = {}
        for name, windows in found.items():
            values = [value_of(metric, cell) for cell in windows]
            out[name] = (values[-1], values[:-1])
        return out

    async def group_values(
        self,
        tenant: str,
        metric: str,
        group_by: str,
        model: str | None,
        start: dt.datetime,
        end: dt.datetime,
    ) -> dict[str, float | None]:
        """The value per group seen in the window: per model from the rollups (as an
        ungrouped rule's, widened the same way), per user or session from the explore
        summaries (exact to the millisecond)."""
        if group_by in ATTRIBUTION_GROUPS:
            dim = ATTRIBUTION_GROUPS[group_by]
            found = await summaries(self._storage, tenant, dim, epoch_ms(start), epoch_ms(end))
            return {key: summary_value(metric, s) for key, s in found.items()}
        if group_by != "model":
            raise ValueError(f"unknown group_by {group_by!r}")
        per_model = await self._per_model(tenant, metric, model, start, end)
        return {name: value_of(metric, cell) for name, cell in per_model.items()}
