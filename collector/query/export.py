"""Export: a tenant's stored events of one kind, as NDJSON or CSV, streamed in chunks.

Paging (see collector.ingest.listing for why): the tenant's batch listings are listed once — their
`_id` and time span only, ~60 bytes per stored batch, so a million events in batches of 500
cost ~120 kB — then read a few at a time by `_id`, and their events fetched by `_id` `$in`,
PAGE at a time. Memory stays bounded by a page whatever the export's size, and the
database reads each event once. Events come out in the order the collector stored them.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection

from aegis_shared import json_schema
from collector import prometheus as metrics
from collector.dates import DateRange
from collector.domain import MODEL_KEY, Kind, prefix_range
from collector.errors import InvalidArgument
from collector.ingest.listing import listing_prefix
from collector.query.event_json import event_data
from collector.store.storage import Document, Storage

Format = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[Format, str] = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
# What export.proto documents as the kinds and formats (aegis_shared.json_schema).
KIND_NAMES = json_schema.choices("aegis.v1.ExportEventsRequest", "kind")
FORMAT_NAMES = json_schema.choices("aegis.v1.ExportEventsRequest", "format")
json_schema.agree("collector.query.export's kinds", MODEL_KEY, KIND_NAMES)
json_schema.agree("collector.query.export.MEDIA_TYPES", MEDIA_TYPES, FORMAT_NAMES)
# Events fetched per query. On the embedded database an `_id` `$in` slows down sharply past
# ~100 ids (measured over 20k stored events: 50 ids 6 ms, 100 ids 14 ms, 200 ids 58 ms,
# 400 ids 0.76 s, 1000 ids 3.1 s), so pages are small and a few are fetched at once.
PAGE = 100
PAGES_IN_FLIGHT = 4
LISTINGS_PER_READ = 4  # batch listings read per query (each lists up to a batch's ids)
CHUNK_BYTES = 1024 * 1024  # a chunk is sent once it holds this much (gRPC allows 4 MiB)
# Every field NDJSON shows of an event (an unset one is an empty cell); fields added later
# come after the first ones, so a column keeps its place.
_ATTRIBUTION = (
    "user_id", "session_id", "trace_id", "span_id", "parent_span_id", "environment", "release",
    "tags",
)  # fmt: skip
CSV_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "ml": (
        "event_id", "timestamp", "model_type", "model_id", "input_shape", "prediction_count",
        "latency_ms", "error", "metadata", "client_id", "received_at", *_ATTRIBUTION,
    ),
    "llm": (
        "event_id", "timestamp", "model_name", "provider", "prompt_length", "response_length",
        "tokens_used", "input_tokens", "output_tokens", "cost", "cost_source", "latency_ms",
        "error", "metadata", "client_id", "received_at", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens", *_ATTRIBUTION, "system", "input", "output",
        "content_truncated",
    ),
}  # fmt: skip
# Cells holding JSON; so does input or output when it is a list of messages (a string is
# the string itself), and a boolean.
JSON_COLUMNS = ("metadata", "input_shape", "tags")


@dataclass(frozen=True)
class ExportQuery:
    kind: Kind
    dates: DateRange
    model: str | None
    format: Format


@dataclass(frozen=True)
class Chunk:
    data: bytes
    events: int
    content_type: str = ""


def parse_kind(text: str) -> Kind:
    if text == "ml":
        return "ml"
    if text == "llm":
        return "llm"
    raise InvalidArgument(f"kind: {text[:20]!r} is not one of {', '.join(KIND_NAMES)}")


def parse_format(text: str) -> Format:
    text = text.strip().lower() or "ndjson"
    if text == "ndjson":
        return "ndjson"
    if text == "csv":
        return "csv"
    raise InvalidArgument(f"format: {text[:20]!r} is not one of {', '.join(FORMAT_NAMES)}")


def _ndjson(kind: Kind) -> tuple[bytes, Callable[[Iterable[Document]], bytes]]:
    def rows(docs: Iterable[Document]) -> bytes:
        return b"".join(
            json.dumps(event_data(d), separators=(",", ":")).encode() + b"\n" for d in docs
        )

    return b"", rows


def _csv(kind: Kind) -> tuple[bytes, Callable[[Iterable[Document]], bytes]]:
    columns = CSV_COLUMNS[kind]

    def text(values: Iterable[Any]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(values)
        return out.getvalue().encode()

    def cell(data: dict[str, Any], column: str) -> Any:
        value = data.get(column)
        if value is None:
            return ""
        if column in JSON_COLUMNS or type(value) in (list, bool):  # true, not Python's True
            return json.dumps(value, separators=(",", ":"))
        return value

    def rows(docs: Iterable[Document]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for doc in docs:
            data = event_data(doc)
            writer.writerow([cell(data, c) for c in columns])
        return out.getvalue().encode()

    return text(columns), rows


FORMATS = {"ndjson": _ndjson, "csv": _csv}


class Exporter:
    def __init__(self, storage: Storage, *, page: int = PAGE) -> None:
        self._storage = storage
        self._page = page

    async def _listings(self, tenant: str, query: ExportQuery) -> list[Any]:
        """The _ids of the tenant's batch listings that may hold events in the range,
        oldest first. Only their time span is read back (the ids stay in the database). On
        the embedded database this `_id` range reads every listing once (a collection scan:
        ~20 kB per 500 events stored); on MongoDB it walks the `_id` index."""
        start, end = query.dates.start, query.dates.end
        prefix = listing_prefix(tenant, query.kind)
        found = self._storage.event_batches.find(
            {"_id": prefix_range(prefix)}, {"first": 1, "last": 1}
        )
        return sorted(
            [
                doc["_id"]
                async for doc in found
                if (start is None or doc["last"] >= start) and (end is None or doc["first"] < end)
            ]
        )

    async def _id_pages(self, listing_ids: list[Any]) -> AsyncIterator[list[str]]:
        for at in range(0, len(listing_ids), LISTINGS_PER_READ):
            wanted = listing_ids[at : at + LISTINGS_PER_READ]
            found = self._storage.event_batches.find({"_id": {"$in": wanted}}, {"ids": 1})
            by_id = {doc["_id"]: doc["ids"] async for doc in found}
            for listing_id in wanted:
                ids = by_id.get(listing_id, [])
                for start in range(0, len(ids), self._page):
                    yield ids[start : start + self._page]

    def _wanted(self, query: ExportQuery) -> Callable[[Document], bool]:
        start, end = query.dates.start, query.dates.end
        model_key = MODEL_KEY[query.kind]

        def wanted(doc: Document) -> bool:
            # Checked here, not in the query: `_id` `$in` alone is the point-lookup path.
            moment = doc["timestamp"]
            return (
                (start is None or moment >= start)
                and (end is None or moment < end)
                and (query.model is None or doc.get(model_key) == query.model)
            )

        return wanted

    async def export(self, tenant: str, query: ExportQuery) -> AsyncIterator[Chunk]:
        """The export's chunks; the first one names the content type, even when empty."""
        header, rows = FORMATS[query.format](query.kind)
        events = self._storage.events(query.kind)
        wanted = self._wanted(query)
        pending: list[bytes] = [header]
        pending_bytes, pending_events = len(header), 0
        first = True
        pages = self._id_pages(await self._listings(tenant, query))
        async for ids, found in _prefetched(pages, lambda ids: _fetch(events, ids)):
            # In the batch's own order; ids retention has deleted since are skipped.
            docs = [d for d in (found.get(i) for i in ids) if d is not None and wanted(d)]
            if not docs:
                continue
            data = rows(docs)
            pending.append(data)
            pending_bytes += len(data)
            pending_events += len(docs)
            if pending_bytes >= CHUNK_BYTES:
                yield self._chunk(pending, pending_events, query, first)
                metrics.EXPORTED_EVENTS.labels(query.kind).inc(pending_events)
                first = False
                pending, pending_bytes, pending_events = [], 0, 0
        if first or pending_events:
            yield self._chunk(pending, pending_events, query, first)
            metrics.EXPORTED_EVENTS.labels(query.kind).inc(pending_events)

    @staticmethod
    def _chunk(pending: list[bytes], events: int, query: ExportQuery, first: bool) -> Chunk:
        return Chunk(b"".join(pending), events, MEDIA_TYPES[query.format] if first else "")


async def _fetch(events: AsyncCollection[Document], ids: list[str]) -> dict[str, Document]:
    return {d["_id"]: d async for d in events.find({"_id": {"$in": ids}})}


async def _prefetched(
    pages: AsyncIterator[list[str]],
    fetch: Callable[[list[str]], Awaitable[dict[str, Document]]],
) -> AsyncIterator[tuple[list[str], dict[str, Document]]]:
    """(ids, their documents) page by page, in order, with up to PAGES_IN_FLIGHT fetched
    ahead: memory stays bounded by that many pages."""
    ahead: collections.deque[tuple[list[str], asyncio.Task[dict[str, Document]]]]
    ahead = collections.deque()
    try:
        async for ids in pages:
            ahead.append((ids, asyncio.ensure_future(fetch(ids))))
            if len(ahead) >= PAGES_IN_FLIGHT:
                ids, task = ahead.popleft()
                yield ids, await task
        while ahead:
            ids, task = ahead.popleft()
            yield ids, await task
    finally:
        for _, task in ahead:
            task.cancel()
