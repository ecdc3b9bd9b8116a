"""Ingest's documents handed to PyMongo already encoded: RawBSONDocuments from
collector.store.bson_documents, which PyMongo copies into its command as they are.

Hot path: PyMongo's encoder costs ~900 instructions an element, ~40,000 a gRPC event of the
bench, its largest single step (docs/benchmarks.md); bson_documents writes the same bytes for
a fraction. A document it does not encode (a type only PyMongo knows), and every document
when it is not built (AEGIS_PURE_PYTHON, no compiler: collector.app.compiled), goes to
PyMongo as the dict it is, which PyMongo encodes, or rejects, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson.raw_bson import RawBSONDocument

encode: Callable[[Any], bytes | None] | None
try:
    from collector.store.bson_documents import encode
except ImportError:  # not built: PyMongo encodes every document
    encode = None


def raw_documents(docs: Sequence[dict[str, Any]]) -> list[Mapping[str, Any]]:
    """`docs` (each with its `_id`) for an insert command, in order."""
    if encode is None:
        return list(docs)
    out: list[Mapping[str, Any]] = []
    for doc in docs:
        data = encode(doc)
        out.append(doc if data is None else RawBSONDocument(data))
    return out
