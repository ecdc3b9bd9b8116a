"""Which parts of a group the explore job merges (collector.explore.parts.chosen)."""

from __future__ import annotations

from collector.explore.parts import FANOUT, GROWTH, chosen


def test_a_busy_group_waits_for_fanout_parts() -> None:
    assert chosen([(10, i) for i in range(FANOUT - 1)], quiet=False) == []
    assert sorted(chosen([(10, i) for i in range(FANOUT)], quiet=False)) == list(range(FANOUT))


def test_parts_of_like_sizes_are_merged_and_a_much_larger_one_is_left() -> None:
    big = (10 * GROWTH * 10, "big")
    smalls = [(10, i) for i in range(FANOUT - 1)]
    assert sorted(chosen([big, *smalls], quiet=False)) == list(range(FANOUT - 1))


def test_the_two_smallest_are_merged_at_least() -> None:
    sizes = [(1, "a"), *(((GROWTH + 1) ** k * 10, k) for k in range(2, FANOUT + 1))]
    assert chosen(sizes, quiet=False) == ["a", 2]


def test_a_quiet_group_is_merged_whole_and_one_part_is_left_alone() -> None:
    sizes = [(1, "a"), (1000, "b")]
    assert sorted(chosen(sizes, quiet=True)) == ["a", "b"]
    assert chosen([(5, "a")], quiet=True) == []
