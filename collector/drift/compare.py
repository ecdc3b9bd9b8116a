"""How far one window's values moved from a reference window's: PSI, Jensen-Shannon distance and
a status, computed from the two windows' merged sketches (issue 20 §2, pinned).

- Numeric: 10 bins cut at the reference window's deciles, the outer bins open-ended; a value
  equal to a cut falls in the lower bin. `psi = Σ (c - r) · ln(c / r)` over the bins, with
  proportions floored at 0.0001.
- Categorical: the same sum over the categories seen in either window, plus the rest a
  frequency sketch did not keep ("other"); and the Jensen-Shannon distance (base 2, the square
  root of the divergence) on the unfloored proportions.
- status: `ok` below 0.1, `warning` below 0.25, `drift` from 0.25; with fewer than 100 rows in
  either window, `insufficient_data` and no psi.

Sketches are DataSketches' own (`kll_doubles_sketch`, `frequent_strings_sketch`); this module
only reads them. Nothing here knows storage, gRPC or HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from datasketches import frequent_items_error_type, frequent_strings_sketch, kll_doubles_sketch

FLOOR = 0.0001
MIN_ROWS = 100
DECILES = tuple(i / 10 for i in range(1, 10))
TOP = 20

Status = Literal["ok", "warning", "drift", "insufficient_data"]


def status_of(psi: float | None) -> Status:
    if psi is None:
        return "insufficient_data"
    if psi < 0.1:
        return "ok"
    if psi < 0.25:
        return "warning"
    return "drift"


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """The population stability index of two distributions over the same bins (proportions)."""
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        r, c = max(r, FLOOR), max(c, FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def js_distance(reference: Sequence[float], current: Sequence[float]) -> float:
    """The Jensen-Shannon distance, base 2 (0 for the same distribution, 1 for disjoint ones)."""
    divergence = 0.0
    for p, q in zip(reference, current, strict=True):
        m = (p + q) / 2
        if p > 0:
            divergence += p / 2 * math.log2(p / m)
        if q > 0:
            divergence += q / 2 * math.log2(q / m)
    return math.sqrt(max(divergence, 0.0))


@dataclass(frozen=True)
class NumericDrift:
    psi: float | None
    status: Status
    reference_rows: int
    current_rows: int
    reference_quantiles: list[float]
    current_quantiles: list[float]


def deciles(sketch: kll_doubles_sketch) -> list[float]:
    return [] if sketch.is_empty() else list(sketch.get_quantiles(DECILES, inclusive=True))


def bin_shares(sketch: kll_doubles_sketch, cuts: Sequence[float]) -> list[float]:
    """The share of the sketch's values in each bin: (-∞, c1], (c1, c2], … (c_last, ∞)."""
    if sketch.is_empty():
        return [0.0] * (len(cuts) + 1)
    cumulative = sketch.get_cdf(list(cuts), inclusive=True)
    shares, before = [], 0.0
    for rank in cumulative:
        shares.append(max(rank - before, 0.0))
        before = rank
    return shares


def numeric_drift(reference: kll_doubles_sketch, current: kll_doubles_sketch) -> NumericDrift:
    ref_rows, cur_rows = int(reference.n), int(current.n)
    value: float | None = None
    if min(ref_rows, cur_rows) >= MIN_ROWS:
        # Equal cuts (a value repeated past a decile) only make empty bins, which add nothing:
        # both sides are floored to the same proportion. The sketch wants distinct cut points.
        cuts = sorted(set(deciles(reference)))
        value = psi(bin_shares(reference, cuts), bin_shares(current, cuts))
    return NumericDrift(
        psi=value,
        status=status_of(value),
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_quantiles=deciles(reference),
        current_quantiles=deciles(current),
    )


@dataclass(frozen=True)
class Share:
    """One category's share of a window's rows; `value` None is the rest ("other")."""

    value: str | None
    share: float


@dataclass(frozen=True)
class CategoricalDrift:
    psi: float | None
    js_distance: float | None
    status: Status
    reference_rows: int
    current_rows: int
    reference_top: list[Share]
    current_top: list[Share]


def counts(sketch: frequent_strings_sketch) -> tuple[dict[str, int], int]:
    """The counts a frequency sketch kept, and its total weight (kept + the rest)."""
    if sketch.is_empty():
        return {}, 0
    items = sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
    return {item: int(estimate) for item, estimate, _lower, _upper in items}, int(
        sketch.total_weight
    )


def shares(kept: dict[str, int], total: int, categories: Sequence[str]) -> list[float]:
    """Each category's share of `total`, then the rest's, last."""
    if total == 0:
        return [0.0] * (len(categories) + 1)
    listed = [kept.get(c, 0) / total for c in categories]
    return [*listed, max(1.0 - sum(listed), 0.0)]


def top(kept: dict[str, int], total: int) -> list[Share]:
    """The TOP most frequent values, then the rest as `Share(None, …)` (omitted when empty)."""
    if total == 0:
        return []
    ranked = sorted(kept.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    listed = [Share(value, count / total) for value, count in ranked]
    rest = 1.0 - sum(s.share for s in listed)
    return [*listed, Share(None, rest)] if rest > 1e-12 else listed


def categorical_drift(
    reference: frequent_strings_sketch, current: frequent_strings_sketch
) -> CategoricalDrift:
    (ref_kept, ref_rows), (cur_kept, cur_rows) = counts(reference), counts(current)
    value: float | None = None
    distance: float | None = None
    if min(ref_rows, cur_rows) >= MIN_ROWS:
        categories = sorted(ref_kept.keys() | cur_kept.keys())
        r, c = shares(ref_kept, ref_rows, categories), shares(cur_kept, cur_rows, categories)
        value, distance = psi(r, c), js_distance(r, c)
    return CategoricalDrift(
        psi=value,
        js_distance=distance,
        status=status_of(value),
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_top=top(ref_kept, ref_rows),
        current_top=top(cur_kept, cur_rows),
    )
