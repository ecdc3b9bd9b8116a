"""What explore adds to each ingest transaction: the batch's rows (collector.explore.rows) and
one pending note naming them, for the explore job (collector.explore.fold) to sum per user,
session and trace and hour, and to fold into the summaries and the directory.

The note is one small document per batch in `explore_pending` (index: tenant):
{_id, tenant, pieces: [the batch's event_rows _ids]}. Summing is left to the job, which sums
many batches at once, off the ingest path (measured: summing at ingest cost ~35 µs an event
with every attribution field set, about half of the collector's whole cost per event).
Readers that need what is not folded yet sum the pending notes' rows the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.domain import Kind
from collector.explore.rows import columns_of, epoch_ms, pieces_of, rows_by_hour
from collector.explore.summaries import Summary, add_columns, contributions
from collector.store.storage import Document, Storage

IN_CHUNK = 50
NoteEntry = tuple[str, str, int, Summary]  # dimension, key, hour ms, summary


def batch_writes(
    tenant: str, kind: Kind, docs: Sequence[dict[str, Any]], spans: Sequence[dict[str, Any]]
) -> tuple[list[Document], Document | None]:
    """The row documents of a batch's newly stored events and spans, and its note (None when
    there are none)."""
    pieces = pieces_of(tenant, rows_by_hour(kind, docs, spans))
    if not pieces:
        return [], None
    note = {"_id": str(ObjectId()), "tenant": tenant, "pieces": [p["_id"] for p in pieces]}
    return pieces, note


def entries_of(pieces: Iterable[Document]) -> Iterator[NoteEntry]:
    """What these rows add to each user's, session's and trace's summary of each hour."""
    found = contributions()
    for piece in pieces:
        add_columns(found, piece["kind"], epoch_ms(piece["hour"]), columns_of(piece))
    for dim, keys in found.items():
        for (key, hour), summary in keys.items():
            yield dim, key, hour, summary


async def pieces_by_id(
    storage: Storage, ids: Sequence[str], session: AsyncClientSession | None = None
) -> dict[str, Document]:
    """The row documents with these `_id`s (those retention has not deleted)."""
    found: dict[str, Document] = {}
    for i in range(0, len(ids), IN_CHUNK):
        chunk = list(ids[i : i + IN_CHUNK])
        async for piece in storage.event_rows.find({"_id": {"$in": chunk}}, session=session):
            found[piece["_id"]] = piece
    return found


async def pending_pieces(
    storage: Storage, tenant: str, session: AsyncClientSession | None = None
) -> list[Document]:
    """The rows of the tenant's notes not folded yet."""
    ids = [
        piece_id
        async for note in storage.explore_pending.find({"tenant": tenant}, session=session)
        for piece_id in note["pieces"]
    ]
    return list((await pieces_by_id(storage, ids, session)).values())
