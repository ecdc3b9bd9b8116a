"""collector.ingest.text_scans answers as the Python it replaces on the hot path, which stays the
rule: hex_id as attribution's patterns (from the schema), may_hold_long_number as
fast_json._long_number. Not built (AEGIS_PURE_PYTHON), it is not used, and these are
skipped."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.api import fast_json
from collector.ingest import attribution

text_scans = pytest.importorskip("collector.ingest.text_scans")

IDS = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=14, max_size=34),
    st.text(alphabet="0", min_size=15, max_size=33),
    st.text(alphabet="0123456789abcdefABCDEFgz \n\x00é", min_size=0, max_size=34),
    st.text(min_size=0, max_size=34),
    # A valid id with one character that borders the ranges: "/", ":", "`", "g", "A", "F".
    st.builds(
        lambda digits, at, char: digits[:at] + char + digits[at + 1 :],
        st.sampled_from(["1" * 16, "1" * 32]),
        st.integers(0, 31),
        st.sampled_from(["/", ":", "`", "g", "@", "A", "F", "G"]),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(IDS)
@example("0" * 32)
@example("0" * 31 + "1")
@example("f" * 16)
@example("0" * 15 + "\u0660")  # a digit that is not ASCII
def test_hex_id_answers_as_the_schemas_pattern(value: str) -> None:
    for name, pattern in attribution.PATTERNS.items():
        expected = bool(value) and pattern.search(value) is not None
        assert text_scans.hex_id(value, attribution.DIGITS[name]) == expected, name


JSON_BYTES = st.one_of(
    st.binary(max_size=60),
    st.text(alphabet='0123456789-:,[ \t\r\n"x.e{}', max_size=80).map(str.encode),
    st.builds(
        lambda before, digits, after: (before + digits + after).encode(),
        st.text(alphabet=':,[ -x"', max_size=3),
        st.text(alphabet="0123456789", min_size=17, max_size=21),
        st.text(alphabet=',]} x"', max_size=3),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(JSON_BYTES)
@example(b"1234567890123456789")
@example(b"-1234567890123456789")
@example(b":-1234567890123456789")
@example(b"x-1234567890123456789")
@example(b'{"a":123456789012345678}')
def test_may_hold_long_number_answers_as_fast_jsons_search(text: bytes) -> None:
    assert text_scans.may_hold_long_number(text) == fast_json._long_number(text)


def test_the_hot_path_uses_them() -> None:
    assert fast_json.may_hold_long_number is text_scans.may_hold_long_number
    assert attribution.hex_id is text_scans.hex_id
