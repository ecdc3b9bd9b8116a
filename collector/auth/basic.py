"""`authorization: Basic base64(clientId:clientSecret)`, for exporters configured once with a
static header (an OpenTelemetry exporter cannot renew a 1-hour JWT).

Checking a secret runs argon2id (~64 MiB, tens of ms), far too dear for every export, so a
successful check is remembered for at most a minute: a bounded in-process cache keyed by an
HMAC of the credentials under a per-process random key, so neither the secret nor a hash that
could be attacked offline is kept. A client that is revoked or whose secret changes is refused
once its entry expires (or at once, in this process, after `forget`). Concurrent checks of the
same credentials share one argon2 run.

Each check that runs argon2 goes through AuthService.authenticate: a failure counts against the
same sign-in limits as POST /auth/token (per client id and source address) and is audited. A
failure is remembered too, for FAILURE_TTL_S, in a bounded cache of its own: an exporter left
with a wrong header repeats the same credentials on every export, and those repeats neither
run argon2 nor count again (the same wrong guess teaches nothing new).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from collector.domain import Principal
from collector.errors import Unauthenticated

MAX_TTL_S = 60.0
FAILURE_TTL_S = 10.0
MAX_ENTRIES = 10_000
MAX_ENCODED = 1024

# (client id, secret, source address) → the principal, or Unauthenticated / ResourceExhausted.
Authenticate = Callable[[str, str, str], Awaitable[Principal]]


class BasicCredentials:
    def __init__(
        self,
        authenticate: Authenticate,
        *,
        ttl_s: float = MAX_TTL_S,
        failure_ttl_s: float = FAILURE_TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S}]")
        if not 0 < failure_ttl_s <= MAX_TTL_S:
            raise ValueError(f"failure_ttl_s must be in (0, {MAX_TTL_S}]")
        self._authenticate = authenticate
        self._ttl_s = ttl_s
        self._failure_ttl_s = failure_ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._failures: OrderedDict[bytes, float] = OrderedDict()  # key → expiry
        self._pending: dict[bytes, asyncio.Future[Principal]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def failures(self) -> int:
        return len(self._failures)

    def _failed_recently(self, key: bytes) -> bool:
        expires = self._failures.get(key)
        if expires is None:
            return False
        if self._clock() < expires:
            return True
        del self._failures[key]
        return False

    def _remember_failure(self, key: bytes) -> None:
        self._failures[key] = self._clock() + self._failure_ttl_s
        self._failures.move_to_end(key)
        if len(self._failures) > self._max_entries:
            self._failures.popitem(last=False)

    async def verify(self, encoded: str, source: str) -> Principal:
        """The principal for base64(clientId:clientSecret) from the source address, or
        Unauthenticated (or ResourceExhausted past the sign-in limits)."""
        if len(encoded) > MAX_ENCODED:
            raise Unauthenticated("malformed Basic credentials")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
            client_id, sep, secret = raw.decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep or not client_id or not secret:
            raise Unauthenticated("malformed Basic credentials")
        key = hmac.new(self._key, raw, hashlib.sha256).digest()
        cached = self._entries.get(key)
        if cached is not None:
            principal, expires = cached
            if self._clock() < expires:
                self._entries.move_to_end(key)
                return principal
            del self._entries[key]
        if self._failed_recently(key):
            raise Unauthenticated("invalid client credentials", reason="invalid_client")
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            principal = await self._authenticate(client_id, secret, source)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            if isinstance(exc, Unauthenticated):
                self._remember_failure(key)
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._pending[key]
        future.set_result(principal)
        self._entries[key] = (principal, self._clock() + self._ttl_s)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return principal

    def forget(self, client_id: str) -> None:
        """Drop this process's entries for a client (e.g. when it is revoked here)."""
        for key in [k for k, (p, _) in self._entries.items() if p.client_id == client_id]:
            del self._entries[key]
