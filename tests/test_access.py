"""Who may call what: every scope against every RPC (from the service descriptors, so a new
RPC fails here until its scope is pinned), on both transports; and BOLA, every read and
admin call tried with another tenant's ids."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import grpc
import httpx
import jwt
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor

from aegis.v1 import alerts_pb2, alerts_pb2_grpc, auth_pb2, auth_pb2_grpc
from collector.app.server import SERVICE_NAMES
from gateway.routes import annotated_routes
from tests.conftest import ApiClient, create_client, ingest, ml_event, read

# The scopes that open each RPC, pinned here rather than read from the collector: any one of
# them will do; None: no token needed.
REQUIRED: dict[str, frozenset[str] | None] = {
    "aegis.v1.AuthService/IssueToken": None,
    "aegis.v1.AuthService/CreateClient": frozenset({"admin"}),
    "aegis.v1.AuthService/ListClients": frozenset({"admin"}),
    "aegis.v1.AuthService/RevokeClient": frozenset({"admin"}),
    "aegis.v1.AuthService/RotateClientSecret": frozenset({"admin"}),
    "aegis.v1.AuthService/ListAuditLogs": frozenset({"admin"}),
    "aegis.v1.IngestService/IngestML": frozenset({"ingest"}),
    "aegis.v1.IngestService/IngestLLM": frozenset({"ingest"}),
    "aegis.v1.IngestService/IngestMLJson": frozenset({"ingest"}),
    "aegis.v1.IngestService/IngestLLMJson": frozenset({"ingest"}),
    "aegis.v1.IngestService/StreamEvents": frozenset({"ingest"}),
    "aegis.v1.DashboardService/Overview": frozenset({"read"}),
    "aegis.v1.DashboardService/MLMetrics": frozenset({"read"}),
    "aegis.v1.DashboardService/LLMMetrics": frozenset({"read"}),
    "aegis.v1.DashboardService/MLDrift": frozenset({"read"}),
    "aegis.v1.AlertService/CreateRule": frozenset({"alerts", "admin"}),
    "aegis.v1.AlertService/ListRules": frozenset({"read"}),
    "aegis.v1.AlertService/GetRule": frozenset({"read"}),
    "aegis.v1.AlertService/UpdateRule": frozenset({"alerts", "admin"}),
    "aegis.v1.AlertService/DeleteRule": frozenset({"alerts", "admin"}),
    "aegis.v1.AlertService/ListAlertEvents": frozenset({"read"}),
    "aegis.v1.PriceService/SetPrice": frozenset({"admin"}),
    "aegis.v1.PriceService/ListPrices": frozenset({"admin"}),
    "aegis.v1.PriceService/DeletePrice": frozenset({"admin"}),
    "opentelemetry.proto.collector.trace.v1.TraceService/Export": frozenset({"ingest"}),
    "aegis.v1.ExportService/ExportEvents": frozenset({"read"}),
    "aegis.v1.TailService/TailEvents": frozenset({"read"}),
    **{
        f"aegis.v1.ExploreService/{name}": frozenset({"read"})
        for name in (
            "ListEvents",
            "GetEvent",
            "GetTrace",
            "GetSession",
            "ListTraces",
            "ListSessions",
            "TopUsers",
        )
    },
}
SCOPES = ["ingest", "read", "alerts", "admin", "none"]


def _methods() -> list[MethodDescriptor]:
    pool = descriptor_pool.Default()
    return [m for name in SERVICE_NAMES for m in pool.FindServiceByName(name).methods]


def _key(method: MethodDescriptor) -> str:
    return f"{method.containing_service.full_name}/{method.name}"


METHODS = {_key(m): m for m in _methods()}


def test_every_rpc_has_its_scopes_pinned() -> None:
    assert set(METHODS) == set(REQUIRED), "pin the scopes of new RPCs in REQUIRED"


def _token_with(client: ApiClient, secret: str, scope: str) -> str:
    now = int(time.time())
    claims = {
        "sub": client.client_id,
        "tenant": client.tenant,
        "scopes": [] if scope == "none" else [scope],
        "iat": now,
        "exp": now + 600,
        "iss": "aegisai",
        "aud": "aegisai",
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
async def holder(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """An existing client whose id the single-scope tokens carry."""
    return await create_client(http, admin, f"scopes-{uuid.uuid4().hex[:10]}", ["read"])


def _allowed(key: str, scope: str) -> bool:
    required = REQUIRED[key]
    return required is None or scope in required


async def _grpc_code(
    channel: grpc.aio.Channel, method: MethodDescriptor, token: str
) -> tuple[grpc.StatusCode, str]:
    path = f"/{_key(method)}"
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    metadata = (("authorization", f"Bearer {token}"),)
    if method.client_streaming:
        call = channel.stream_stream(
            path,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )(metadata=metadata)
        await call.done_writing()
        return await call.code(), await call.details()
    if method.server_streaming:
        # A tail runs until cancelled: its first reply (or its refusal) is the answer.
        stream = channel.unary_stream(
            path,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )(request_cls(), metadata=metadata, timeout=30)
        try:
            await stream.read()
        except grpc.aio.AioRpcError as exc:
            return exc.code(), exc.details()
        finally:
            stream.cancel()
        return grpc.StatusCode.OK, ""
    try:
        await channel.unary_unary(
            path,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )(request_cls(), metadata=metadata, timeout=30)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("key", sorted(REQUIRED))
async def test_scope_matrix_over_grpc(
    channel: grpc.aio.Channel, holder: ApiClient, jwt_secret: str, key: str, scope: str
) -> None:
    token = _token_with(holder, jwt_secret, scope)
    code, details = await _grpc_code(channel, METHODS[key], token)
    # Allowed: whatever the empty request earns (e.g. INVALID_ARGUMENT), never a scope refusal.
    if _allowed(key, scope):
        assert code != grpc.StatusCode.UNAUTHENTICATED
        assert "scope" not in (details or ""), details
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED and "scope" in details


ROUTES = {f"{r.verb} {r.path}": r for r in annotated_routes()}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_scope_matrix_over_rest(
    http: httpx.AsyncClient, holder: ApiClient, jwt_secret: str, route: str, scope: str
) -> None:
    r = ROUTES[route]
    path = re.sub(r"{\w+}", "no-such-id", r.path)
    headers = {"Authorization": f"Bearer {_token_with(holder, jwt_secret, scope)}"}
    body = {} if r.body == "*" else None
    reply = await http.request(r.verb, path, json=body, headers=headers)
    if _allowed(_key(r.method), scope):
        assert reply.status_code != 401, reply.text
        if reply.status_code == 403:  # e.g. another tenant: never for want of a scope
            assert "scope" not in reply.json()["message"], reply.text
    else:
        assert reply.status_code == 403 and "scope" in reply.json()["message"], reply.text


# -- BOLA -----------------------------------------------------------------------------------

ALL_SCOPES = ["admin", "alerts", "ingest", "read"]


def _rule(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "spend",
        "metric": "cost",
        "comparison": "gt",
        "threshold": 5,
        "window_minutes": 5,
        "webhook_url": "https://93.184.216.34/hook",
        "webhook_secret": "s" * 20,
        **overrides,
    }


async def test_another_tenants_ids_get_nothing(
    http: httpx.AsyncClient, admin: ApiClient, channel: grpc.aio.Channel
) -> None:
    owner = await create_client(http, admin, f"owner-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    app = await create_client(http, admin, owner.tenant)
    await ingest(http, owner, "ml", [ml_event("secret-model", prediction_count=7)])
    rule = await http.post("/alerts/rules", json=_rule(), headers=owner.headers)
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    thief = await create_client(http, admin, f"thief-{uuid.uuid4().hex[:8]}", ALL_SCOPES)
    h = thief.headers

    # Reads: nothing of the owner's.
    for path in ("/dashboard/overview", "/dashboard/ml-metrics", "/dashboard/llm-metrics"):
        body = await read(http, thief, path)
        assert "secret-model" not in str(body)
    assert (await read(http, thief, "/dashboard/overview"))["total_ml_predictions"] == 0
    assert (await http.get(f"/alerts/rules/{rule_id}", headers=h)).status_code == 404
    assert rule_id not in (await http.get("/alerts/rules", headers=h)).text
    events = await http.get("/alerts/events", params={"rule_id": rule_id}, headers=h)
    assert events.status_code == 200 and events.json()["events"] == []
    listed = await http.get("/admin/clients", headers=h)
    assert owner.client_id not in listed.text and app.client_id not in listed.text
    audit = await http.get("/admin/audit-logs", headers=h)
    assert owner.client_id not in audit.text and app.client_id not in audit.text

    # Changes: refused as if the ids did not exist, and nothing changed.
    changed = await http.put(f"/alerts/rules/{rule_id}", json=_rule(threshold=1), headers=h)
    assert changed.status_code == 404
    assert (await http.delete(f"/alerts/rules/{rule_id}", headers=h)).status_code == 404
    assert (await http.delete(f"/admin/clients/{app.client_id}", headers=h)).status_code == 404
    rotate = await http.post(f"/admin/clients/{app.client_id}/rotate", json={}, headers=h)
    assert rotate.status_code == 404
    created = await http.post(
        "/admin/clients", json={"name": "x", "tenant": owner.tenant}, headers=h
    )
    assert created.status_code == 403

    # The same over gRPC.
    md = thief.metadata
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    for coro in (
        alerts_pb2_grpc.AlertServiceStub(channel).GetRule(
            alerts_pb2.GetRuleRequest(id=rule_id), metadata=md
        ),
        stub.RevokeClient(auth_pb2.RevokeClientRequest(clientId=app.client_id), metadata=md),
        stub.RotateClientSecret(
            auth_pb2.RotateClientSecretRequest(clientId=app.client_id), metadata=md
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await coro
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

    # The owner's things are intact.
    kept = await http.get(f"/alerts/rules/{rule_id}", headers=owner.headers)
    assert kept.status_code == 200 and kept.json()["threshold"] == 5
    token = await http.post(
        "/auth/token", json={"clientId": app.client_id, "clientSecret": app.client_secret}
    )
    assert token.status_code == 200
