"""The z-score judgement of anomaly rules (collector.alerts.anomaly) on its own: numbers in,
a verdict out, against the population mean and deviation computed here from their definition."""

from __future__ import annotations

import math
import random

import pytest

from collector.alerts.anomaly import (
    BASELINE_WINDOWS,
    MIN_BASELINE_WINDOWS,
    baseline,
    judge,
)

ALTERNATING = [4.0, 6.0] * 12  # mean 5, population deviation 1


def by_definition(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def test_the_baseline_is_the_population_mean_and_deviation_of_the_windows_with_data() -> None:
    rng = random.Random(20)
    for _ in range(50):
        values: list[float | None] = [rng.uniform(0, 1000) for _ in range(BASELINE_WINDOWS)]
        for gap in rng.sample(range(BASELINE_WINDOWS), rng.randint(0, 12)):
            values[gap] = None  # a rate's empty window: no data, left out
        known = [v for v in values if v is not None]
        base = baseline(values)
        assert base is not None and base.windows == len(known)
        mean, std = by_definition(known)
        assert (base.mean, base.std) == (pytest.approx(mean), pytest.approx(std))


def test_the_value_holds_beyond_threshold_deviations_in_either_direction() -> None:
    assert judge(5.0, ALTERNATING, 3).z == 0 and not judge(5.0, ALTERNATING, 3).holds
    above, below = judge(8.01, ALTERNATING, 3), judge(1.99, ALTERNATING, 3)
    assert above.holds and above.z == pytest.approx(3.01)
    assert below.holds and below.z == pytest.approx(-3.01)
    for inside in (7.99, 8.0, 2.0, 2.01):
        judged = judge(inside, ALTERNATING, 3)
        assert not judged.holds and abs(judged.z or 0) <= 3, inside
    assert judge(7.0, ALTERNATING, 1.5).holds, "the threshold is the rule's"
    assert judge(15.0, ALTERNATING, 3).baseline == baseline(ALTERNATING)


def test_a_flat_baseline_has_a_deviation_of_exactly_0_and_allows_10_percent() -> None:
    flat = [0.1] * BASELINE_WINDOWS  # 0.1 has no exact binary form: a naive sum drifts
    base = baseline(flat)
    assert base is not None and base.std == 0 and base.mean == pytest.approx(0.1)
    steady = [100.0] * BASELINE_WINDOWS
    for value, holds in ((100, False), (110, False), (90, False), (110.5, True), (89, True)):
        judged = judge(value, steady, 3)
        assert (judged.holds, judged.z) == (holds, None), value
    silent = [0.0] * BASELINE_WINDOWS  # counts that were always 0: anything is unusual
    assert judge(1.0, silent, 3).holds and not judge(0.0, silent, 3).holds


def test_fewer_than_12_windows_with_data_never_hold() -> None:
    eleven: list[float | None] = [4.0, 6.0] * 5 + [5.0] + [None] * 13
    assert sum(v is not None for v in eleven) == MIN_BASELINE_WINDOWS - 1
    judged = judge(1e9, eleven, 3)
    assert judged.baseline is None and judged.z is None and not judged.holds
    twelve = [*eleven[:11], 6.0, *eleven[12:]]
    assert judge(1e9, twelve, 3).holds
    assert judge(1e9, [], 3).baseline is None


def test_an_unknown_value_never_holds() -> None:
    judged = judge(None, ALTERNATING, 3)
    assert not judged.holds and judged.z is None and judged.baseline == baseline(ALTERNATING)
