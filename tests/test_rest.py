"""The seed's REST contract, with the seed README's example bodies verbatim."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import jwt
import pytest

from tests.conftest import SEED_LLM_BODY, SEED_ML_BODY, ApiClient, assert_error, read
from tests.procs import ADMIN_ID, ADMIN_SECRET, Stack, start_gateway

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
    # The seed's three fields, and the granted scopes (RFC 6749 section 5.1).
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "admin alerts ingest read"
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


# -- CORS ---------------------------------------------------------------------------------------

ALLOWED_ORIGIN = "https://dashboard.example"
SECOND_ORIGIN = "https://second.example"
OTHER_ORIGIN = "https://elsewhere.example"


@pytest.fixture(scope="module")
def cors_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second gateway in front of the shared collector, with CORS_ORIGINS set."""
    log = tmp_path_factory.mktemp("cors") / "gateway.log"
    origins = f"{ALLOWED_ORIGIN}, {SECOND_ORIGIN}"
    child, port = start_gateway(stack.grpc_target, log, CORS_ORIGINS=origins)
    yield f"http://127.0.0.1:{port}"
    child.stop()


def preflight(base_url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{base_url}/ingest/ml",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=30,
    )


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, SECOND_ORIGIN])
def test_cors_preflight_allows_a_configured_origin(cors_gateway: str, origin: str) -> None:
    reply = preflight(cors_gateway, origin)
    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] == origin
    assert "POST" in reply.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


def test_cors_preflight_refuses_other_origins(cors_gateway: str, stack: Stack) -> None:
    refused = preflight(cors_gateway, OTHER_ORIGIN)
    assert refused.status_code >= 400
    assert "access-control-allow-origin" not in refused.headers
    # Without CORS_ORIGINS (the shared stack's gateway) no origin is allowed at all.
    unset = preflight(stack.http, ALLOWED_ORIGIN)
    assert "access-control-allow-origin" not in unset.headers


def test_cors_headers_on_responses_only_for_configured_origins(
    cors_gateway: str, admin: ApiClient
) -> None:
    with httpx.Client(base_url=cors_gateway, headers=admin.headers, timeout=30) as http:
        allowed = http.get("/dashboard/overview", headers={"Origin": ALLOWED_ORIGIN})
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "origin" in allowed.headers["vary"].lower()
        # The server answers either way; the browser withholds it without the header.
        other = http.get("/dashboard/overview", headers={"Origin": OTHER_ORIGIN})
        assert other.status_code == 200, other.text
        assert "access-control-allow-origin" not in other.headers
        # Errors are readable by the allowed page too (e.g. to see a 401 and log in again).
        denied = http.get(
            "/dashboard/overview", headers={"Origin": ALLOWED_ORIGIN, "Authorization": "Bearer x"}
        )
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
