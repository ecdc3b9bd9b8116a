"""API clients (the `users` collection): creation, argon2id secrets, authentication, the
bootstrap admin, and the token and client-creation RPCs with their audit records."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.errors import DuplicateKeyError

from collector.errors import AlreadyExists, InvalidArgument, PermissionDenied, Unauthenticated
from collector.storage import Storage
from collector.tokens import Principal, TokenService

log = logging.getLogger(__name__)

# "alerts": manage alert rules (reading them needs only "read"; "admin" may manage them too).
SCOPES = frozenset({"ingest", "read", "alerts", "admin"})
DEFAULT_SCOPES = ("ingest", "read")
DEFAULT_TENANT = "default"
MAX_CONCURRENT_HASHES = 2
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.-]{3,128}$")


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored
    tenant: str
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ClientSpec:
    """What a new client is asked to be, validated: see client_spec."""

    name: str
    tenant: str
    scopes: tuple[str, ...]


def client_spec(name: str, tenant: str, scopes: list[str] | tuple[str, ...] = ()) -> ClientSpec:
    """Validate a new client's fields (InvalidArgument); no scopes means DEFAULT_SCOPES."""
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise InvalidArgument("name: required, at most 128 characters")
    if not _TENANT.match(tenant):
        raise InvalidArgument(
            "tenant: 1-63 characters of letters, digits, '_', '-' or '.', starting with a "
            "letter or digit"
        )
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidArgument(f"scopes: unknown scope(s) {unknown}; allowed {sorted(SCOPES)}")
    return ClientSpec(name, tenant, tuple(sorted(set(scopes))) or DEFAULT_SCOPES)


class ClientRegistry:
    """The API clients themselves; used by AuthService, start-up and the CLI."""

    def __init__(self, storage: Storage) -> None:
        self._users = storage.users
        # argon2id (the library default type) with its RFC 9106 low-memory profile.
        self._hasher = PasswordHasher()
        # Each hash or verify holds 64 MiB while it runs; a burst of logins must not add up
        # to hundreds of MB, so only a few run at once and the rest queue.
        self._hash_slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        # Verified against when the client id is unknown, so both failures cost the same.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def _hash(self, secret: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(self._hasher.hash, secret)

    async def _verify(self, stored: str, secret: str) -> None:
        async with self._hash_slots:
            await asyncio.to_thread(self._hasher.verify, stored, secret)

    async def create(
        self,
        spec: ClientSpec,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        global_admin: bool = False,
    ) -> NewClient:
        client_id = client_id or f"cl_{secrets.token_urlsafe(12)}"
        client_secret = client_secret or secrets.token_urlsafe(32)
        doc = {
            "client_id": client_id,
            "name": spec.name,
            "tenant": spec.tenant,
            "scopes": list(spec.scopes),
            "global_admin": global_admin,
            "secret_hash": await self._hash(client_secret),
            "created_at": dt.datetime.now(dt.UTC),
        }
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError:
            raise AlreadyExists(f"client {client_id!r} already exists") from None
        return NewClient(client_id, client_secret, spec.tenant, spec.name, spec.scopes)

    async def ensure_bootstrap_admin(
        self, client_id: str | None, client_secret: str | None
    ) -> NewClient | None:
        """There is always a global admin. BOOTSTRAP_CLIENT_ID/SECRET, when both are given,
        name one that is created or updated now. Otherwise, if none exists yet, one is created
        and returned: its secret is in it, and nowhere else in clear."""
        if client_id and client_secret:
            await self._upsert_admin(client_id, client_secret)
            log.info("bootstrap admin client %r is ready", client_id)
            return None
        if await self._users.find_one({"global_admin": True}, {"_id": 1}) is not None:
            return None
        return await self.create(
            client_spec("bootstrap admin", DEFAULT_TENANT, sorted(SCOPES)), global_admin=True
        )

    async def _upsert_admin(self, client_id: str, client_secret: str) -> None:
        if not _CLIENT_ID.match(client_id):
            raise InvalidArgument("BOOTSTRAP_CLIENT_ID: 3-128 letters, digits, '_', '-', '.'")
        await self._users.update_one(
            {"client_id": client_id},
            {
                "$set": {
                    "name": "bootstrap admin",
                    "tenant": DEFAULT_TENANT,
                    "scopes": sorted(SCOPES),
                    "global_admin": True,
                    "secret_hash": await self._hash(client_secret),
                },
                "$setOnInsert": {"created_at": dt.datetime.now(dt.UTC)},
            },
            upsert=True,
        )

    async def is_global_admin(self, client_id: str) -> bool:
        doc = await self._users.find_one({"client_id": client_id}, {"global_admin": 1})
        return bool(doc and doc.get("global_admin"))

    async def authenticate(self, client_id: str, client_secret: str) -> Principal:
        """The client's principal, or Unauthenticated with one message for every failure."""
        doc = await self._users.find_one({"client_id": client_id}) if client_id else None
        stored = doc["secret_hash"] if doc else self._dummy_hash
        try:
            await self._verify(stored, client_secret)
        except (VerificationError, InvalidHashError):
            doc = None
        if doc is None:
            raise Unauthenticated("invalid client credentials")
        return Principal(doc["client_id"], doc["tenant"], frozenset(doc["scopes"]))


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


class AuthService:
    """The AuthService RPCs: tokens for client credentials, and clients created by admins.
    Both leave an audit record."""

    def __init__(self, clients: ClientRegistry, tokens: TokenService, storage: Storage) -> None:
        self._clients = clients
        self._tokens = tokens
        self._storage = storage

    async def issue_token(self, client_id: str, client_secret: str) -> IssuedToken:
        principal = await self._clients.authenticate(client_id, client_secret)
        token = self._tokens.issue(principal)
        await self._storage.audit(
            event_type="auth",
            tenant=principal.tenant,
            client_id=principal.client_id,
            action="token_issued",
            details={"scopes": sorted(principal.scopes)},
        )
        return IssuedToken(token, self._tokens.lifetime_s)

    async def create_client(
        self, caller: Principal, *, name: str, tenant: str, scopes: list[str]
    ) -> NewClient:
        """Create a client on behalf of an admin: tenant admins only within their tenant."""
        if "admin" not in caller.scopes:
            raise PermissionDenied("the admin scope is required")
        if tenant != caller.tenant and not await self._clients.is_global_admin(caller.client_id):
            raise PermissionDenied("an admin may create clients only in its own tenant")
        created = await self._clients.create(client_spec(name, tenant, scopes))
        await self._storage.audit(
            event_type="admin",
            tenant=created.tenant,
            client_id=caller.client_id,
            action="client_created",
            details={"new_client_id": created.client_id, "scopes": list(created.scopes)},
        )
        return created
