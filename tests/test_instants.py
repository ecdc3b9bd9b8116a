"""collector.instants.from_epoch_ms, the hot path's epoch milliseconds → datetime, against the
plain formula it replaces: the same moment for every millisecond datetime holds, the same
OverflowError past it, and still so once its memo of seconds has filled and started again."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.ingest import instants
from collector.ingest.instants import EPOCH, from_epoch_ms

FIRST_MS = (dt.datetime(1, 1, 1, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(milliseconds=1)
LAST_MS = (dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(
    milliseconds=1
)


def formula(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


@given(st.integers(FIRST_MS, LAST_MS))
def test_the_same_moment_as_the_formula(ms: int) -> None:
    assert from_epoch_ms(ms) == formula(ms)
    assert from_epoch_ms(ms) == formula(ms)  # from the memo the second time
    assert from_epoch_ms(ms).tzinfo is dt.UTC


@pytest.mark.parametrize("ms", [FIRST_MS - 1, LAST_MS + 1, 2**62, -(2**62)])
def test_out_of_range_raises_overflow_as_the_formula_does(ms: int) -> None:
    with pytest.raises(OverflowError):
        formula(ms)
    with pytest.raises(OverflowError):
        from_epoch_ms(ms)


def test_the_memo_stays_bounded_and_right() -> None:
    start = 1_764_940_000_000
    for second in range(instants.KEEP * 2 + 10):
        ms = start + second * 1000 + second % 1000
        assert from_epoch_ms(ms) == formula(ms)
        assert len(instants._SECONDS) <= instants.KEEP
