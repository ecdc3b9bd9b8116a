"""AuthService: protobuf in → plain auth call → protobuf out, and its conversions."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc
from aegis_shared.caller_address import CallerAddresses
from collector.api.interceptor import current_principal
from collector.api.proto_values import struct, timestamp
from collector.auth.audit import AuditEntry, Auditor
from collector.auth.clients import ClientInfo, NewClient
from collector.auth.service import AuthService, TokenRequest
from collector.dates import parse_range

Context: TypeAlias = grpc.aio.ServicerContext


def create_client_response(client: NewClient) -> auth_pb2.CreateClientResponse:
    return auth_pb2.CreateClientResponse(
        clientId=client.client_id,
        clientSecret=client.client_secret,
        tenant=client.tenant,
        name=client.name,
        scopes=list(client.scopes),
    )


def client_info(client: ClientInfo) -> auth_pb2.ClientInfo:
    info = auth_pb2.ClientInfo(
        clientId=client.client_id,
        name=client.name,
        tenant=client.tenant,
        scopes=list(client.scopes),
        global_admin=client.global_admin,
    )
    for field, moment in (
        ("created_at", client.created_at),
        ("revoked_at", client.revoked_at),
        ("secret_rotated_at", client.secret_rotated_at),
    ):
        if moment is not None:
            getattr(info, field).CopyFrom(timestamp(moment))
    return info


def audit_entry(entry: AuditEntry) -> auth_pb2.AuditLogEntry:
    return auth_pb2.AuditLogEntry(
        event_type=entry.event_type,
        client_id=entry.client_id,
        action=entry.action,
        timestamp=timestamp(entry.timestamp),
        details=struct(entry.details),
        tenant=entry.tenant,
        actor_tenant=entry.actor_tenant,
    )


# RFC 7591's names of the token endpoint's client authentication methods.
AUTH_METHODS = {
    auth_pb2.IssueTokenRequest.AUTH_METHOD_UNSPECIFIED: "",
    auth_pb2.IssueTokenRequest.AUTH_METHOD_CLIENT_SECRET_BASIC: "client_secret_basic",
    auth_pb2.IssueTokenRequest.AUTH_METHOD_CLIENT_SECRET_POST: "client_secret_post",
}


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthService, audit: Auditor, addresses: CallerAddresses) -> None:
        self._auth = auth
        self._audit = audit
        self._addresses = addresses

    async def IssueToken(
        self, request: auth_pb2.IssueTokenRequest, context: Context
    ) -> auth_pb2.IssueTokenResponse:
        token_request = TokenRequest(
            request.clientId,
            request.clientSecret,
            grant_type=request.grant_type,
            scope=request.scope,
            auth_method=AUTH_METHODS.get(request.auth_method, ""),
        )
        issued = await self._auth.issue_token(token_request, self._addresses.of(context))
        return auth_pb2.IssueTokenResponse(
            access_token=issued.access_token,
            token_type="bearer",
            expires_in=issued.expires_in,
            scope=" ".join(issued.scopes),
        )

    async def CreateClient(
        self, request: auth_pb2.CreateClientRequest, context: Context
    ) -> auth_pb2.CreateClientResponse:
        created = await self._auth.create_client(
            current_principal(),
            name=request.name,
            tenant=request.tenant,
            scopes=list(request.scopes),
        )
        return create_client_response(created)

    async def ListClients(
        self, request: auth_pb2.ListClientsRequest, context: Context
    ) -> auth_pb2.ListClientsResponse:
        clients = await self._auth.list_clients(current_principal())
        return auth_pb2.ListClientsResponse(clients=[client_info(c) for c in clients])

    async def RevokeClient(
        self, request: auth_pb2.RevokeClientRequest, context: Context
    ) -> auth_pb2.RevokeClientResponse:
        revoked_at = await self._auth.revoke_client(current_principal(), request.clientId)
        reply = auth_pb2.RevokeClientResponse(clientId=request.clientId)
        reply.revoked_at.FromDatetime(revoked_at)
        return reply

    async def RotateClientSecret(
        self, request: auth_pb2.RotateClientSecretRequest, context: Context
    ) -> auth_pb2.RotateClientSecretResponse:
        secret = await self._auth.rotate_secret(
            current_principal(), request.clientId, request.grace_seconds
        )
        return auth_pb2.RotateClientSecretResponse(clientId=request.clientId, clientSecret=secret)

    async def ListAuditLogs(
        self, request: auth_pb2.ListAuditLogsRequest, context: Context
    ) -> auth_pb2.ListAuditLogsResponse:
        dates = parse_range(request.start_date, request.end_date)
        entries = await self._audit.list_for(current_principal(), dates)
        return auth_pb2.ListAuditLogsResponse(entries=[audit_entry(e) for e in entries])
