"""collector.explore.row_columns makes an hour's explore row columns as
collector.explore.rows._event_columns does, which stays the rule: the same columns, holding
the events' own values, for any events; the same error for an event without its id or model.
Not built (AEGIS_PURE_PYTHON), it is not used, and these are skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.explore import rows

row_columns = pytest.importorskip("collector.explore.row_columns")

VALUES = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=2), max_size=2),
    st.sampled_from(["", 0, 0.0, [], {}]),
)
FIELDS = (
    *("user_id", "session_id", "trace_id", "span_id", "parent_span_id", "environment"),
    *("release", "tags", "error", "cost", "tokens_used", "latency_ms", "other"),
)


@st.composite
def _events(draw: st.DrawFn, model_key: str) -> list[dict[str, Any]]:
    events = []
    for n in range(draw(st.integers(0, 6))):
        event: dict[str, Any] = {"event_id": f"e{n}", model_key: draw(st.text(max_size=3))}
        for name in draw(st.lists(st.sampled_from(FIELDS), unique=True)):
            event[name] = draw(VALUES)
        events.append(event)
    return events


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(["model_id", "model_name"]).flatmap(
        lambda key: st.tuples(st.just(key), _events(key))
    )
)
def test_the_columns_are_the_python_ones(case: tuple[str, list[dict[str, Any]]]) -> None:
    model_key, events = case
    stamps = list(range(len(events)))
    expected = rows._event_columns(model_key, stamps, events)
    found = row_columns.event_columns(model_key, stamps, events)
    assert found == expected
    assert len(found) == len(rows.COLUMNS)
    for column, wanted in zip(found, expected, strict=True):  # the events' own objects
        assert all(a is b for a, b in zip(column, wanted, strict=True) if not isinstance(a, int))


@pytest.mark.parametrize("missing", ["event_id", "model_id"])
def test_an_event_without_its_id_or_model_fails_as_in_python(missing: str) -> None:
    events = [{"event_id": "e1", "model_id": "m"}, {"event_id": "e2", "model_id": "m"}]
    del events[1][missing]
    with pytest.raises(KeyError) as python:
        rows._event_columns("model_id", [1, 2], events)
    with pytest.raises(KeyError) as native:
        row_columns.event_columns("model_id", [1, 2], events)
    assert native.value.args == python.value.args


def test_rows_use_the_native_columns_when_built() -> None:
    assert rows.event_columns is row_columns.event_columns
