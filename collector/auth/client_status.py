"""Whether a client's tokens still count: revoked clients and rotated secrets.

Tokens are checked on every call, so the answer is cached per replica for STATUS_TTL_S: a
client that is revoked or rotated on any replica is refused everywhere within about that
time (the replica that made the change forgets its entry at once). Calls of one client share
one database read per STATUS_TTL_S, never one per event batch.

An entry past its TTL is still answered from while a read refreshes it in the background
(stale-while-revalidate), so a slow or frozen database never holds up calls here: such a
database serves no data to a revoked client anyway, and the refresh lands once it answers.
Only a client seen for the first time waits for its read, bounded by FETCH_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from collector.domain import Principal
from collector.errors import Unauthenticated, Unavailable, from_exception

log = logging.getLogger(__name__)

STATUS_TTL_S = 0.5
FETCH_TIMEOUT_S = 1.5
MAX_ENTRIES = 100_000
STATUS_FIELDS = {"revoked_at": 1, "secret_version": 1, "previous_secret_until": 1}


@dataclass(frozen=True)
class ClientStatus:
    exists: bool
    revoked: bool = False
    secret_version: int = 0
    # Tokens of the previous secret version are accepted until then (epoch seconds).
    previous_until: float = 0.0

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> ClientStatus:
        if doc is None:
            return cls(exists=False)
        until: dt.datetime | None = doc.get("previous_secret_until")
        return cls(
            exists=True,
            revoked=doc.get("revoked_at") is not None,
            secret_version=int(doc.get("secret_version", 0)),
            previous_until=until.timestamp() if until is not None else 0.0,
        )

    def refusal(self, principal: Principal, now: float) -> str | None:
        """Why a token of this client is refused now, or None when it is accepted."""
        if not self.exists:
            return "the token's client no longer exists"
        if self.revoked:
            return "the token's client has been revoked"
        if principal.secret_version == self.secret_version:
            return None
        if principal.secret_version == self.secret_version - 1 and now < self.previous_until:
            return None
        return "the token was issued before the client's secret was rotated; log in again"


@dataclass
class _Entry:
    status: ClientStatus
    fetched: float


class ClientStatusCache:
    def __init__(self, users: AsyncCollection[dict[str, Any]], ttl_s: float = STATUS_TTL_S):
        self._users = users
        self._ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}
        self._fetching: dict[str, asyncio.Future[ClientStatus]] = {}
        self._changed: dict[str, float] = {}  # when this replica last changed the client

    async def status(self, client_id: str, *, fresh: bool = False) -> ClientStatus:
        """The client's status; fresh=True waits for the refresh of a stale entry (for a
        stream's watcher, which holds up no call)."""
        entry = self._entries.get(client_id)
        if entry is not None and time.monotonic() - entry.fetched < self._ttl_s:
            return entry.status
        fetching = self._fetching.get(client_id)
        if fetching is None:
            # One read for every call of this client that arrives meanwhile.
            fetching = asyncio.ensure_future(self._fetch(client_id))
            self._fetching[client_id] = fetching
            fetching.add_done_callback(lambda done: self._fetched(client_id, done))
        if entry is not None and not fresh:
            return entry.status  # stale, while the read above refreshes it
        return await asyncio.shield(fetching)

    def _fetched(self, client_id: str, done: asyncio.Future[ClientStatus]) -> None:
        if self._fetching.get(client_id) is done:
            self._fetching.pop(client_id)
        if not done.cancelled() and done.exception() is not None:
            log.debug("client status not read: %s", done.exception())

    async def _fetch(self, client_id: str) -> ClientStatus:
        started = time.monotonic()
        try:
            with pymongo.timeout(FETCH_TIMEOUT_S):
                doc = await self._users.find_one({"client_id": client_id}, STATUS_FIELDS)
        except PyMongoError as exc:
            # Busy (it timed out) or down, as every request says it (collector.errors).
            raise from_exception(exc) or Unavailable("database unavailable, retry later") from None
        status = ClientStatus.from_doc(doc)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._changed.clear()
        # A read that began before a change here may have missed it: not worth keeping.
        if started > self._changed.get(client_id, -1.0):
            self._entries[client_id] = _Entry(status, started)
        return status

    def forget(self, client_id: str) -> None:
        """This replica changed the client: its next call reads the status afresh."""
        self._entries.pop(client_id, None)
        self._changed[client_id] = time.monotonic()
        self._fetching.pop(client_id, None)

    async def check(self, principal: Principal, *, fresh: bool = False) -> None:
        """Unauthenticated when the principal's token no longer counts."""
        status = await self.status(principal.client_id, fresh=fresh)
        reason = status.refusal(principal, time.time())
        if reason is not None:
            raise Unauthenticated(reason)
