"""The AuthService RPCs as plain calls: tokens for client credentials (RFC 6749's client
credentials grant, with its error codes), and the admin operations on clients. Every one of
them leaves an audit record; none records a secret or a token."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from collector.audit import Auditor
from collector.client_status import ClientStatusCache
from collector.clients import ClientInfo, ClientRegistry, NewClient, client_spec
from collector.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from collector.ratelimit import RateLimiter
from collector.tokens import Principal, TokenService

# A client id that matches no client is recorded as this, with a fingerprint in the details:
# what was typed there may be a secret pasted into the wrong field.
UNKNOWN_CLIENT = "unknown"
MAX_KEY = 128


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


def _required(field: str, value: str) -> None:
    if not value:
        raise InvalidArgument(f"{field}: required", reason="invalid_request")


class AuthService:
    def __init__(
        self,
        clients: ClientRegistry,
        tokens: TokenService,
        status: ClientStatusCache,
        audit: Auditor,
        failed_logins: RateLimiter,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._status = status
        self._audit = audit
        self._failed_logins = failed_logins

    async def issue_token(self, client_id: str, client_secret: str) -> IssuedToken:
        _required("clientId", client_id)
        _required("clientSecret", client_secret)
        key = client_id[:MAX_KEY]  # no client id is longer; bounds the limiter's memory
        try:
            # Reserved before the verify, so concurrent guesses cannot overrun the limit;
            # past it even the right secret is refused unchecked: AUTH_ATTEMPTS_PER_MIN
            # guesses per client id and minute.
            self._failed_logins.take(key)
        except ResourceExhausted as exc:
            if self._failed_logins.should_audit(key):
                await self._record_refusal(client_id, "auth_rate_limited")
            raise ResourceExhausted(
                "too many failed token requests for this client id; retry after "
                f"{exc.retry_after or 0:.0f} s",
                retry_after=exc.retry_after,
                reason="slow_down",
            ) from None
        try:
            principal = await self._clients.authenticate(client_id, client_secret)
        except Unauthenticated:
            await self._record_refusal(client_id, "token_refused")
            raise
        except BaseException:
            self._failed_logins.refund(key)  # not a failed attempt: e.g. no database
            raise
        self._failed_logins.refund(key)
        token = self._tokens.issue(principal)
        await self._audit.record(
            "auth",
            principal.tenant,
            principal.client_id,
            "token_issued",
            {"scopes": sorted(principal.scopes), "secret_version": principal.secret_version},
        )
        return IssuedToken(token, self._tokens.lifetime_s)

    async def _record_refusal(self, client_id: str, action: str) -> None:
        found = await self._clients.find(client_id)
        if found is not None:
            await self._audit.record("auth", found["tenant"], client_id, action, {})
            return
        fingerprint = hashlib.sha256(client_id.encode()).hexdigest()[:16]
        await self._audit.record(
            "auth", None, UNKNOWN_CLIENT, action, {"client_id_sha256_prefix": fingerprint}
        )

    async def _is_global_admin(self, caller: Principal) -> bool:
        return await self._clients.is_global_admin(caller.client_id)

    async def create_client(
        self, caller: Principal, *, name: str, tenant: str, scopes: list[str]
    ) -> NewClient:
        """Create a client on behalf of an admin: tenant admins only within their tenant."""
        if tenant != caller.tenant and not await self._is_global_admin(caller):
            raise PermissionDenied("an admin may create clients only in its own tenant")
        created = await self._clients.create(client_spec(name, tenant, scopes))
        await self._audit.record(
            "admin",
            created.tenant,
            caller.client_id,
            "client_created",
            {"new_client_id": created.client_id, "scopes": list(created.scopes)},
            actor_tenant=caller.tenant,
        )
        return created

    async def list_clients(self, caller: Principal) -> list[ClientInfo]:
        tenant = None if await self._is_global_admin(caller) else caller.tenant
        return await self._clients.list_clients(tenant)

    async def _managed(self, caller: Principal, client_id: str) -> str:
        """The tenant of a client the caller may manage. Another tenant's client is
        NOT_FOUND, as if it did not exist; only a global admin manages a global admin."""
        found = await self._clients.find(client_id) if client_id else None
        if await self._is_global_admin(caller):
            if found is None:
                raise NotFound(f"client {client_id!r} not found")
            return str(found["tenant"])
        if found is None or found["tenant"] != caller.tenant:
            raise NotFound(f"client {client_id!r} not found")
        if found.get("global_admin"):
            raise PermissionDenied("only a global admin may manage a global admin")
        return str(found["tenant"])

    async def revoke_client(self, caller: Principal, client_id: str) -> dt.datetime:
        tenant = await self._managed(caller, client_id)
        revoked_at = await self._clients.revoke(client_id)
        self._status.forget(client_id)
        await self._audit.record(
            "admin",
            tenant,
            caller.client_id,
            "client_revoked",
            {"target_client_id": client_id},
            actor_tenant=caller.tenant,
        )
        return revoked_at

    async def rotate_secret(self, caller: Principal, client_id: str, grace_s: int) -> str:
        tenant = await self._managed(caller, client_id)
        secret = await self._clients.rotate(client_id, grace_s)
        self._status.forget(client_id)
        await self._audit.record(
            "admin",
            tenant,
            caller.client_id,
            "client_rotated",
            {"target_client_id": client_id, "grace_seconds": grace_s},
            actor_tenant=caller.tenant,
        )
        return secret
