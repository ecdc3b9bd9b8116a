"""Which parts of a group the explore job merges (collector.explore.parts.chosen)."""

from __future__ import annotations

import pytest

from collector.explore import directory, summaries
from collector.explore.parts import FANOUT, GROWTH, chosen
from collector.explore.summaries import MAX_ENTRIES, Summary


def test_a_busy_group_waits_for_fanout_parts() -> None:
    assert chosen([(10, i) for i in range(FANOUT - 1)], quiet=False) == []
    assert sorted(chosen([(10, i) for i in range(FANOUT)], quiet=False)) == list(range(FANOUT))


def test_parts_of_like_sizes_are_merged_and_a_much_larger_one_is_left() -> None:
    big = (10 * GROWTH * 10, "big")
    smalls = [(10, i) for i in range(FANOUT - 1)]
    assert sorted(chosen([big, *smalls], quiet=False)) == list(range(FANOUT - 1))


def test_the_two_smallest_are_merged_at_least() -> None:
    second = 10
    larger = [(GROWTH * second + 1 + k, k) for k in range(FANOUT - 2)]
    assert chosen([(1, "a"), (second, "b"), *larger], quiet=False) == ["a", "b"]


def test_a_quiet_group_is_merged_whole_and_one_part_is_left_alone() -> None:
    sizes = [(1, "a"), (1000, "b")]
    assert sorted(chosen(sizes, quiet=True)) == ["a", "b"]
    assert chosen([(5, "a")], quiet=True) == []


def test_parts_near_a_full_document_are_left_as_they_are() -> None:
    full = [(MAX_ENTRIES // 2, i) for i in range(FANOUT)]
    assert chosen(full, quiet=False) == []
    assert chosen(full, quiet=True) == []
    assert sorted(chosen([*full, (3, "a"), (4, "b")], quiet=True)) == ["a", "b"]


def test_documents_hold_max_entries_at_most_and_merge_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(summaries, "MAX_ENTRIES", 4)
    hour = 1_764_000_000_000 - 1_764_000_000_000 % 3_600_000
    found = {f"u{i}": Summary(1, i, 0.5, 0, hour + i, hour + i, 1) for i in range(10)}
    docs = summaries.summary_documents("t", "user", "hour", hour, found)
    assert [doc["n"] for doc in docs] == [4, 4, 2]
    assert len({doc["group"] for doc in docs}) == 1
    again = summaries.summary_documents(
        "t", "user", "hour", hour, {"u0": Summary(2, 5, 1.0, 1, hour, hour + 50, 2)}
    )
    merged = summaries.merged_documents([*docs, *again])
    assert [doc["n"] for doc in merged] == [4, 4, 2]
    packed = {p[0]: p[1:] for doc in merged for p in summaries.packed_of(doc)}
    assert packed["u0"] == [3, 5, 1.5, 1, hour, hour + 50, 3]
    assert packed["u9"] == [1, 9, 0.5, 0, hour + 9, hour + 9, 1]
    assert len(packed) == 10

    keys = {f"k{i}": {hour, hour + 3_600_000} for i in range(9)}
    parts = directory.documents("t", "trace", hour - hour % 86_400_000, 3, keys)
    assert [doc["n"] for doc in parts] == [4, 4, 1]
    whole = directory.merged_documents(parts)
    assert sum(doc["n"] for doc in whole) == 9
