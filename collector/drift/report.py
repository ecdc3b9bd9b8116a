"""The ml-drift answer: one model's features and predictions, current window against reference.

Windows take the dashboards' date formats and are widened to whole hours, the sketches' grain;
the answer gives the hours read. The current window defaults to the day before now, the
reference to the 7 days before the (widened) current window. Each column (a feature, or the
predictions) is compared by `compare` from the window's merged sketches; a column present in
one window only is compared with an empty sketch (so: insufficient_data). A feature sent as
numbers in one window and strings in the other is reported by the kind with more rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from datasketches import frequent_strings_sketch, kll_doubles_sketch

from collector.dates import parse_range
from collector.drift import compare, sketches
from collector.drift.compare import CategoricalDrift, NumericDrift
from collector.drift.partials import PREDICTION
from collector.drift.reader import Distribution, covered, read_distributions
from collector.errors import InvalidArgument, NotFound
from collector.rollups.reader import kinds_with_events, minutes_kept_since
from collector.store.storage import Storage

HOUR = dt.timedelta(hours=1)
DEFAULT_CURRENT = dt.timedelta(days=1)
DEFAULT_REFERENCE = dt.timedelta(days=7)
MAX_MODEL_ID = 256

Kind = Literal["numeric", "categorical"]


Read = Callable[[dt.datetime, dt.datetime], Awaitable[Sequence[Distribution]]]


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    rows: int = 0


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    drift: NumericDrift | CategoricalDrift


@dataclass(frozen=True)
class DriftReport:
    model_id: str
    reference: Window
    current: Window
    features: list[Column]
    predictions: Column | None


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: dt.datetime) -> dt.datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def windows(
    start_date: str,
    end_date: str,
    reference_start: str,
    reference_end: str,
    now: dt.datetime,
) -> tuple[Window, Window]:
    """(reference, current), widened to whole hours."""
    current = parse_range(start_date, end_date)
    end = current.end or now
    start = current.start or end - DEFAULT_CURRENT
    if start >= end:
        raise InvalidArgument("start_date must be before end_date (the end defaults to now)")
    if bool(reference_start.strip()) != bool(reference_end.strip()):
        missing = "reference_end" if reference_start.strip() else "reference_start"
        raise InvalidArgument(f"{missing}: required with the other (both or neither)")
    widened = Window(floor_hour(start), ceil_hour(end))
    if not reference_start.strip():
        return Window(widened.start - DEFAULT_REFERENCE, widened.start), widened
    given = parse_range(reference_start, reference_end, ("reference_start", "reference_end"))
    assert given.start is not None and given.end is not None
    return Window(floor_hour(given.start), ceil_hour(given.end)), widened


def _sketch(kind: str, blob: bytes | None) -> kll_doubles_sketch | frequent_strings_sketch:
    if kind == "categorical":
        if blob:
            return frequent_strings_sketch.deserialize(blob)
        return frequent_strings_sketch(sketches.LG_MAX_MAP)
    return kll_doubles_sketch.deserialize(blob) if blob else kll_doubles_sketch(sketches.KLL_K)


def _by_column(found: Iterable[Distribution]) -> dict[tuple[str, str], dict[str, Distribution]]:
    columns: dict[tuple[str, str], dict[str, Distribution]] = {}
    for d in found:
        columns.setdefault((d.role, d.name), {})[d.kind] = d
    return columns


def column(
    name: str, reference: dict[str, Distribution], current: dict[str, Distribution]
) -> Column:
    rows = {"numeric": 0, "categorical": 0}
    for side in (reference, current):
        for d in side.values():
            rows[d.kind] += d.rows
    kind: Kind = "categorical" if rows["categorical"] > rows["numeric"] else "numeric"
    ref, cur = reference.get(kind), current.get(kind)
    ref_sketch = _sketch(kind, ref.blob if ref else None)
    cur_sketch = _sketch(kind, cur.blob if cur else None)
    if isinstance(ref_sketch, kll_doubles_sketch) and isinstance(cur_sketch, kll_doubles_sketch):
        return Column(name, kind, compare.numeric_drift(ref_sketch, cur_sketch))
    assert isinstance(ref_sketch, frequent_strings_sketch)
    assert isinstance(cur_sketch, frequent_strings_sketch)
    return Column(name, kind, compare.categorical_drift(ref_sketch, cur_sketch))


def _rows(found: Sequence[Distribution]) -> int:
    per_column: dict[tuple[str, str], int] = {}
    for d in found:
        per_column[(d.role, d.name)] = per_column.get((d.role, d.name), 0) + d.rows
    return max(per_column.values(), default=0)


async def drift_report(
    model_id: str, reference: Window, current: Window, read: Read
) -> DriftReport:
    ref_found = await read(reference.start, reference.end)
    cur_found = await read(current.start, current.end)
    ref_columns, cur_columns = _by_column(ref_found), _by_column(cur_found)
    keys = sorted(ref_columns.keys() | cur_columns.keys())
    columns = {
        key: column(key[1], ref_columns.get(key, {}), cur_columns.get(key, {})) for key in keys
    }
    return DriftReport(
        model_id=model_id,
        reference=Window(reference.start, reference.end, _rows(ref_found)),
        current=Window(current.start, current.end, _rows(cur_found)),
        features=[c for (role, _), c in columns.items() if role != PREDICTION],
        predictions=next((c for (role, _), c in columns.items() if role == PREDICTION), None),
    )


class MLDrift:
    """The ml-drift query of one tenant's model (the servicer's only dependency)."""

    def __init__(self, storage: Storage, *, retention_days: float = 0) -> None:
        """`retention_days`: ROLLUP_RETENTION_DAYS, after which hour sketches are deleted
        (edges older than that are widened to whole days; 0: kept for ever)."""
        self._storage = storage
        self._retention_days = retention_days

    async def report(
        self,
        tenant: str,
        model_id: str,
        dates: tuple[str, str, str, str],
        now: dt.datetime | None = None,
    ) -> DriftReport:
        """`dates`: start_date, end_date, reference_start, reference_end, as sent."""
        model_id = model_id.strip()
        if not model_id or len(model_id) > MAX_MODEL_ID:
            raise InvalidArgument(f"model_id: required, 1-{MAX_MODEL_ID} characters")
        reference, current = windows(*dates, now=now or dt.datetime.now(dt.UTC))
        seen = await kinds_with_events(self._storage, tenant, [model_id])
        if "ml" not in seen[model_id]:
            raise NotFound(f"model_id: no ML events of model {model_id!r}")

        return await self.compare(tenant, model_id, reference, current)

    async def compare(
        self, tenant: str, model_id: str, reference: Window, current: Window
    ) -> DriftReport:
        """The model's columns in `current` against `reference` (whole hours); a model without
        drift sketches there has no columns."""
        # Hour sketches older than ROLLUP_RETENTION_DAYS are deleted: such an edge is read,
        # and reported, as its whole day.
        hours_from = minutes_kept_since(self._retention_days)
        reference, current = (
            Window(*covered(w.start, w.end, hours_from)) for w in (reference, current)
        )

        async def read(start: dt.datetime, end: dt.datetime) -> Sequence[Distribution]:
            return await read_distributions(
                self._storage, tenant, model_id, start, end, hours_from=hours_from
            )

        return await drift_report(model_id, reference, current, read)
