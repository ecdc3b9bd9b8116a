"""PSI, Jensen-Shannon distance and status from sketches, checked against NumPy over the raw values
(issue 20: within 0.02 absolute or 5 % relative, whichever is larger, with bins cut at the raw
reference deciles)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from datasketches import frequent_strings_sketch, kll_doubles_sketch

from collector.drift import compare, sketches

K = sketches.KLL_K
LG_MAP = sketches.LG_MAX_MAP
ROWS = 20_000


def numeric(values: np.ndarray, batches: int = 1) -> kll_doubles_sketch:
    """One sketch, or `batches` sketches serialised and merged as the rollups do."""
    merged = kll_doubles_sketch(K)
    for chunk in np.array_split(values, batches):
        part = kll_doubles_sketch(K)
        part.update(chunk)
        merged.merge(kll_doubles_sketch.deserialize(part.serialize()))
    return merged


def categorical(values: list[str], batches: int = 1) -> frequent_strings_sketch:
    merged = frequent_strings_sketch(LG_MAP)
    size = math.ceil(len(values) / batches)
    for start in range(0, len(values), size):
        part = frequent_strings_sketch(LG_MAP)
        for value, count in Counter(values[start : start + size]).items():
            part.update(value, count)
        merged.merge(frequent_strings_sketch.deserialize(part.serialize()))
    return merged


def numpy_psi(reference: np.ndarray, current: np.ndarray) -> float:
    cuts = np.quantile(reference, np.arange(1, 10) / 10)
    r = np.bincount(np.searchsorted(cuts, reference, side="left"), minlength=10) / len(reference)
    c = np.bincount(np.searchsorted(cuts, current, side="left"), minlength=10) / len(current)
    r, c = np.maximum(r, 0.0001), np.maximum(c, 0.0001)
    return float(np.sum((c - r) * np.log(c / r)))


def numpy_categorical(reference: list[str], current: list[str]) -> tuple[float, float]:
    categories = sorted(set(reference) | set(current))
    rc, cc = Counter(reference), Counter(current)
    p = np.array([rc[k] for k in categories]) / len(reference)
    q = np.array([cc[k] for k in categories]) / len(current)
    pf, qf = np.maximum(p, 0.0001), np.maximum(q, 0.0001)
    psi = float(np.sum((qf - pf) * np.log(qf / pf)))
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    return psi, float(np.sqrt(np.sum(kl_p) / 2 + np.sum(kl_q) / 2))


def within(got: float | None, want: float) -> bool:
    assert got is not None
    return abs(got - want) <= max(0.02, 0.05 * abs(want))


REFERENCE = np.random.default_rng(7).normal(10.0, 2.0, ROWS)
CURRENT = {
    "shifted": np.random.default_rng(8).normal(11.0, 2.0, ROWS),
    "scaled": np.random.default_rng(9).normal(10.0, 4.0, ROWS),
    "unchanged": np.random.default_rng(10).normal(10.0, 2.0, ROWS),
    "small shift, fewer rows": np.random.default_rng(11).normal(10.4, 2.0, 3_000),
}


@pytest.mark.parametrize("case", CURRENT)
def test_numeric_psi_from_merged_sketches_matches_numpy(case: str) -> None:
    current = CURRENT[case]
    want = numpy_psi(REFERENCE, current)
    got = compare.numeric_drift(numeric(REFERENCE, batches=40), numeric(current, batches=7))
    assert within(got.psi, want), (case, got.psi, want)
    assert (
        got.status == compare.status_of(want) or abs(want - 0.1) < 0.02 or abs(want - 0.25) < 0.02
    )
    assert (got.reference_rows, got.current_rows) == (ROWS, len(current))
    raw_deciles = np.quantile(current, np.arange(1, 10) / 10)
    spread = float(np.quantile(current, 0.99) - np.quantile(current, 0.01))
    assert len(got.current_quantiles) == 9
    assert np.allclose(got.current_quantiles, raw_deciles, atol=0.02 * spread)


def test_the_cases_span_the_statuses() -> None:
    """The fixtures above are what the test says they are: drift, drift, ok, warning or ok."""
    assert numpy_psi(REFERENCE, CURRENT["shifted"]) >= 0.25
    assert numpy_psi(REFERENCE, CURRENT["scaled"]) >= 0.25
    assert numpy_psi(REFERENCE, CURRENT["unchanged"]) < 0.01


def test_merging_batches_gives_what_one_sketch_over_all_values_gives() -> None:
    current = CURRENT["shifted"]
    one = compare.numeric_drift(numeric(REFERENCE), numeric(current))
    many = compare.numeric_drift(numeric(REFERENCE, batches=200), numeric(current, batches=200))
    assert many.psi is not None and one.psi is not None
    assert abs(many.psi - one.psi) <= max(0.02, 0.05 * one.psi)
    assert many.reference_rows == one.reference_rows == ROWS


def test_categorical_psi_and_js_match_numpy() -> None:
    rng = np.random.default_rng(3)
    names = [f"country-{i:03d}" for i in range(300)]
    weights = np.linspace(1.0, 3.0, len(names)) ** 3
    reference = list(rng.choice(names, size=ROWS, p=weights / weights.sum()))
    moved = weights[::-1]  # the common values become the rare ones
    current = list(rng.choice(names, size=ROWS // 2, p=moved / moved.sum()))
    got = compare.categorical_drift(categorical(reference, 30), categorical(current, 3))
    want_psi, want_js = numpy_categorical(reference, current)
    assert within(got.psi, want_psi) and within(got.js_distance, want_js)
    assert got.status == "drift"

    same = list(rng.choice(names, size=ROWS, p=weights / weights.sum()))
    unchanged = compare.categorical_drift(categorical(reference), categorical(same, 11))
    want_psi, want_js = numpy_categorical(reference, same)
    assert within(unchanged.psi, want_psi) and within(unchanged.js_distance, want_js)
    assert unchanged.status == "ok"


def test_categorical_top_lists_twenty_values_then_the_rest() -> None:
    values = [f"v{i}" for i in range(40) for _ in range(100 - i)]
    drift = compare.categorical_drift(categorical(values), categorical(values, 4))
    top = drift.current_top
    assert [s.value for s in top[:20]] == [f"v{i}" for i in range(20)]
    assert top[20].value is None and len(top) == 21
    assert math.isclose(sum(s.share for s in top), 1.0)
    assert math.isclose(top[0].share, 100 / len(values))
    assert drift.psi == 0.0 and drift.js_distance == 0.0


def test_a_value_named_other_is_a_category_not_the_rest() -> None:
    reference = ["other"] * 150 + ["a"] * 50
    current = ["a"] * 150 + ["other"] * 50
    drift = compare.categorical_drift(categorical(reference), categorical(current))
    assert [s.value for s in drift.reference_top] == ["other", "a"]
    want_psi, want_js = numpy_categorical(reference, current)
    assert within(drift.psi, want_psi) and within(drift.js_distance, want_js)


def test_js_distance_is_zero_for_the_same_and_one_for_disjoint_windows() -> None:
    assert compare.js_distance([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert math.isclose(compare.js_distance([1.0, 0.0], [0.0, 1.0]), 1.0)


def test_fewer_than_100_rows_in_either_window_is_insufficient_data() -> None:
    few = numeric(REFERENCE[:99])
    enough = numeric(REFERENCE[:100])
    for drift in (
        compare.numeric_drift(few, numeric(REFERENCE)),
        compare.numeric_drift(numeric(REFERENCE), few),
    ):
        assert (drift.psi, drift.status) == (None, "insufficient_data")
    assert compare.numeric_drift(enough, numeric(REFERENCE)).psi is not None
    empty = compare.numeric_drift(numeric(REFERENCE), kll_doubles_sketch(K))
    assert (empty.status, empty.current_quantiles, empty.current_rows) == (
        "insufficient_data",
        [],
        0,
    )
    labels = compare.categorical_drift(categorical(["a"] * 99), categorical(["a"] * 500))
    assert (labels.psi, labels.js_distance, labels.status) == (None, None, "insufficient_data")


def test_a_constant_feature_has_no_drift_and_a_moved_constant_has() -> None:
    ones = np.ones(1_000)
    assert compare.numeric_drift(numeric(ones), numeric(ones)).psi == 0.0
    moved = compare.numeric_drift(numeric(ones), numeric(ones * 2))
    assert moved.status == "drift"
    assert within(moved.psi, numpy_psi(ones, ones * 2))


@pytest.mark.parametrize(
    ("psi", "status"),
    [
        (0.0, "ok"),
        (0.0999, "ok"),
        (0.1, "warning"),
        (0.2499, "warning"),
        (0.25, "drift"),
        (3.0, "drift"),
    ],
)
def test_status_follows_the_industry_thresholds(psi: float, status: str) -> None:
    assert compare.status_of(psi) == status
