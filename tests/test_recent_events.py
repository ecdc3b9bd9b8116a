"""The newest events a partial keeps (collector.rollups.partials.newest): the same entries, in
the same order, as heapq.nlargest by (timestamp, event id), ties included, whatever the order
the events come in."""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.rollups import partials

START = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
ENTRIES = st.lists(
    st.fixed_dictionaries(
        {
            "timestamp": st.integers(0, 5).map(lambda ms: START + dt.timedelta(milliseconds=ms)),
            "event_id": st.sampled_from(["a", "b", "c"]),
            "n": st.integers(),  # tells apart entries of one key
        }
    ),
    max_size=40,
)


@settings(max_examples=1000, deadline=None)
@given(ENTRIES, st.integers(0, 12))
def test_newest_is_nlargest_by_time_then_event_id(
    entries: list[dict[str, Any]], limit: int
) -> None:
    def key(entry: dict[str, Any]) -> tuple[dt.datetime, str]:
        return (entry["timestamp"], entry["event_id"])

    expected = heapq.nlargest(limit, entries, key=key)
    assert partials.newest(entries, limit) == expected
    assert [id(e) for e in partials.newest(entries, limit)] == [id(e) for e in expected]
