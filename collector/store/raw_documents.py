"""Ingest's documents handed to PyMongo already encoded, by collector.store.bson_documents,
which PyMongo copies into its command as they are (as Encoded objects, which its encoder
knows as it knows a RawBSONDocument).

Hot path: PyMongo's encoder costs ~900 instructions an element, ~40,000 a gRPC event of the
bench, its largest single step (docs/benchmarks.md); bson_documents writes the same bytes for
a fraction. A document it does not encode (a type only PyMongo knows), and every document
when it is not built (AEGIS_PURE_PYTHON, no compiler: collector.app.compiled), goes to
PyMongo as the dict it is, which PyMongo encodes, or rejects, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

encoded_documents: Callable[[Sequence[dict[str, Any]]], list[Any]] | None
try:
    from collector.store.bson_documents import encoded_documents
except ImportError:  # not built: PyMongo encodes every document
    encoded_documents = None


def raw_documents(docs: Sequence[dict[str, Any]]) -> list[Any]:
    """`docs` (each with its `_id`) for an insert command, in order."""
    if encoded_documents is None:
        return list(docs)
    return encoded_documents(docs)
