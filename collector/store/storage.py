"""The MongoDB handle: one client per process, the collections, and the indexes they need."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import math
import pathlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, InsertOne, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    ConnectionFailure,
    DocumentTooLarge,
    OperationFailure,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern

from collector.errors import Unavailable, contended, database_busy
from collector.store.abandoned_sessions import AbandonedSessions
from collector.store.client_events import ClientEvents
from collector.store.raw_documents import raw_documents
from collector.store.session_ledger import SessionLedger, take_over

log = logging.getLogger(__name__)

Document = dict[str, Any]
T = TypeVar("T")
DUPLICATE_KEY = 11000
WRITE_CONFLICT = 112
TRANSACTION_ATTEMPTS = 5
# A snapshot read meets a concurrent write only while the database is busy with writes (on
# SecantusDB a WiredTiger rollback under load): it is tried again until the request's
# deadline, then refused as busy (Storage.snapshot).
READ_ATTEMPTS = 30
SNAPSHOT = ReadConcern("snapshot")
CONFLICT_PAUSE_S = 0.005
# Ingest retries a conflict for up to this share of its request deadline, the rest left for
# the last attempt. On SecantusDB every ingest transaction of a tenant conflicts with the
# others in flight (the partials' tenant index), so a few quick attempts are often not enough,
# whereas a conflict still there after most of a second is one that lasts: refused, with a
# retry delay.
INGEST_ATTEMPTS = 30
INGEST_CONFLICT_SHARE = 2 / 3
# A conflicting write first waits (this long at most) for our own abandoned transactions to
# be ended: it may be meeting one of them (collector.store.abandoned_sessions).
CONFLICT_SETTLE_S = 1.0
# A batch whose events stay held by another transaction after every attempt is answered
# UNAVAILABLE with this retry delay: typically a transaction left open by a collector that was
# killed, which the database expires within a minute; the client waits instead of hammering.
CONFLICT_RETRY_AFTER_S = 1.0

# Events are acknowledged to clients only after this write concern is satisfied.
DURABLE = WriteConcern(w="majority", j=True)
DEFAULT_REQUEST_TIMEOUT_S = 1.5
# PyMongo's heartbeats use connectTimeoutMS as their socket timeout, and a heartbeat that
# times out clears the pool, cancelling every operation in flight (seen: _OperationCancelled
# in background jobs while the database was merely busy). Heartbeats get this long; what
# bounds requests is the client's operation timeout (timeoutMS), not the heartbeat.
HEARTBEAT_TIMEOUT_MS = 10_000
# MongoDB 8.0's wire version: from it, a client-level bulkWrite writes to several collections
# in one command (Storage.insert_in_one).
BULK_WRITE_WIRE_VERSION = 25
# A pooled connection idle this long is closed by PyMongo, never handed out: the database may
# have closed it (SecantusDB after 300 s idle; firewalls and load balancers do too), and
# PyMongo (async) does not notice a close while it is not reading, so the next operation on
# it would fail on the network, which clears the whole pool and fails every operation in
# flight with it ("database unavailable"; seen in fresh-clone test runs).
MAX_IDLE_MS = 60_000
# Background work (jobs, index builds) runs its long transactions and deletes under this
# deadline per run instead of the request's per-operation timeout.
BACKGROUND_TIMEOUT_S = 300.0


@dataclass
class InsertOutcome:
    inserted: int = 0
    duplicates: int = 0  # already stored under the same (tenant, event_id)
    spans_inserted: int = 0
    span_duplicates: int = 0  # already stored under the same (tenant, trace_id, span key)


class Storage:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        database: str,
        *,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.request_timeout_s = request_timeout_s
        db = client[database]
        self.ml_events: AsyncCollection[Document] = db.get_collection(
            "ml_events", write_concern=DURABLE
        )
        self.llm_events: AsyncCollection[Document] = db.get_collection(
            "llm_events", write_concern=DURABLE
        )
        self.audit_logs: AsyncCollection[Document] = db["audit_logs"]
        self.users: AsyncCollection[Document] = db["users"]
        # Tenants' own model prices (collector.ingest.price_overrides); _id = "tenant:model".
        self.price_overrides: AsyncCollection[Document] = db["price_overrides"]
        # Background jobs (collector.jobs) and alert rules (collector.alerts).
        self.job_leases: AsyncCollection[Document] = db["job_leases"]
        self.job_runs: AsyncCollection[Document] = db["job_runs"]
        self.alert_rules: AsyncCollection[Document] = db["alert_rules"]
        self.alert_events: AsyncCollection[Document] = db["alert_events"]
        self.alert_deliveries: AsyncCollection[Document] = db["alert_deliveries"]
        # Rollups (collector.rollups): a partial written with each batch, folded into buckets.
        self.partials: AsyncCollection[Document] = db.get_collection(
            "rollup_partials", write_concern=DURABLE
        )
        self.buckets: dict[str, AsyncCollection[Document]] = {
            tier: db.get_collection(f"rollups_{tier}", write_concern=DURABLE)
            for tier in ("minute", "hour", "day", "total")
        }
        self.recent: AsyncCollection[Document] = db.get_collection(
            "rollup_recent", write_concern=DURABLE
        )
        # Export (collector.query.export): one listing of the _ids each batch stored. No secondary
        # index: with one on (tenant, kind), concurrent ingest transactions conflicted until
        # they gave up (seen in test_delivery after a collector was killed mid-stream).
        self.event_batches: AsyncCollection[Document] = db.get_collection(
            "event_batches", write_concern=DURABLE
        )
        # The spans of traces (collector.ingest.span_records), written with their batch. No
        # secondary index, as raw events: each costs ingest throughput.
        self.spans: AsyncCollection[Document] = db.get_collection("spans", write_concern=DURABLE)
        # Explore's rows (collector.explore.rows): one document per batch and hour, indexed by
        # (tenant, kind, hour): an index entry per batch, not per event.
        self.event_rows: AsyncCollection[Document] = db.get_collection(
            "event_rows", write_concern=DURABLE
        )
        # Explore's notes (collector.explore.notes), one per batch, and the job's fold of them:
        # which hours hold a trace's and a session's rows (collector.explore.directory).
        self.explore_pending: AsyncCollection[Document] = db.get_collection(
            "explore_pending", write_concern=DURABLE
        )
        self.explore_directory: AsyncCollection[Document] = db.get_collection(
            "explore_directory", write_concern=DURABLE
        )
        # Per user, session and trace, hour and day summaries (collector.explore.summaries).
        self.explore_summaries: AsyncCollection[Document] = db.get_collection(
            "explore_summaries", write_concern=DURABLE
        )
        # Days whose day summary is to be built again from its hours (a few; no index).
        self.explore_dirty: AsyncCollection[Document] = db.get_collection(
            "explore_dirty", write_concern=DURABLE
        )
        # Drift (collector.drift): sketches of ML features and predictions, written with their
        # batch as partials, folded by a job into hour and day sketches.
        self.drift_partials: AsyncCollection[Document] = db.get_collection(
            "drift_partials", write_concern=DURABLE
        )
        self.drift_hour: AsyncCollection[Document] = db.get_collection(
            "drift_hour", write_concern=DURABLE
        )
        self.drift_day: AsyncCollection[Document] = db.get_collection(
            "drift_day", write_concern=DURABLE
        )
        self._available = True
        # Whether the database takes MongoDB 8.0's bulkWrite (open_storage asks it).
        self.bulk_write = False
        self.abandoned = AbandonedSessions(client)
        self.ledger: SessionLedger | None = None

    async def ensure_indexes(self) -> None:
        # Raw events keep only their _id index: it is derived from (tenant, event_id), so it
        # is also what makes a retried event a duplicate. Every further index costs ingest
        # (measured: 18.6k docs/s with _id only, 5.2k with two more); reads use rollups.
        await self.partials.create_indexes([IndexModel([("tenant", ASCENDING)])])
        for buckets in self.buckets.values():
            await buckets.create_indexes(
                [IndexModel([("tenant", ASCENDING), ("kind", ASCENDING), ("start", ASCENDING)])]
            )
        await self.recent.create_indexes([IndexModel([("tenant", ASCENDING)])])
        await self.drift_hour.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("model_id", ASCENDING), ("hour", ASCENDING)])]
        )
        await self.drift_day.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("model_id", ASCENDING), ("day", ASCENDING)])]
        )
        await self.event_rows.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("kind", ASCENDING), ("hour", ASCENDING)])]
        )
        await self.explore_pending.create_indexes([IndexModel([("tenant", ASCENDING)])])
        await self.explore_directory.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("dim", ASCENDING), ("bucket", ASCENDING)])]
        )
        await self.explore_summaries.create_indexes(
            [
                IndexModel(
                    [
                        ("tenant", ASCENDING),
                        ("dim", ASCENDING),
                        ("period", ASCENDING),
                        ("start", ASCENDING),
                    ]
                )
            ]
        )
        await self.users.create_indexes(
            [IndexModel([("client_id", ASCENDING)], unique=True, name="client_id_unique")]
        )
        await self.audit_logs.create_indexes(
            [
                IndexModel([("tenant", ASCENDING), ("timestamp", DESCENDING)]),
                # A global admin's own actions in other tenants (collector.auth.audit).
                IndexModel([("actor_tenant", ASCENDING), ("timestamp", DESCENDING)], sparse=True),
            ]
        )
        await self.job_runs.create_indexes(
            [IndexModel([("job", ASCENDING), ("started_at", DESCENDING)])]
        )
        await self.alert_rules.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("created_at", ASCENDING)])]
        )
        await self.alert_events.create_indexes(
            [
                IndexModel([("tenant", ASCENDING), ("time", DESCENDING)]),
                # The deliverer's scan: pending transitions, per rule in order.
                IndexModel(
                    [("delivery_status", ASCENDING), ("rule_id", ASCENDING), ("seq", ASCENDING)]
                ),
            ]
        )
        await self.alert_deliveries.create_indexes(
            [IndexModel([("transition_id", ASCENDING), ("attempt", ASCENDING)])]
        )

    def events(self, kind: str) -> AsyncCollection[Document]:
        """The raw events of one kind, "ml" or "llm"."""
        return self.ml_events if kind == "ml" else self.llm_events

    def request_deadline(self) -> contextlib.AbstractContextManager[None]:
        """One deadline for several operations that make one write (PyMongo's client-side
        timeout; alone, each operation has its own, the client's timeoutMS). A timeout raises
        a PyMongoError whose `timeout` is true: UNAVAILABLE for the caller."""
        return pymongo.timeout(self.request_timeout_s)

    @staticmethod
    def background_deadline() -> contextlib.AbstractContextManager[None]:
        """The deadline of a background run (a job, index builds): long transactions and
        deletes are expected there, unlike in a request."""
        return pymongo.timeout(BACKGROUND_TIMEOUT_S)

    @property
    def available(self) -> bool:
        """Whether the last probe reached the database. While not, writes fail fast with
        UNAVAILABLE instead of each waiting out the server-selection timeout."""
        return self._available

    async def probe(self, timeout_s: float) -> bool:
        """Ping the database (the health monitor does, periodically); return whether it
        answered within timeout_s. A ping that timed out on a database we are connected to
        leaves it `available`: busy is not down (requests still try, and are told to retry
        later if they time out too). A ping that failed otherwise (a connection the database
        or the network closed: PyMongo then forgets the server and reconnects) is tried once
        more within the same timeout, and only a second failure means down: one dropped
        connection of a live database must not refuse every write until the next probe."""
        try:
            with pymongo.timeout(timeout_s):
                for attempt in (1, 2):
                    try:
                        await self.client.admin.command("ping")
                        break
                    except PyMongoError as exc:
                        if database_busy(exc) or attempt == 2:
                            raise
        except PyMongoError as exc:
            self._available = database_busy(exc)
            return False
        self._available = True
        return True

    async def transaction(
        self,
        work: Callable[[AsyncClientSession], Awaitable[T]],
        *,
        read_concern: ReadConcern | None = None,
        attempts: int = TRANSACTION_ATTEMPTS,
        within_s: float | None = None,
    ) -> T:
        """Run `work` in one transaction, committed with DURABLE; again (up to `attempts` times,
        and no later than `within_s` after the start) when it conflicts with another writer,
        after a random pause so that two writers do not meet again. `work` may run more than
        once, so it must read what it decides on inside the transaction. Unlike PyMongo's
        with_transaction, which keeps retrying for two minutes, a database that is down fails
        the call at once."""
        give_up_at = math.inf if within_s is None else time.monotonic() + within_s
        for attempt in range(1, attempts + 1):
            session = self.client.start_session()
            if self.ledger is not None:
                self.ledger.record(bytes(session.session_id["id"]))
            try:
                async with await session.start_transaction(
                    read_concern=read_concern, write_concern=DURABLE
                ):
                    result = await work(session)
            except PyMongoError as exc:
                await self._dispose(session, left_open=_maybe_left_open(exc))
                pause = random.uniform(0, CONFLICT_PAUSE_S * 2 ** min(attempt, 6))
                late = time.monotonic() + pause > give_up_at
                if attempt == attempts or late or not _conflict(exc):
                    raise
                log.debug("transaction conflict, attempt %d: %s", attempt, exc)
                if read_concern is None and _write_conflict(exc):
                    self.abandoned.again()  # what it meets may be one of ours, opened late
            except BaseException as exc:
                await self._dispose(session, left_open=isinstance(exc, asyncio.CancelledError))
                raise
            else:
                await session.end_session()
                return result
            await self.abandoned.settled(
                min(CONFLICT_SETTLE_S, max(0.0, give_up_at - time.monotonic() - pause))
            )
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def snapshot(self, read: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `read` (no writes) in one snapshot transaction, so that what it reads from
        several collections is one moment's. A conflict with concurrent writers is tried again
        until the request's deadline; one that outlasts it is refused as busy (429 with a
        Retry-After, collector.errors.contended), never as a database that is down."""
        try:
            return await self.transaction(
                read,
                read_concern=SNAPSHOT,
                attempts=READ_ATTEMPTS,
                within_s=self.request_timeout_s,
            )
        except PyMongoError as exc:
            if _conflict(exc):
                raise contended(exc) from None
            raise

    async def _dispose(self, session: AsyncClientSession, *, left_open: bool) -> None:
        """End a failed transaction's session; one that may still be open on the server is
        ended by killSessions instead, in the background (collector.store.abandoned_sessions)."""
        if left_open:
            self.abandoned.abandon(session)
        else:
            await session.end_session()

    async def insert_new(
        self,
        collection: AsyncCollection[Document],
        docs: Sequence[Document],
        summary: Callable[[list[Document]], Document],
        listing: Callable[[list[Document]], Document] | None = None,
        *,
        spans: Sequence[Document] = (),
        rows: Callable[[list[Document], list[Document]], tuple[list[Document], Document | None]]
        | None = None,
        drift: Callable[[list[Document]], list[Document]] | None = None,
    ) -> InsertOutcome:
        """Insert the documents whose `_id` is not stored yet, `summary(inserted)` into the
        partials, `listing(inserted)` into event_batches, the span records whose `_id` is
        not stored yet into spans and `rows(inserted, inserted spans)` into event_rows and
        explore_pending and `drift(inserted)` into drift_partials, in one transaction: all or
        none. The `_id`s are derived
        from (tenant, event_id) and (tenant, trace_id, span key) and distinct within `docs`
        and `spans`, so a retried event or a re-exported span is found, counted as a duplicate
        and written no second time.

        The first attempt does not look for them: it inserts everything, and a batch that
        holds a stored `_id` fails on the unique `_id` index, which aborts the whole
        transaction; the attempts after it read which `_id`s are stored first. Nearly every
        batch is new, and the read costs the collector a round trip and the ids' encoding
        (~1.6 µs an event of its ~35, measured in-process; docs/benchmarks.md)."""
        if not docs and not spans:
            return InsertOutcome()
        if not self._available:
            raise Unavailable("database unavailable, retry later", retry_after=1.0)

        look_first = False  # see above: the first attempt does not
        split = False  # past one command's 16 MB: see _insert

        async def write(session: AsyncClientSession) -> InsertOutcome:
            new = await _not_stored(collection, docs, session) if look_first else list(docs)
            if new:
                await _insert(collection, new, session, split=split)
            new_spans = await _not_stored(self.spans, spans, session) if look_first else list(spans)
            if new_spans:
                await _insert(self.spans, new_spans, session, split=split)
            # What else the batch writes: a few small documents, in one command.
            small: list[tuple[AsyncCollection[Document], Document]] = []
            if new:
                small.append((self.partials, summary(new)))
                if listing is not None:
                    small.append((self.event_batches, listing(new)))
                if drift is not None:
                    small += [(self.drift_partials, sketch) for sketch in drift(new)]
            pieces, note = rows(new, new_spans) if rows is not None else ([], None)
            small += [(self.event_rows, piece) for piece in pieces]
            if note is not None:
                small.append((self.explore_pending, note))
            await self.insert_in_one(small, session)
            return InsertOutcome(
                inserted=len(new),
                duplicates=len(docs) - len(new),
                spans_inserted=len(new_spans),
                span_duplicates=len(spans) - len(new_spans),
            )

        # A write that times out may still have landed (its commit sent, the answer not yet
        # read): the client's retry then finds the _ids stored and counts them as duplicates.
        try:
            with self.request_deadline():
                while True:
                    try:
                        if not look_first:  # once; a stored _id or a conflict: look first
                            return await self.transaction(write, attempts=1)
                        return await self.transaction(
                            write,
                            attempts=INGEST_ATTEMPTS,
                            within_s=self.request_timeout_s * INGEST_CONFLICT_SHARE,
                        )
                    except DocumentTooLarge:
                        if split:
                            raise
                        split = True  # the same attempt again, with insert_many
                    except PyMongoError as exc:
                        if look_first or not _conflict(exc):
                            raise
                        look_first = True
        except PyMongoError as exc:
            if not _conflict(exc):
                raise
            log.warning("a batch's events are held by another transaction; retry later: %s", exc)
            raise Unavailable(
                "these events are being written by another request; retry later",
                retry_after=CONFLICT_RETRY_AFTER_S,
            ) from exc

    async def insert_in_one(
        self,
        writes: Sequence[tuple[AsyncCollection[Document], Document]],
        session: AsyncClientSession,
    ) -> None:
        """Insert each (collection, document) in order, in the session's transaction: in one
        bulkWrite command where the database takes it (MongoDB 8.0, SecantusDB), else one
        insert per collection. Each command costs the collector a round trip, ~270 µs of
        PyMongo's CPU on these machines (docs/benchmarks.md); a batch writes up to six of
        these. A failure is raised as the insert's would be: the top-level error that PyMongo
        wraps in a ClientBulkWriteException, or the exception with its write errors."""
        if not writes:
            return
        if not self.bulk_write:
            for collection, group in itertools.groupby(writes, key=lambda write: write[0]):
                await collection.insert_many([doc for _, doc in group], session=session)
            return
        models = [InsertOne(doc, namespace=collection.full_name) for collection, doc in writes]
        try:
            await self.client.bulk_write(models, session=session)
        except ClientBulkWriteException as exc:
            raise _top_level(exc) from exc

    async def audit(
        self,
        *,
        event_type: str,
        tenant: str,
        client_id: str,
        action: str,
        details: Document,
        actor_tenant: str | None = None,
    ) -> None:
        record: Document = {
            "event_type": event_type,
            "tenant": tenant,
            "client_id": client_id,
            "action": action,
            "timestamp": dt.datetime.now(dt.UTC),
            "details": details,
        }
        # Only when it differs, so that the index on it holds just those records.
        if actor_tenant is not None and actor_tenant != tenant:
            record["actor_tenant"] = actor_tenant
        await self.audit_logs.insert_one(record)


async def _insert(
    collection: AsyncCollection[Document],
    docs: list[Document],
    session: AsyncClientSession,
    *,
    split: bool = False,
) -> None:
    """insert_many's work inside a transaction, sent as one `insert` command: the documents
    go as one document sequence, as insert_many sends them, without its Python work per
    document (its checks and generators: ~8,000 instructions an event of ~185,000 in all,
    counted by callgrind, docs/benchmarks.md). Every document has its `_id`. A write error (a
    stored `_id`) raises BulkWriteError as insert_many does. PyMongo holds a command,
    document sequence included, to 16 MB (a batch of large LLM events can be more) and
    raises DocumentTooLarge before sending it; the transaction is then run again with
    `split`: insert_many is held only to the 48 MB message size, past which it splits the
    batch (PyMongo counts the transaction as begun once a command of it was built, so it
    cannot go on within it)."""
    if split:
        await collection.insert_many(docs, session=session)
        return
    # Encoded here (collector.store.raw_documents): PyMongo copies them as they are.
    command = {"insert": collection.name, "documents": raw_documents(docs), "ordered": True}
    reply = await collection.database.command(command, session=session)
    errors = reply.get("writeErrors")
    if errors:
        raise BulkWriteError({"writeErrors": errors, "nInserted": reply.get("n", 0)})


async def _not_stored(
    collection: AsyncCollection[Document], docs: Sequence[Document], session: AsyncClientSession
) -> list[Document]:
    """The documents whose `_id` is not in the collection yet (read inside the transaction)."""
    if not docs:
        return []
    ids = [doc["_id"] for doc in docs]
    found = collection.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
    stored = {doc["_id"] async for doc in found}
    return [doc for doc in docs if doc["_id"] not in stored]


def _top_level(exc: ClientBulkWriteException) -> PyMongoError:
    """The error of a failed bulkWrite as its own exception: the network or timeout error
    PyMongo wrapped, or the server's command error (a WriteConflict, with its labels); `exc`
    itself when only its writes failed (a duplicate _id), their codes read by _codes."""
    error = exc.error
    if isinstance(error, PyMongoError):
        return error
    if isinstance(error, dict):
        return OperationFailure(error.get("errmsg", "bulkWrite failed"), error.get("code"), error)
    return exc


def _codes(exc: PyMongoError) -> set[Any]:
    """The error codes a failed write reports: its own, or those of insert_many's or
    bulkWrite's writes."""
    if isinstance(exc, (BulkWriteError, ClientBulkWriteException)):
        return {e.get("code") for e in exc.details.get("writeErrors", ())}
    return {exc.code} if isinstance(exc, OperationFailure) else set()


def _conflict(exc: PyMongoError) -> bool:
    """A clash with a concurrent transaction, which running again resolves (a lost connection
    carries the same label, but is not worth a retry on the ingest path: the caller's is):
    a write that met an _id another writer committed after our snapshot began, or one that an
    open transaction holds."""
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        return False
    return exc.has_error_label("TransientTransactionError") or bool(
        _codes(exc) & {DUPLICATE_KEY, WRITE_CONFLICT}
    )


def _write_conflict(exc: PyMongoError) -> bool:
    """WriteConflict: what a transaction left open holds (not a stored `_id`, 11000, which
    only a look-up settles)."""
    return exc.has_error_label("TransientTransactionError") or WRITE_CONFLICT in _codes(exc)


def _maybe_left_open(exc: PyMongoError) -> bool:
    """Whether a failed transaction may still be open on the server: the connection failed
    or the deadline ran out, so neither our abort nor our commit is known to have arrived."""
    return isinstance(exc, ConnectionFailure) or exc.timeout


@contextlib.asynccontextmanager
async def open_storage(
    url: str,
    database: str,
    timeout_ms: int,
    request_timeout_ms: int = int(DEFAULT_REQUEST_TIMEOUT_S * 1000),
    ledger_dir: pathlib.Path | None = None,
    max_idle_ms: int = MAX_IDLE_MS,
) -> AsyncIterator[Storage]:
    """The storage of one process. A server passes `ledger_dir` (DATA_DIR/sessions): before
    it serves, the transactions that a collector killed on the same DATA_DIR left open are
    ended, and its own sessions are recorded for its successor (collector.store.session_ledger)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url,
        tz_aware=True,
        # Bounded so an unreachable database answers UNAVAILABLE quickly, never a hang.
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=max(timeout_ms, HEARTBEAT_TIMEOUT_MS),
        # Every operation ends within this (PyMongo's client-side operation timeout), so a
        # database that is frozen rather than down answers UNAVAILABLE within 2 s; a socket
        # timeout alone waited 30 s. Background work sets its own (background_deadline).
        timeoutMS=request_timeout_ms,
        maxIdleTimeMS=max_idle_ms,
        appname="aegisai-collector",
        event_listeners=[ClientEvents()],
    )
    storage: Storage | None = None
    try:
        storage = Storage(client, database, request_timeout_s=request_timeout_ms / 1000)
        with storage.background_deadline():
            await storage.ensure_indexes()
            hello = await client.admin.command("hello")
        storage.bulk_write = hello.get("maxWireVersion", 0) >= BULK_WRITE_WIRE_VERSION
        if ledger_dir is not None:
            storage.ledger = await take_over(ledger_dir, storage.abandoned.kill)
        yield storage
    finally:
        if storage is not None:
            await storage.abandoned.close()
            if storage.ledger is not None:
                # Kept while a session may still hold an open transaction: the next collector
                # on this DATA_DIR ends it.
                storage.ledger.close(keep=storage.abandoned.pending)
        await client.close()
