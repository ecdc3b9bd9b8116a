"""collector.store.bson_documents writes what PyMongo's encoder writes, byte for byte, for every
document it encodes, and leaves to PyMongo (returns None) every document it does not: any other
type, a key PyMongo rejects, an integer past 64 bits, a datetime in another zone. Then
collector.store.raw_documents hands PyMongo the dict, which PyMongo encodes or rejects as it
always has. Not built (AEGIS_PURE_PYTHON), it is not used, and these are skipped."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.store import raw_documents

bson_documents = pytest.importorskip("collector.store.bson_documents")
encode = bson_documents.encode

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))  # UTF-8 can hold it
ZONES = st.sampled_from([None, dt.UTC])
INSTANTS = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999_999)
).flatmap(lambda moment: ZONES.map(lambda zone: moment.replace(tzinfo=zone)))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**31) - 2, max_value=2**31 + 1),  # the int32 / int64 edges
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    INSTANTS,
)
KEYS = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=12),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(KEYS, inner, max_size=6),
    ),
    max_leaves=40,
)
DOCUMENTS = st.builds(
    lambda doc, _id: {**doc, "_id": _id},
    st.dictionaries(KEYS, VALUES, max_size=10),
    st.one_of(TEXT, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_any_document_of_ingest_types_is_encoded_as_pymongo_encodes_it(doc: dict[str, Any]) -> None:
    assert encode(doc) == bson.encode(doc)


def test_the_id_is_written_first_wherever_it_is_in_the_dict() -> None:
    doc = {"a": 1, "_id": "t:1", "b": {"_id": 2, "c": [1, "x"]}}
    data = encode(doc)
    assert data == bson.encode(doc)
    assert list(bson.decode(data)) == ["_id", "a", "b"]


@pytest.mark.parametrize(
    "doc",
    [
        {"a": 1},  # no _id: PyMongo's insert adds one
        {"_id": 1, "a": 2**63},  # past 64 bits: PyMongo raises OverflowError
        {"_id": 1, "a\x00b": 1},  # NUL in a key: PyMongo raises InvalidDocument
        {"_id": 1, 7: 1},  # a key that is not a str
        {"_id": 1, "a": "\ud800"},  # a lone surrogate: not UTF-8
        {"_id": 1, "a": b"bytes"},
        {"_id": 1, "a": bson.ObjectId()},
        {"_id": 1, "a": bson.Int64(5)},  # an int subclass with PyMongo's type marker
        {"_id": 1, "a": dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
        {"_id": 1, "a": {1, 2}},
    ],
)
def test_what_only_pymongo_encodes_is_left_to_it(doc: dict[str, Any]) -> None:
    assert encode(doc) is None


def test_raw_documents_wraps_what_it_encodes_and_passes_the_rest_on() -> None:
    encoded = {"_id": "t:1", "at": dt.datetime(2026, 12, 5, tzinfo=dt.UTC), "n": math.pi}
    other = {"_id": "t:2", "id": bson.ObjectId()}
    out = raw_documents.raw_documents([encoded, other])
    assert out[0].raw == bson.encode(encoded)
    assert out[1] is other
    # PyMongo's encoder writes an Encoded as it writes a RawBSONDocument: its bytes as they are.
    command = {"insert": "events", "documents": [encoded, other]}
    assert bson.encode({**command, "documents": out}) == bson.encode(command)
    raw = [RawBSONDocument(bson.encode(encoded)), other]
    assert bson.encode({**command, "documents": out}) == bson.encode({**command, "documents": raw})


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        INSTANTS.map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
        INSTANTS,
        st.datetimes(timezones=st.just(dt.timezone(dt.timedelta(hours=-3)))),
    )
)
def test_epoch_ms_is_the_timestamps_milliseconds(moment: dt.datetime) -> None:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        expected = round(moment.timestamp() * 1000)
    except (OverflowError, ValueError):  # near year 1 or 9999 in another zone
        return
    assert bson_documents.epoch_ms(moment) == expected
