"""The AuthService RPCs as plain calls: tokens for client credentials (RFC 6749's client
credentials grant, with its error codes), and the admin operations on clients. Every one of
them leaves an audit record; none records a secret or a token.

Every check of a client secret, for a token or as HTTP Basic credentials (collector.auth.basic),
goes through `authenticate`: it counts failures against the sign-in limits
(collector.auth.ratelimit.LoginLimits, per client id and source address) and audits refusals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass

from collector.auth.audit import Auditor
from collector.auth.bearer import TokenService
from collector.auth.client_status import ClientStatusCache
from collector.auth.clients import SCOPES, ClientInfo, ClientRegistry, NewClient, client_spec
from collector.auth.ratelimit import LoginLimits
from collector.domain import Principal
from collector.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from collector.store.storage import Document

# A client id that matches no client is recorded as this, with a fingerprint in the details:
# what was typed there may be a secret pasted into the wrong field.
UNKNOWN_CLIENT = "unknown"
GRANT_TYPE = "client_credentials"  # RFC 6749 section 4.4, the only grant there is


@dataclass(frozen=True)
class TokenRequest:
    client_id: str
    client_secret: str
    grant_type: str = ""  # "" means client_credentials, except in a form
    scope: str = ""  # space-separated; "" means all the client's scopes
    # How the credentials came, by RFC 7591's names: "client_secret_basic" or
    # "client_secret_post" for an OAuth 2.0 form request, "" for the request's own fields.
    auth_method: str = ""

    @property
    def form(self) -> bool:
        return bool(self.auth_method)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds
    scopes: tuple[str, ...]  # granted


def _required(field: str, value: str) -> None:
    if not value:
        raise InvalidArgument(f"{field}: required", reason="invalid_request")


def check_grant(request: TokenRequest) -> None:
    if not request.grant_type:
        if request.form:  # RFC 6749 section 4.4.2: REQUIRED
            raise InvalidArgument("grant_type: required", reason="invalid_request")
        return
    if request.grant_type != GRANT_TYPE:
        raise InvalidArgument(
            f"grant_type: {request.grant_type[:64]!r} is not supported; "
            f"the only grant is {GRANT_TYPE!r}",
            reason="unsupported_grant_type",
        )


def requested_scopes(scope: str) -> frozenset[str]:
    """RFC 6749 section 3.3: scope names separated by single spaces; empty: none asked for."""
    if not scope:
        return frozenset()
    names = scope.split(" ")
    if "" in names:
        raise InvalidArgument(
            f"scope: {scope[:64]!r} is malformed; separate scopes by single spaces, "
            "e.g. 'ingest read'",
            reason="invalid_scope",
        )
    unknown = sorted(set(names) - SCOPES)
    if unknown:
        raise InvalidArgument(
            f"scope: unknown scope(s) {[u[:32] for u in unknown[:8]]}; known: {sorted(SCOPES)}",
            reason="invalid_scope",
        )
    return frozenset(names)


class AuthService:
    def __init__(
        self,
        clients: ClientRegistry,
        tokens: TokenService,
        status: ClientStatusCache,
        audit: Auditor,
        failed_logins: LoginLimits,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._status = status
        self._audit = audit
        self._failed_logins = failed_logins

    async def issue_token(self, request: TokenRequest, source: str) -> IssuedToken:
        """A token for a client's credentials, from `source` (aegis_shared.caller_address)."""
        check_grant(request)
        requested = requested_scopes(request.scope)
        if request.form and not (request.client_id and request.client_secret):
            # RFC 6749 section 5.2: no client authentication is invalid_client.
            raise Unauthenticated(
                "no client credentials: send them as HTTP Basic, or as client_id and "
                "client_secret in the form",
                reason="invalid_client",
            )
        _required("clientId", request.client_id)
        _required("clientSecret", request.client_secret)
        details: Document = {"source": source}
        if request.form:
            details["auth_method"] = request.auth_method
        principal = await self.authenticate(
            request.client_id, request.client_secret, source, "token_refused", details
        )
        if missing := requested - principal.scopes:
            await self._record_refusal(
                request.client_id, "token_refused", {**details, "error": "invalid_scope"}
            )
            raise InvalidArgument(
                f"scope: this client has no {' '.join(sorted(missing))} scope; it has "
                f"{' '.join(sorted(principal.scopes))}",
                reason="invalid_scope",
            )
        principal = dataclasses.replace(principal, scopes=requested or principal.scopes)
        token = self._tokens.issue(principal)
        await self._audit.record(
            "auth",
            principal.tenant,
            principal.client_id,
            "token_issued",
            {"scopes": sorted(principal.scopes), "secret_version": principal.secret_version},
        )
        return IssuedToken(token, self._tokens.lifetime_s, tuple(sorted(principal.scopes)))

    async def authenticate(
        self, client_id: str, client_secret: str, source: str, refused: str, details: Document
    ) -> Principal:
        """The client's principal, or Unauthenticated (audited as `refused`), or
        ResourceExhausted once the source has failed too often (collector.auth.ratelimit)."""
        try:
            attempt = self._failed_logins.reserve(client_id, source)
        except ResourceExhausted:
            if self._failed_logins.should_audit(client_id, source):
                await self._record_refusal(client_id, "auth_rate_limited", details)
            raise
        try:
            principal = await self._clients.authenticate(client_id, client_secret)
        except Unauthenticated:
            await self._record_refusal(client_id, refused, details)
            raise
        except BaseException:
            self._failed_logins.void(attempt)  # not a failed attempt: e.g. no database
            raise
        self._failed_logins.succeeded(attempt)
        return principal

    async def authenticate_basic(
        self, client_id: str, client_secret: str, source: str
    ) -> Principal:
        """HTTP Basic credentials of an exporter (collector.auth.basic): the same limits, and
        audited like a refused token request."""
        return await self.authenticate(
            client_id, client_secret, source, "basic_auth_refused", {"source": source}
        )

    async def _record_refusal(self, client_id: str, action: str, details: Document) -> None:
        found = await self._clients.find(client_id)
        if found is not None:
            await self._audit.record("auth", found["tenant"], client_id, action, dict(details))
            return
        fingerprint = hashlib.sha256(client_id.encode()).hexdigest()[:16]
        await self._audit.record(
            "auth",
            None,
            UNKNOWN_CLIENT,
            action,
            {**details, "client_id_sha256_prefix": fingerprint},
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
