"""Tenant isolation, and who may create API clients in which tenant."""

from __future__ import annotations

import uuid

import grpc
import httpx
import jwt
import pytest

from aegis.v1 import auth_pb2, dashboard_pb2
from tests.conftest import (
    ApiClient,
    Stubs,
    assert_error,
    create_client,
    ingest,
    issue_token,
    llm_event,
    ml_event,
    read,
    rpc_error,
)

DASHBOARDS = ("/dashboard/overview", "/dashboard/ml-metrics", "/dashboard/llm-metrics")


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def _post_client(
    http: httpx.AsyncClient, caller: ApiClient, **body: object
) -> httpx.Response:
    return await http.post("/admin/clients", json={"name": "new", **body}, headers=caller.headers)


async def test_a_tenant_sees_none_of_another_tenants_events(
    http: httpx.AsyncClient, stubs: Stubs, admin: ApiClient, tenant_client: ApiClient
) -> None:
    await ingest(http, tenant_client, "ml", [ml_event("secret-model", prediction_count=9)])
    await ingest(http, tenant_client, "llm", [llm_event("secret-llm", tokens_used=5, cost=2.0)])
    other = await create_client(http, admin, new_tenant())

    overview = await read(http, other, "/dashboard/overview")
    assert overview == {
        "total_ml_predictions": 0,
        "total_llm_requests": 0,
        "active_models": 0,
        "total_cost": 0.0,
        "recent_events": [],
        "total_errors": 0,
    }
    ml = await read(http, other, "/dashboard/ml-metrics")
    assert (ml["total_events"], ml["total_predictions"], ml["models"]) == (0, 0, [])
    llm = await read(http, other, "/dashboard/llm-metrics")
    assert (llm["total_requests"], llm["total_tokens"], llm["models"]) == (0, 0, [])

    md = other.metadata
    over_grpc = await stubs.dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=md)
    assert over_grpc == dashboard_pb2.OverviewResponse()
    everything = dashboard_pb2.MetricsRequest()
    assert await stubs.dashboard.MLMetrics(everything, metadata=md) == (
        dashboard_pb2.MLMetricsResponse()
    )
    assert await stubs.dashboard.LLMMetrics(everything, metadata=md) == (
        dashboard_pb2.LLMMetricsResponse()
    )

    # The owner still sees its own data.
    mine = await read(http, tenant_client, "/dashboard/overview")
    assert (mine["total_ml_predictions"], mine["total_llm_requests"]) == (9, 1)


async def test_the_same_event_id_in_two_tenants_is_two_events(
    http: httpx.AsyncClient, admin: ApiClient, tenant_client: ApiClient
) -> None:
    other = await create_client(http, admin, new_tenant())
    event = ml_event("shared", event_id="same-id", prediction_count=3)
    assert (await ingest(http, tenant_client, "ml", [event]))["accepted"] == 1
    assert (await ingest(http, other, "ml", [event]))["accepted"] == 1
    for client in (tenant_client, other):
        assert (await read(http, client, "/dashboard/overview"))["total_ml_predictions"] == 3


async def test_the_body_cannot_choose_the_tenant(
    http: httpx.AsyncClient, admin: ApiClient, tenant_client: ApiClient
) -> None:
    victim = await create_client(http, admin, new_tenant())
    event = ml_event(tenant=victim.tenant)
    # An event naming a tenant is refused on its own, like any event with an unknown field.
    refused = await ingest(http, tenant_client, "ml", [event])
    assert (refused["rejected"], refused["errors"][0]["field"]) == (1, "tenant")
    reply = await http.post(
        "/ingest/ml", json={"events": [], "tenant": victim.tenant}, headers=tenant_client.headers
    )
    assert "tenant" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    smuggled = ml_event(metadata={"tenant": victim.tenant})
    assert (await ingest(http, tenant_client, "ml", [smuggled]))["accepted"] == 1
    assert (await read(http, victim, "/dashboard/overview"))["total_ml_predictions"] == 0
    assert (await read(http, tenant_client, "/dashboard/overview"))["total_ml_predictions"] == 1


async def test_create_client_returns_credentials_that_work(
    http: httpx.AsyncClient, admin: ApiClient, jwt_secret: str
) -> None:
    tenant = new_tenant()
    reply = await _post_client(http, admin, tenant=tenant)
    assert reply.status_code == 200, reply.text
    created = reply.json()
    assert {"clientId", "clientSecret", "tenant"} <= set(created)
    assert created["tenant"] == tenant
    assert sorted(created["scopes"]) == ["ingest", "read"]
    assert reply.headers["cache-control"] == "no-store"
    token = await issue_token(http, created["clientId"], created["clientSecret"])
    claims = jwt.decode(token, jwt_secret, algorithms=["HS256"], audience="aegisai")
    assert (claims["sub"], claims["tenant"]) == (created["clientId"], tenant)
    assert sorted(claims["scopes"]) == ["ingest", "read"]


async def test_global_admin_creates_clients_in_any_tenant(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    for tenant in (new_tenant(), new_tenant(), "default"):
        reply = await _post_client(http, admin, tenant=tenant, scopes=["read"])
        assert reply.status_code == 200, reply.text
        assert (reply.json()["tenant"], reply.json()["scopes"]) == (tenant, ["read"])


async def test_tenant_admin_creates_clients_only_in_its_tenant(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    tenant = new_tenant()
    tenant_admin = await create_client(http, admin, tenant, ["admin", "read"])
    own = await _post_client(http, tenant_admin, tenant=tenant, scopes=["ingest"])
    assert own.status_code == 200, own.text
    assert own.json()["tenant"] == tenant
    for elsewhere in (new_tenant(), "default"):
        reply = await _post_client(http, tenant_admin, tenant=elsewhere)
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)


@pytest.mark.parametrize("scopes", [["ingest", "read"], ["read"], ["ingest"]])
async def test_non_admin_cannot_create_clients(
    http: httpx.AsyncClient, stubs: Stubs, admin: ApiClient, scopes: list[str]
) -> None:
    tenant = new_tenant()
    caller = await create_client(http, admin, tenant, scopes)
    for target in (tenant, new_tenant()):
        reply = await _post_client(http, caller, tenant=target)
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    request = auth_pb2.CreateClientRequest(name="new", tenant=tenant)
    error = await rpc_error(stubs.auth.CreateClient(request, metadata=caller.metadata))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_create_client_needs_a_token(http: httpx.AsyncClient) -> None:
    reply = await http.post("/admin/clients", json={"name": "new", "tenant": new_tenant()})
    assert_error(reply, 401, grpc.StatusCode.UNAUTHENTICATED)


async def test_unknown_scope_is_400(http: httpx.AsyncClient, admin: ApiClient) -> None:
    reply = await _post_client(http, admin, tenant=new_tenant(), scopes=["read", "superuser"])
    assert "superuser" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
