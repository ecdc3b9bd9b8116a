"""Anomaly rules (`comparison: "anomaly"`): is the current window's value far from its usual?

The rule's `threshold` is a z-score. The baseline is the BASELINE_WINDOWS windows of the same
length just before the current one, back to back; their values are the metric's own (a count
of an empty window is 0 and has data, a rate or latency of an empty window is None and has
none). With the mean and population standard deviation of the baseline windows that have data,
the rule holds when the current value is more than `threshold` deviations from the mean, in
either direction; when the deviation is 0 (a flat baseline), when it differs from the mean by
more than FLAT_TOLERANCE of it. It never holds with fewer than MIN_BASELINE_WINDOWS baseline
windows with data, nor when the current value is unknown.

Pure functions of numbers: collector.alerts.metrics reads the windows' values, and
collector.alerts.evaluate records what `judge` says.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BASELINE_WINDOWS = 24
MIN_BASELINE_WINDOWS = 12
FLAT_TOLERANCE = 0.10
# The baseline reaches back 25 windows, whose edges are read from minute buckets: 25 windows
# of at most 6 hours (6 h 1 min once widened) are 6.27 days, within the 7 days less an hour
# that minute buckets are kept by default (ROLLUP_RETENTION_DAYS).
MAX_WINDOW_MINUTES = 360


@dataclass(frozen=True)
class Baseline:
    mean: float
    std: float  # population standard deviation
    windows: int  # baseline windows with data


@dataclass(frozen=True)
class Judgement:
    value: float | None
    baseline: Baseline | None  # None: fewer than MIN_BASELINE_WINDOWS windows had data
    z: float | None  # None when unknown, or when the baseline's deviation is 0
    holds: bool


def baseline(values: Sequence[float | None]) -> Baseline | None:
    """Mean and population standard deviation of the windows with data (None has none), or
    None when fewer than MIN_BASELINE_WINDOWS have. Exact arithmetic (statistics), so that a
    flat baseline has a deviation of exactly 0."""
    known = [v for v in values if v is not None]
    if len(known) < MIN_BASELINE_WINDOWS:
        return None
    return Baseline(float(statistics.mean(known)), float(statistics.pstdev(known)), len(known))


def judge(value: float | None, windows: Sequence[float | None], threshold: float) -> Judgement:
    """The current `value` against the baseline `windows` (oldest first, any order will do),
    `threshold` deviations either way."""
    base = baseline(windows)
    if value is None or base is None:
        return Judgement(value, base, None, False)
    if base.std == 0:
        apart = abs(value - base.mean) > FLAT_TOLERANCE * abs(base.mean)
        return Judgement(value, base, None, apart)
    z = (value - base.mean) / base.std
    return Judgement(value, base, z, math.isfinite(z) and abs(z) > threshold)
