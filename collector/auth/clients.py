"""API clients (the `users` collection): creation, argon2id secrets, authentication, the
bootstrap admin, listing, revocation and secret rotation. Who may do what is decided by
collector.auth.service; this module only keeps the records."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from aegis_shared import json_schema
from collector.domain import Principal
from collector.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unauthenticated
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)

# The bounds are auth.proto's (aegis_shared.json_schema), which the REST documentation states.
_NAME = json_schema.of("aegis.v1.CreateClientRequest", "name")
_GRACE = json_schema.of("aegis.v1.RotateClientSecretRequest", "grace_seconds")
# "alerts": manage alert rules (reading them needs only "read"; "admin" may manage them too).
SCOPES = frozenset(json_schema.of("aegis.v1.CreateClientRequest", "scopes")["items"]["enum"])
DEFAULT_SCOPES = ("ingest", "read")
DEFAULT_TENANT = "default"
MAX_CONCURRENT_HASHES = 2
MIN_NAME: int = _NAME["minLength"]
MAX_NAME: int = _NAME["maxLength"]
_TENANT = json_schema.pattern(json_schema.of("aegis.v1.CreateClientRequest", "tenant")["pattern"])
_CLIENT_ID = json_schema.pattern(
    json_schema.of("aegis.v1.RevokeClientRequest", "clientId")["pattern"]
)
MIN_GRACE_S: int = _GRACE["minimum"]
MAX_GRACE_S: int = _GRACE["maximum"]
MAX_LISTED = 10_000
UPSERT_ATTEMPTS = 5
# What an admin may see of a client: never a hash.
PUBLIC_FIELDS = {
    "_id": 0,
    "client_id": 1,
    "name": 1,
    "tenant": 1,
    "scopes": 1,
    "global_admin": 1,
    "created_at": 1,
    "revoked_at": 1,
    "secret_rotated_at": 1,
}


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored
    tenant: str
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ClientInfo:
    """A client as admins see it."""

    client_id: str
    name: str
    tenant: str
    scopes: tuple[str, ...]
    global_admin: bool
    created_at: dt.datetime | None
    revoked_at: dt.datetime | None
    secret_rotated_at: dt.datetime | None

    @classmethod
    def from_doc(cls, doc: Document) -> ClientInfo:
        return cls(
            doc["client_id"],
            doc.get("name", ""),
            doc["tenant"],
            tuple(doc.get("scopes", ())),
            bool(doc.get("global_admin")),
            doc.get("created_at"),
            doc.get("revoked_at"),
            doc.get("secret_rotated_at"),
        )


@dataclass(frozen=True)
class ClientSpec:
    """What a new client is asked to be, validated: see client_spec."""

    name: str
    tenant: str
    scopes: tuple[str, ...]


def client_spec(name: str, tenant: str, scopes: list[str] | tuple[str, ...] = ()) -> ClientSpec:
    """Validate a new client's fields (InvalidArgument); no scopes means DEFAULT_SCOPES."""
    name = name.strip()
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise InvalidArgument(f"name: required, at most {MAX_NAME} characters")
    if not _TENANT.search(tenant):
        raise InvalidArgument(
            "tenant: 1-63 characters of letters, digits, '_', '-' or '.', starting with a "
            "letter or digit"
        )
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise InvalidArgument(f"scopes: unknown scope(s) {unknown}; allowed {sorted(SCOPES)}")
    return ClientSpec(name, tenant, tuple(sorted(set(scopes))) or DEFAULT_SCOPES)


async def is_global_admin(users: AsyncCollection[Document], client_id: str) -> bool:
    doc = await users.find_one({"client_id": client_id}, {"global_admin": 1})
    return bool(doc and doc.get("global_admin"))


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
        if not _CLIENT_ID.search(client_id):
            raise InvalidArgument("BOOTSTRAP_CLIENT_ID: 3-128 letters, digits, '_', '-', '.'")
        role = {
            "name": "bootstrap admin",
            "tenant": DEFAULT_TENANT,
            "scopes": sorted(SCOPES),
            "global_admin": True,
        }
        # Several replicas may start at once with the same configuration: each change is
        # made only over the version read, and whoever loses reads again (and then finds
        # the secret already in place).
        for _ in range(UPSERT_ATTEMPTS):
            doc = await self._users.find_one({"client_id": client_id})
            if doc is None:
                try:
                    await self._users.insert_one(
                        {
                            "client_id": client_id,
                            **role,
                            "secret_hash": await self._hash(client_secret),
                            "created_at": dt.datetime.now(dt.UTC),
                        }
                    )
                    return
                except DuplicateKeyError:
                    continue
            if (
                doc.get("revoked_at") is None
                and doc.get("tenant") == DEFAULT_TENANT
                and await self._matches(doc.get("secret_hash"), client_secret)
            ):
                # The same secret as before: its tokens stay good across restarts.
                await self._users.update_one({"client_id": client_id}, {"$set": role})
                return
            # A new secret, a revoked admin configured again, or a client of another tenant
            # taken over: tokens issued before carry the old version and stop counting.
            result = await self._users.update_one(
                {"client_id": client_id, "secret_version": doc.get("secret_version")},
                {
                    "$set": {
                        **role,
                        "secret_hash": await self._hash(client_secret),
                        "secret_version": int(doc.get("secret_version", 0)) + 1,
                        "secret_rotated_at": dt.datetime.now(dt.UTC),
                    },
                    # No grace: the previous version must not count either.
                    "$unset": {
                        "revoked_at": "",
                        "previous_secret_hash": "",
                        "previous_secret_until": "",
                    },
                },
            )
            if result.matched_count:
                log.info(
                    "bootstrap admin %r has a new secret or was revoked: tokens issued before "
                    "no longer count",
                    client_id,
                )
                return
        raise Conflict(f"bootstrap admin {client_id!r} kept changing meanwhile; start again")

    async def is_global_admin(self, client_id: str) -> bool:
        return await is_global_admin(self._users, client_id)

    async def authenticate(self, client_id: str, client_secret: str) -> Principal:
        """The client's principal, or Unauthenticated with one message for every failure:
        an unknown client costs the same argon2 verify as a wrong secret."""
        doc = await self._users.find_one({"client_id": client_id}) if client_id else None
        version = int(doc.get("secret_version", 0)) if doc else 0
        if doc is not None and await self._matches(doc.get("secret_hash"), client_secret):
            pass
        elif (
            doc is not None
            and self._in_grace(doc)
            and await self._matches(doc.get("previous_secret_hash"), client_secret)
        ):
            # The old secret, still in its grace period: so are the tokens it gets.
            version -= 1
        else:
            if doc is None:
                await self._matches(None, client_secret)
            raise Unauthenticated("invalid client credentials", reason="invalid_client")
        if doc.get("revoked_at") is not None:
            raise Unauthenticated("invalid client credentials", reason="invalid_client")
        return Principal(
            doc["client_id"], doc["tenant"], frozenset(doc["scopes"]), secret_version=version
        )

    async def _matches(self, stored: str | None, secret: str) -> bool:
        try:
            await self._verify(stored or self._dummy_hash, secret)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None

    @staticmethod
    def _in_grace(doc: Document) -> bool:
        until = doc.get("previous_secret_until")
        return until is not None and dt.datetime.now(dt.UTC) < until

    async def find(self, client_id: str) -> Document | None:
        return await self._users.find_one({"client_id": client_id}, PUBLIC_FIELDS)

    async def list_clients(self, tenant: str | None) -> list[ClientInfo]:
        """The clients of one tenant, or of all (None), oldest first."""
        query: Document = {} if tenant is None else {"tenant": tenant}
        cursor = self._users.find(query, PUBLIC_FIELDS).sort("created_at", 1).limit(MAX_LISTED)
        return [ClientInfo.from_doc(doc) async for doc in cursor]

    async def revoke(self, client_id: str) -> dt.datetime:
        """Revoke the client (once; again is a no-op) and return when it was revoked."""
        now = dt.datetime.now(dt.UTC)
        await self._users.update_one(
            {"client_id": client_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )
        doc = await self._users.find_one({"client_id": client_id}, {"revoked_at": 1})
        if doc is None or doc.get("revoked_at") is None:
            raise NotFound(f"client {client_id!r} not found")
        revoked_at: dt.datetime = doc["revoked_at"]
        return revoked_at

    async def rotate(self, client_id: str, grace_s: int) -> str:
        """A new secret for the client; the current one keeps working for grace_s seconds."""
        if not MIN_GRACE_S <= grace_s <= MAX_GRACE_S:
            raise InvalidArgument(f"grace_seconds: must be {MIN_GRACE_S}-{MAX_GRACE_S}")
        doc = await self._users.find_one({"client_id": client_id})
        if doc is None:
            raise NotFound(f"client {client_id!r} not found")
        if doc.get("revoked_at") is not None:
            # The request is fine; the client's state forbids it: 409, as for a conflict.
            raise Conflict(f"client {client_id!r} is revoked; create a new one")
        secret = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        version = int(doc.get("secret_version", 0))
        result = await self._users.update_one(
            # Only over the version read: two rotations at once must not both win.
            {"client_id": client_id, "secret_version": doc.get("secret_version")},
            {
                "$set": {
                    "secret_hash": await self._hash(secret),
                    "previous_secret_hash": doc["secret_hash"],
                    "previous_secret_until": now + dt.timedelta(seconds=grace_s),
                    "secret_version": version + 1,
                    "secret_rotated_at": now,
                }
            },
        )
        if result.matched_count == 0:
            raise Conflict(f"client {client_id!r} was changed meanwhile; try again")
        return secret
