"""The pinned drift sketch format (collector/drift/sketches.py): sketches of batches merged
equal, within the KLL error, one sketch of all the values; categorical counts are exact below
1536 distinct values; sketches survive serialisation."""

from __future__ import annotations

import random

from datasketches import (
    frequent_items_error_type,
    frequent_strings_sketch,
    kll_doubles_sketch,
)

from collector.drift import sketches

# KLL with k=400: normalised rank error ~0.4% (single-sided, 99% confidence); the brief's bound.
RANK_ERROR = 0.0075


def _batches(values: list, size: int) -> list[list]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def test_numeric_sketches_merged_across_batches_match_all_values_within_the_kll_error() -> None:
    rng = random.Random(20)
    values = [rng.gauss(50.0, 12.0) for _ in range(60_000)] + [
        rng.expovariate(0.1) for _ in range(20_000)
    ]
    rng.shuffle(values)
    summaries = [sketches.summarise(batch) for batch in _batches(values, 737)]
    assert {s.kind for s in summaries} == {"numeric"}
    assert sum(s.rows for s in summaries) == len(values)

    merged = kll_doubles_sketch.deserialize(sketches.merge("numeric", [s.blob for s in summaries]))
    single = kll_doubles_sketch.deserialize(sketches.summarise(values).blob)
    assert merged.n == single.n == len(values)
    ordered = sorted(values)
    assert merged.get_min_value() == ordered[0]
    assert merged.get_max_value() == ordered[-1]
    for q in (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99):
        # The true rank of each sketch's q-quantile is within the error of q.
        for sketch in (merged, single):
            estimate = sketch.get_quantile(q)
            true_rank = sum(1 for v in ordered if v <= estimate) / len(ordered)
            assert abs(true_rank - q) <= RANK_ERROR, (q, true_rank)
        assert abs(merged.get_rank(single.get_quantile(q)) - q) <= 2 * RANK_ERROR


def test_merging_in_any_grouping_gives_the_same_count_and_range() -> None:
    """Hours merged into a day, or all batches at once: the same n, min and max."""
    rng = random.Random(7)
    batches = [[rng.uniform(-5, 5) for _ in range(300)] for _ in range(40)]
    blobs = [sketches.summarise(b).blob for b in batches]
    hours = [sketches.merge("numeric", blobs[i : i + 8]) for i in range(0, 40, 8)]
    day = kll_doubles_sketch.deserialize(sketches.merge("numeric", hours))
    flat = kll_doubles_sketch.deserialize(sketches.merge("numeric", blobs))
    assert day.n == flat.n == 12_000
    assert day.get_min_value() == flat.get_min_value() == min(min(b) for b in batches)
    assert day.get_max_value() == flat.get_max_value() == max(max(b) for b in batches)


def test_categorical_counts_are_exact_below_1536_distinct_values() -> None:
    rng = random.Random(3)
    categories = [f"c{i}" for i in range(1200)]
    weights = [1 / (i + 1) for i in range(len(categories))]
    values = rng.choices(categories, weights, k=50_000)
    summaries = [sketches.summarise(batch) for batch in _batches(values, 1000)]
    assert {s.kind for s in summaries} == {"categorical"}

    merged = frequent_strings_sketch.deserialize(
        sketches.merge("categorical", [s.blob for s in summaries])
    )
    assert merged.total_weight == len(values)
    expected: dict[str, int] = {}
    for value in values:
        expected[value] = expected.get(value, 0) + 1
    for value, count in expected.items():
        assert merged.get_estimate(value) == count, value
        assert merged.get_lower_bound(value) == merged.get_upper_bound(value) == count
    top = merged.get_frequent_items(frequent_items_error_type.NO_FALSE_POSITIVES)
    assert len(top) == len(expected)


def test_serialisation_round_trips() -> None:
    numeric = sketches.summarise([1.5, -2.0, 3.25, 1e9])
    kll = kll_doubles_sketch.deserialize(numeric.blob)
    assert (numeric.kind, numeric.rows, kll.n) == ("numeric", 4, 4)
    assert (kll.get_min_value(), kll.get_max_value()) == (-2.0, 1e9)
    assert bytes(kll.serialize()) == numeric.blob

    categorical = sketches.summarise(["a", "b", "a", "é", "a"])
    frequent = frequent_strings_sketch.deserialize(categorical.blob)
    assert (categorical.kind, categorical.rows) == ("categorical", 5)
    assert [frequent.get_estimate(v) for v in ("a", "b", "é", "zz")] == [3, 1, 1, 0]
    # (Its bytes may differ: the item order of its hash map is not kept.)
    again = frequent_strings_sketch.deserialize(bytes(frequent.serialize()))
    assert [again.get_estimate(v) for v in ("a", "b", "é")] == [3, 1, 1]
    # A merge of one sketch is that sketch again.
    assert (
        frequent_strings_sketch.deserialize(
            sketches.merge("categorical", [categorical.blob])
        ).get_estimate("a")
        == 3
    )


def test_empty_values_are_an_empty_numeric_sketch() -> None:
    empty = sketches.summarise([])
    assert (empty.kind, empty.rows) == ("numeric", 0)
    assert kll_doubles_sketch.deserialize(empty.blob).is_empty()
