"""What explore adds to each ingest transaction: the batch's rows (collector.explore.rows) and
one pending note of what they add to each user's, session's and trace's summary per hour
(collector.explore.summaries), for the explore job to fold (collector.explore.directory).

The note is one document per batch in `explore_pending` (index: tenant), packed:
{_id, tenant, s: Binary(BSON {"e": [[dim, key, hour ms, summary...], ...]})}.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions

from collector.domain import Kind
from collector.explore.rows import Row, epoch_ms, pieces_of, rows_by_hour
from collector.explore.summaries import Contributions, Summary, add_row, contributions
from collector.store.storage import Document

_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions()
NoteEntry = tuple[str, str, int, Summary]  # dimension, key, hour ms, summary


def batch_writes(
    tenant: str, kind: Kind, docs: Sequence[dict[str, Any]], spans: Sequence[dict[str, Any]]
) -> tuple[list[Document], Document | None]:
    """The row documents of a batch's newly stored events and spans, and its note (None when
    its rows name no user, session or trace)."""
    per_hour = rows_by_hour(kind, docs, spans)
    found = contributions()
    for (row_kind, hour), rows in per_hour.items():
        hour_ms = epoch_ms(hour)
        for values in rows:
            add_row(found, row_kind, Row(*values), hour_ms)
    return pieces_of(tenant, per_hour), note_of(tenant, found)


def note_of(tenant: str, found: Contributions) -> Document | None:
    entries = [
        [dim, key, hour, *summary.packed()]
        for dim, keys in found.items()
        for key, hours in keys.items()
        for hour, summary in hours.items()
    ]
    if not entries:
        return None
    return {
        "_id": str(ObjectId()),
        "tenant": tenant,
        "s": bson.Binary(bson.encode({"e": entries})),
    }


def entries_of(note: Document) -> Iterator[NoteEntry]:
    for dim, key, hour, *packed in bson.decode(note["s"], _UNPACK)["e"]:
        yield dim, key, hour, Summary.unpacked(packed)
