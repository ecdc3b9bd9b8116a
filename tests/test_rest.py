"""The seed's REST contract, with the seed README's example bodies verbatim."""

from __future__ import annotations

import grpc
import httpx
import jwt
import pytest

from tests.conftest import SEED_LLM_BODY, SEED_ML_BODY, ApiClient, assert_error, read
from tests.procs import ADMIN_ID, ADMIN_SECRET

SEED_RANGE = {"start_date": "2024-01-01", "end_date": "2024-01-31"}


async def test_health_is_ok(http: httpx.AsyncClient) -> None:
    reply = await http.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_api_docs_are_served(http: httpx.AsyncClient, path: str) -> None:
    reply = await http.get(path)
    assert reply.status_code == 200
    assert "text/html" in reply.headers["content-type"]


async def test_openapi_lists_the_seed_routes(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert {"/auth/token", "/ingest/ml", "/ingest/llm", "/dashboard/overview"} <= set(paths)
    assert {"/dashboard/ml-metrics", "/dashboard/llm-metrics"} <= set(paths)


async def test_token_endpoint_issues_a_bearer_jwt(http: httpx.AsyncClient, jwt_secret: str) -> None:
    reply = await http.post(
        "/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token, jwt_secret, algorithms=["HS256"], audience="aegisai", issuer="aegisai"
    )
    assert {"sub", "tenant", "scopes", "iat", "exp", "iss", "aud", "jti"} <= set(claims)
    assert claims["sub"] == ADMIN_ID
    assert claims["tenant"] == "default"
    assert sorted(claims["scopes"]) == ["admin", "alerts", "ingest", "read"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]


async def test_tokens_have_unique_ids(http: httpx.AsyncClient, jwt_secret: str) -> None:
    creds = {"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
    tokens = [(await http.post("/auth/token", json=creds)).json()["access_token"] for _ in "ab"]
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 2


async def test_seed_flow(http: httpx.AsyncClient, tenant_client: ApiClient) -> None:
    """Ingest the seed's ML and LLM examples, then read them back from every dashboard."""
    for path, body in (("/ingest/ml", SEED_ML_BODY), ("/ingest/llm", SEED_LLM_BODY)):
        reply = await http.post(path, json=body, headers=tenant_client.headers)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"accepted": 1, "rejected": 0, "duplicates": 0, "errors": []}

    overview = await read(http, tenant_client, "/dashboard/overview")
    assert overview["total_ml_predictions"] == 100
    assert overview["total_llm_requests"] == 1
    assert overview["active_models"] == 2
    assert overview["total_cost"] == pytest.approx(0.001)
    recent = {e["kind"]: e for e in overview["recent_events"]}
    assert set(recent) == {"ml", "llm"}
    assert recent["ml"]["model"] == "model_hash_123"
    assert recent["ml"]["timestamp"] == "2024-01-01T12:00:00Z"
    assert recent["ml"]["data"]["metadata"] == {"n_estimators": 100}
    assert recent["ml"]["data"]["input_shape"] == [100, 10]
    assert recent["llm"]["model"] == "gemini-2.0-flash"
    assert recent["llm"]["data"]["metadata"] == {"temperature": 0.7}
    assert "tenant" not in recent["llm"]["data"]

    ml = await read(http, tenant_client, "/dashboard/ml-metrics", **SEED_RANGE)
    assert ml["total_events"] == 1
    assert ml["total_predictions"] == 100
    [model] = ml["models"]
    assert model["model_id"] == "model_hash_123"
    assert model["model_type"] == "RandomForestClassifier"
    assert (model["events"], model["predictions"]) == (1, 100)
    assert model["first_seen"] == model["last_seen"] == "2024-01-01T12:00:00Z"

    llm = await read(http, tenant_client, "/dashboard/llm-metrics", **SEED_RANGE)
    assert llm["total_requests"] == 1
    assert llm["total_tokens"] == 250
    assert llm["total_cost"] == pytest.approx(0.001)
    [model] = llm["models"]
    assert model["model_name"] == "gemini-2.0-flash"
    assert (model["requests"], model["tokens"]) == (1, 250)
    assert model["avg_prompt_length"] == pytest.approx(50)
    assert model["avg_response_length"] == pytest.approx(200)


async def test_retried_batch_is_not_counted_twice(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    events = [dict(SEED_ML_BODY["events"][0], event_id=f"retry-{i}") for i in range(3)]
    body = {"events": events}
    first = await http.post("/ingest/ml", json=body, headers=tenant_client.headers)
    again = await http.post("/ingest/ml", json=body, headers=tenant_client.headers)
    assert (first.json()["accepted"], first.json()["duplicates"]) == (3, 0)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
    overview = await read(http, tenant_client, "/dashboard/overview")
    assert overview["total_ml_predictions"] == 300


async def test_unknown_paths_and_methods_use_the_error_shape(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/no/such/path"), 404, grpc.StatusCode.NOT_FOUND)
    assert_error(await http.get("/ingest/ml"), 405, grpc.StatusCode.UNIMPLEMENTED)
