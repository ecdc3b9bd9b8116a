"""collector.ingest.event_checks passes the events that pass validation's common checks
(_fill_and_check_common, attribution.check within it), which stay the rule: for any event,
validation with it and without it ends the same, the same event filled or the same first
Invalid (field and reason), or the same error. Not built (AEGIS_PURE_PYTHON), it is not used,
and these are skipped."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.domain import EARLIEST
from collector.ingest import attribution, validation
from collector.ingest.invalid import Invalid

pytest.importorskip("collector.ingest.event_checks")

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
LATEST = NOW + validation.MAX_FUTURE
ONE = dt.timedelta(microseconds=1)


def _text(limit: int) -> st.SearchStrategy[Any]:
    """Strings about a length limit, short ones, empty, None and a value of another type."""
    return st.one_of(
        st.none(),
        st.text(max_size=6),
        st.sampled_from(["", "x" * limit, "x" * (limit + 1), "é" * limit]),
        st.integers(),
        st.lists(st.text(max_size=2), max_size=2),
    )


def _hex(digits: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.text(alphabet="0123456789abcdefABCDEFg", min_size=digits - 1, max_size=digits + 1),
        st.sampled_from(["", "0" * digits, "0" * (digits - 1) + "1", "é" * digits]),
        st.integers(),
    )


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(
        st.text(max_size=8),
        st.sampled_from(["e" * 128, "e" * 129, "a\x7fb", "a\tb", "é", "", " ~"]),
        st.integers(),
    ),
    "timestamp": st.one_of(
        st.none(),
        st.datetimes(
            min_value=dt.datetime(1990, 1, 1),
            max_value=dt.datetime(2030, 1, 1),
            timezones=st.just(dt.UTC),
        ),
        st.sampled_from([EARLIEST, EARLIEST - ONE, LATEST, LATEST + ONE]),
        st.datetimes(min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2030, 1, 1)),  # naive
        st.text(max_size=3),
    ),
    "latency_ms": st.one_of(
        st.none(),
        st.floats(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.booleans(),
        st.sampled_from([-1, 0, -0.5, -0.0, 2**63 - 1, 2**63, -(2**63), 10**400]),
        st.text(max_size=2),
    ),
    "error": st.one_of(
        st.none(),
        st.text(max_size=4),
        st.sampled_from(["", "e" * validation.MAX_ERROR, "e" * (validation.MAX_ERROR + 1)]),
        st.integers(),
    ),
    "metadata": st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "$c", "d.e"]), st.integers(), max_size=3),
        st.lists(st.integers(), max_size=2),
        st.none(),
        st.just(b"{"),
        st.text(max_size=2),
    ),
    **{name: _text(limit) for name, limit in attribution.LENGTHS.items()},
    **{name: _hex(digits) for name, digits in attribution.DIGITS.items()},
    "tags": st.one_of(
        st.none(),
        st.lists(
            st.one_of(
                st.text(max_size=4),
                st.sampled_from(["t" * attribution.MAX_TAG, "t" * (attribution.MAX_TAG + 1)]),
                st.integers(),
            ),
            max_size=attribution.MAX_TAGS + 1,
        ),
        st.sampled_from(["", "tag", ()]),
        st.sampled_from([["t"] * attribution.MAX_TAGS, ["t"] * (attribution.MAX_TAGS + 1)]),
    ),
}
GOOD: dict[str, Any] = {
    "event_id": "e-1",
    "timestamp": NOW,
    "latency_ms": 12.5,
    "error": None,
    "metadata": {"a": 1, "b": ["x"]},
    "user_id": "u1",
    "session_id": "",
    "environment": None,
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "span_id": "b7ad6b7169203331",
    "tags": ["a", "b"],
}


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    """A good event with a field or two changed (to any value of FIELDS) or left out: so that
    a value at a bound is met with the rest passing, as well as with the rest failing."""
    event = dict(GOOD)
    for name in draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=3)):
        if draw(st.integers(0, 5)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(FIELDS[name])
    return event


EVENTS = st.one_of(_events(), st.fixed_dictionaries({}, optional=FIELDS))


def _outcome(event: dict[str, Any]) -> Any:
    try:
        validation._fill_and_check_common(event, NOW)
    except Invalid as exc:
        return ("invalid", exc.field, exc.reason)
    except Exception as exc:
        return ("error", type(exc).__name__)
    return ("passed", event)


def _both(event: dict[str, Any]) -> tuple[Any, Any]:
    assert validation.common_fine is not None
    with_c = _outcome(copy.deepcopy(event))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(validation, "common_fine", None)
        without = _outcome(copy.deepcopy(event))
    return with_c, without


@settings(max_examples=4000, deadline=None)
@given(event=EVENTS)
@example(event=GOOD)
@example(event={**GOOD, "timestamp": None})
@example(event={**GOOD, "metadata": {"$bad": 1}, "user_id": "u" * 1000})  # metadata comes first
@example(event={**GOOD, "user_id": "u" * 1000, "trace_id": "zz"})  # the first attribution field
@example(event={**GOOD, "session_id": "", "trace_id": "0" * 32})  # removed, then the id fails
@example(event={**GOOD, "tags": []})
@example(event={**GOOD, "latency_ms": -0.5})
@example(event={**GOOD, "latency_ms": -0.0})
@example(event={**GOOD, "latency_ms": 2**63})  # past 64 bits: left to the Python, which passes it
def test_validation_ends_the_same_with_the_c_checks_and_without(event: dict[str, Any]) -> None:
    with_c, without = _both(event)
    assert with_c == without


def test_a_good_event_is_passed_in_c_and_filled_as_the_python_fills_it() -> None:
    assert validation.common_fine is not None
    event = {**GOOD, "timestamp": None}
    assert validation.common_fine(event, NOW) is True
    assert event["timestamp"] is NOW
    assert "session_id" not in event and "environment" not in event  # not given: removed
    assert event["user_id"] == "u1" and event["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "e" * 129},
        {"timestamp": EARLIEST - ONE},
        {"timestamp": LATEST + ONE},
        {"latency_ms": float("nan")},
        {"latency_ms": -1},
        {"latency_ms": -0.5},
        {"error": "e" * (validation.MAX_ERROR + 1)},
        {"user_id": "u" * (attribution.LENGTHS["user_id"] + 1)},
        {"span_id": "0" * 16},
        {"tags": ["t" * (attribution.MAX_TAG + 1)]},
        {"metadata": ["not", "an", "object"]},
    ],
)
def test_what_fails_is_left_to_the_python_checks(change: dict[str, Any]) -> None:
    assert validation.common_fine is not None
    assert validation.common_fine({**GOOD, **change}, NOW) is False
    with pytest.raises(Invalid):
        validation._fill_and_check_common({**GOOD, **change}, NOW)


def test_bad_metadata_is_named_by_the_walk_the_c_checks_call() -> None:
    assert validation.common_fine is not None
    with pytest.raises(Invalid) as raised:
        validation.common_fine({**GOOD, "metadata": {"a.b": 1}}, NOW)
    assert raised.value.field == "metadata"
