"""A cell built from a group of events at once (cells.of_events, the ingest path's) is the
cell that adding them one by one makes (cells.add_event): the same counts, sums to the last
bit, histogram, latency bounds, first and last moments and model type."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.rollups import cells

START = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
OPTIONAL_NUMBER = st.none() | st.floats(0, 1e6) | st.integers(0, 2**40)


@st.composite
def stored_event(draw: st.DrawFn, model_types: st.SearchStrategy[str | None]) -> dict[str, Any]:
    event: dict[str, Any] = {
        # Few distinct moments, so that several events share the latest one.
        "timestamp": START + dt.timedelta(seconds=draw(st.integers(0, 3))),
        "error": draw(st.sampled_from(["", "Timeout", None])),
        "latency_ms": draw(st.none() | st.floats(-1, 1e5)),
        "model_type": draw(model_types),
    }
    for _, source in cells.SUMMED_BY_KIND["llm"] + cells.SUMMED_BY_KIND["ml"]:
        value = draw(OPTIONAL_NUMBER)
        if value is not None or draw(st.booleans()):
            event[source] = value
    return {k: v for k, v in event.items() if v is not None or k == "latency_ms"}


KINDS = st.sampled_from(["ml", "llm"])
ML_TYPES = st.sampled_from(["rf", "xgb", "linear", ""])
ANY_TYPES = st.none() | ML_TYPES


@settings(max_examples=400, deadline=None)
@given(KINDS, st.lists(stored_event(ML_TYPES), max_size=30) | st.lists(stored_event(ANY_TYPES)))
def test_a_cell_of_events_at_once_is_the_cell_of_them_one_by_one(
    kind: str, events: list[dict[str, Any]]
) -> None:
    summed = cells.SUMMED_BY_KIND[kind]
    one_by_one = cells.empty()
    for event in events:
        cells.add_event(one_by_one, event, summed)
    at_once = cells.of_events(events, summed)
    assert at_once == one_by_one
    for key, value in one_by_one.items():  # == takes 0 == 0.0: the types agree too
        assert type(at_once[key]) is type(value), key
