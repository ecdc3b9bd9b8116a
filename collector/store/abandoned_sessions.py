"""Ending database sessions whose transactions may have been left open.

A transaction whose request timed out or was cancelled may still be open on the server,
holding what it wrote: PyMongo's own abort ran under the same expired deadline, so it was never
sent (or the commit was never sent and its state is unknown). A retry of the same batch then
meets WriteConflict until the server expires the transaction, a minute later. `killSessions`
with that session's id aborts it (and is a no-op when it did commit), so it is sent here, in
the background with a deadline of its own: the request that timed out is answered at once.
The same command ends the sessions a killed predecessor left (collector.store.session_ledger).

A session handed over here is never ended, so PyMongo never lends its id to another
transaction that the kill would then abort.

One kill may come too early: a command sent to a database that stalled, and given up on, is
still in the socket, and the database may read it only after the kill, opening the
transaction again (seen: ingest's first insert of a batch, sent while the database was
frozen). So a write that meets WriteConflict has the sessions abandoned in the last minute
ended once more (`again`, at most every AGAIN_EVERY_S) before it tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Iterable

import pymongo
from bson.binary import UUID_SUBTYPE, Binary
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

KILL_TIMEOUT_S = 10.0
# An abandoned transaction is expired by the server after 60 s (SecantusDB; MongoDB's default):
# past that there is nothing left to end.
GIVE_UP_AFTER_S = 60.0
RETRY_PAUSE_S = 1.0
# Conflicts come in bursts (every writer of a tenant meets them): one round of kills serves
# them all.
AGAIN_EVERY_S = 0.5
CHUNK = 1000


class AbandonedSessions:
    """One background task that ends every session handed to it, a batch per command."""

    def __init__(self, client: AsyncMongoClient[dict]) -> None:
        self._client = client
        self._pending: dict[bytes, float] = {}  # session id → when it was abandoned
        self._ended: dict[bytes, float] = {}  # the same, of those ended already
        self._again_at = -math.inf  # when `again` last handed sessions over
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """Whether a session may still hold a transaction: one not ended yet, or one ended
        less than GIVE_UP_AFTER_S after it was abandoned, which a late command may have
        opened again (see above)."""
        expired = time.monotonic() - GIVE_UP_AFTER_S
        return not self._settled.is_set() or any(t >= expired for t in self._ended.values())

    def abandon(self, session: AsyncClientSession) -> None:
        """End `session` soon, whatever it holds; the caller must not use or end it again."""
        self._pending[bytes(session.session_id["id"])] = time.monotonic()
        self._settled.clear()
        self._wake.set()
        if self._task is None:
            # A context of its own: the caller's holds its expired PyMongo deadline, which
            # a nested pymongo.timeout could only shorten.
            self._task = asyncio.create_task(
                self._run(), name="abandoned-sessions", context=contextvars.Context()
            )

    def again(self) -> None:
        """End once more the sessions abandoned less than GIVE_UP_AFTER_S ago and ended
        since: a write met WriteConflict, and what it met may be a transaction that one of
        their commands opened after the kill. At most every AGAIN_EVERY_S."""
        now = time.monotonic()
        if not self._ended or now - self._again_at < AGAIN_EVERY_S:
            return
        self._again_at = now
        recent = {s: since for s, since in self._ended.items() if since >= now - GIVE_UP_AFTER_S}
        self._ended = {}
        if recent:
            self._pending.update(recent)
            self._settled.clear()
            self._wake.set()

    async def settled(self, within_s: float) -> None:
        """Return once every abandoned session was ended (or given up on), or after within_s:
        a write that conflicts may be meeting one of our own abandoned transactions."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), within_s)

    async def kill(self, session_ids: Iterable[bytes]) -> None:
        """killSessions for these ids, now; raises PyMongoError when the database refuses."""
        ids = [{"id": Binary(raw, UUID_SUBTYPE)} for raw in session_ids]
        with pymongo.timeout(KILL_TIMEOUT_S):
            for start in range(0, len(ids), CHUNK):
                await self._client.admin.command("killSessions", ids[start : start + CHUNK])

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = dict(self._pending)
            try:
                await self.kill(batch)
            except PyMongoError as exc:
                log.debug("could not end %d abandoned session(s) yet: %s", len(batch), exc)
                expired = time.monotonic() - GIVE_UP_AFTER_S
                given_up = [s for s, since in batch.items() if since < expired]
                for session_id in given_up:
                    self._pending.pop(session_id, None)
                if given_up:
                    log.info(
                        "gave up ending %d abandoned database session(s) (%s): the database "
                        "expires their transactions itself (after 60 s by default)",
                        len(given_up),
                        exc,
                    )
                if self._pending:
                    await asyncio.sleep(RETRY_PAUSE_S)
                    self._wake.set()
            else:
                expired = time.monotonic() - GIVE_UP_AFTER_S
                self._ended = {s: t for s, t in self._ended.items() if t >= expired}
                for session_id, since in batch.items():
                    self._pending.pop(session_id, None)
                    self._ended[session_id] = since
                log.debug("ended %d abandoned database session(s)", len(batch))
            if not self._pending:
                self._settled.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
