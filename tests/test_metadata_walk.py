"""collector.ingest.metadata_walk walks an event's metadata as validation._metadata does, which
stays the rule: the same counts, or the same first Invalid (field and reason). Not built
(AEGIS_PURE_PYTHON), it is not used, and these are skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.ingest import validation
from collector.ingest.invalid import Invalid

metadata_walk = pytest.importorskip("collector.ingest.metadata_walk")

KEYS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "$a", "a$", "a.b", "a\x00", "k" * 257, "k" * 256, "é" * 3]),
)
STRINGS = st.one_of(st.text(max_size=8), st.sampled_from(["s" * 16_385, "s" * 16_384]))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    STRINGS,
    st.tuples(st.integers()),  # not JSON: neither counted nor walked, as in _metadata
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=30,
)


def _outcome(walk: Any, value: Any) -> Any:
    try:
        return walk(value)
    except Invalid as exc:
        return ("invalid", exc.field, exc.reason)
    except Exception as exc:
        return ("error", type(exc).__name__)


def _nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    return value


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.dictionaries(KEYS, VALUES, max_size=8), st.lists(VALUES, max_size=5)))
@example(_nested(7))
@example(_nested(8))
@example({"k": ["x" * 9000] * 8})  # past the characters of keys and strings
@example({"k": list(range(2001))})  # past the nodes
@example({1: "a"})  # a key that is not a str: _metadata raises TypeError
def test_the_walk_answers_as_validation_does(value: Any) -> None:
    assert _outcome(metadata_walk.walk, value) == _outcome(validation._metadata, value)


def test_validation_uses_it() -> None:
    assert validation.walk_metadata is metadata_walk.walk
