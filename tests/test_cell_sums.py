"""collector.rollups.cell_sums makes a group's cell as collector.rollups.cells.of_events does,
which stays the rule: the same cell, key for key, value for value (floats to the bit), for any
events of ingest's kinds. Not built (AEGIS_PURE_PYTHON), it is not used, and these are
skipped."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.rollups import cells

pytest.importorskip("collector.rollups.cell_sums")

START = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
NUMBERS = st.one_of(
    st.none(),
    st.integers(0, 2**40),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, 1e-320, 2**1100, True, 3.5, 1e308]),
)


@st.composite
def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    types = draw(st.sampled_from(["same", "none", "mixed"]))
    events = []
    for n in range(draw(st.integers(0, 8))):
        event: dict[str, Any] = {
            "event_id": f"e{n}",
            "timestamp": START + dt.timedelta(milliseconds=draw(st.integers(0, 3))),
        }
        if types == "same" or (types == "mixed" and draw(st.booleans())):
            event["model_type"] = draw(st.sampled_from(["a", "b", "c"]))
        for name in ("error", "latency_ms", "prediction_count", "tokens_used", "cost"):
            if draw(st.booleans()):
                event[name] = draw(
                    NUMBERS if name != "error" else st.sampled_from(["", "x", None, 0, 1])
                )
        for name in ("input_tokens", "output_tokens", "prompt_length", "response_length"):
            if draw(st.booleans()):
                event[name] = draw(NUMBERS)
        events.append(event)
    return events


SUMMED = st.sampled_from(
    [cells.SUMMED_BY_KIND["ml"], cells.SUMMED_BY_KIND["llm"], cells._ALL_SUMMED]
)


def _outcome(make: Any, events: list[dict[str, Any]], summed: Any) -> Any:
    try:
        return repr(make(events, summed))
    except Exception as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=3000, deadline=None)
@given(_events(), SUMMED)
@example([{"event_id": "e", "timestamp": START, "latency_ms": 2**1100}], cells._ALL_SUMMED)
@example([{"event_id": "e", "timestamp": START, "latency_ms": float("inf")}], cells._ALL_SUMMED)
@example([{"event_id": "e", "timestamp": START, "latency_ms": float("nan")}], cells._ALL_SUMMED)
@example([{"event_id": "e", "timestamp": START, "latency_ms": True}], cells._ALL_SUMMED)
@example([{"event_id": "e", "latency_ms": 1.0}], cells._ALL_SUMMED)  # no timestamp: KeyError
def test_the_cell_is_of_events_own(events: list[dict[str, Any]], summed: Any) -> None:
    assert _outcome(cells.events_cell, events, summed) == _outcome(cells.of_events, events, summed)


def test_the_native_cell_is_used_when_built() -> None:
    assert cells.events_cell is not cells.of_events
