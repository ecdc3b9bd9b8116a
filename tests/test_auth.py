"""Authentication and scopes: forged, expired and malformed tokens; credentials; read-only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pymongo import MongoClient

from aegis.v1 import dashboard_pb2, events_pb2, ingest_pb2
from tests.conftest import (
    ApiClient,
    Stubs,
    assert_error,
    create_client,
    ml_event,
    read,
    rpc_error,
)
from tests.procs import Stack, stack_mongodb_url

REST_CALLS = [("GET", "/dashboard/overview"), ("POST", "/ingest/ml")]


def claims_for(client: ApiClient, **overrides: Any) -> dict[str, Any]:
    """A complete, valid claim set for `client`, as the collector itself would issue it."""
    now = int(time.time())
    claims = {
        "sub": client.client_id,
        "tenant": client.tenant,
        "scopes": ["ingest", "read"],
        "iat": now,
        "exp": now + 300,
        "iss": "aegisai",
        "aud": "aegisai",
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def _without(claim: str) -> Callable[[ApiClient, str], str]:
    def mint(client: ApiClient, secret: str) -> str:
        claims = claims_for(client)
        del claims[claim]
        return jwt.encode(claims, secret, algorithm="HS256")

    return mint


def _expired(client: ApiClient, secret: str) -> str:
    now = int(time.time())
    return jwt.encode(claims_for(client, iat=now - 7200, exp=now - 3600), secret, "HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    """HS256 signed with any key, even a PEM public key (PyJWT itself refuses to)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_RSA_PUBLIC_PEM = _RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _tampered(client: ApiClient, secret: str) -> str:
    """A genuine token whose payload is then changed (another tenant), signature kept."""
    header, _, signature = jwt.encode(claims_for(client), secret, "HS256").split(".")
    forged = _b64(json.dumps(claims_for(client, tenant="someone-else")).encode())
    return f"{header}.{forged}.{signature}"


# Each forges a token that must be refused; the secret is the stack's real one.
BAD_TOKENS: dict[str, Callable[[ApiClient, str], str]] = {
    "garbage": lambda client, secret: "not-a-jwt",
    "expired": _expired,
    "wrong-signature": lambda client, secret: jwt.encode(
        claims_for(client), "another-secret-" + "y" * 40, algorithm="HS256"
    ),
    "alg-none": lambda client, secret: jwt.encode(claims_for(client), None, algorithm="none"),
    "other-hmac-alg": lambda client, secret: jwt.encode(
        claims_for(client), secret, algorithm="HS512"
    ),
    "wrong-audience": lambda client, secret: jwt.encode(
        claims_for(client, aud="someone-else"), secret, algorithm="HS256"
    ),
    "wrong-issuer": lambda client, secret: jwt.encode(
        claims_for(client, iss="someone-else"), secret, algorithm="HS256"
    ),
    "scopes-not-a-list": lambda client, secret: jwt.encode(
        claims_for(client, scopes="ingest read"), secret, algorithm="HS256"
    ),
    # Key confusion: an RS256 token of the attacker's own key, and HS256 "signed" with a
    # public key as if the server verified RS256 with it.
    "rs256-own-key": lambda client, secret: jwt.encode(
        claims_for(client), _RSA_KEY, algorithm="RS256"
    ),
    "hs256-public-key-as-secret": lambda client, secret: _hs256_by_hand(
        claims_for(client), _RSA_PUBLIC_PEM
    ),
    "tampered-payload": _tampered,
    "sv-not-an-int": lambda client, secret: jwt.encode(
        claims_for(client, sv="0"), secret, algorithm="HS256"
    ),
    "unknown-client": lambda client, secret: jwt.encode(
        claims_for(client, sub=f"nobody-{uuid.uuid4().hex}"), secret, algorithm="HS256"
    ),
    **{
        f"no-{claim}": _without(claim)
        for claim in ("sub", "tenant", "scopes", "iat", "exp", "iss", "aud", "jti")
    },
}


@pytest.fixture(scope="module")
async def victim(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """A client whose identity the forged tokens borrow; its tenant never receives data."""
    return await create_client(http, admin, f"victim-{uuid.uuid4().hex[:12]}")


def _auth_header(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


async def _call(
    http: httpx.AsyncClient, verb: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    body = {"events": [ml_event()]} if verb == "POST" else None
    return await http.request(verb, path, json=body, headers=headers)


async def test_forged_valid_token_is_accepted(
    http: httpx.AsyncClient, victim: ApiClient, jwt_secret: str
) -> None:
    """The control for the cases below: a correct claim set signed with the secret works."""
    token = jwt.encode(claims_for(victim), jwt_secret, algorithm="HS256")
    reply = await http.get("/dashboard/overview", headers=_auth_header(token))
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(("verb", "path"), REST_CALLS)
async def test_missing_token_is_401(http: httpx.AsyncClient, verb: str, path: str) -> None:
    reply = await _call(http, verb, path, {})
    assert_error(reply, 401, grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize("scheme", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
async def test_non_bearer_authorization_is_401(http: httpx.AsyncClient, scheme: str) -> None:
    reply = await http.get("/dashboard/overview", headers={"Authorization": scheme})
    assert_error(reply, 401, grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_bad_token_reads_nothing_over_rest(
    http: httpx.AsyncClient, victim: ApiClient, jwt_secret: str, case: str
) -> None:
    token = BAD_TOKENS[case](victim, jwt_secret)
    reply = await http.get("/dashboard/overview", headers=_auth_header(token))
    # Exactly the error shape: no dashboard field comes back with it.
    assert_error(reply, 401, grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_bad_token_stores_nothing_over_rest(
    http: httpx.AsyncClient, stack: Stack, victim: ApiClient, jwt_secret: str, case: str
) -> None:
    token = BAD_TOKENS[case](victim, jwt_secret)
    event_id = f"forged-{case}-{uuid.uuid4().hex}"
    reply = await http.post(
        "/ingest/ml", json={"events": [ml_event(event_id=event_id)]}, headers=_auth_header(token)
    )
    assert_error(reply, 401, grpc.StatusCode.UNAUTHENTICATED)
    # Not stored under any tenant (the forged claims name the victim's).
    with MongoClient(stack_mongodb_url(stack), serverSelectionTimeoutMS=5000) as db:
        assert db["aegisai"]["ml_events"].count_documents({"event_id": event_id}) == 0


@pytest.mark.parametrize("case", [None, *sorted(BAD_TOKENS)])
async def test_bad_token_is_unauthenticated_over_grpc(
    stubs: Stubs, victim: ApiClient, jwt_secret: str, case: str | None
) -> None:
    token = BAD_TOKENS[case](victim, jwt_secret) if case else None
    md = (("authorization", f"Bearer {token}"),) if token else ()
    unary = await rpc_error(stubs.dashboard.Overview(dashboard_pb2.OverviewRequest(), metadata=md))
    assert unary.code() == grpc.StatusCode.UNAUTHENTICATED
    # The stream is refused on its headers, before any batch is read. No batch is written
    # here: grpc-python's aio client may report a write racing that early end as INTERNAL
    # instead of the server's status (grpc/grpc#36066), which would test the client library.
    stream = stubs.ingest.StreamEvents(metadata=md)
    assert await stream.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_control_hand_signed_token_is_accepted(
    http: httpx.AsyncClient, victim: ApiClient, jwt_secret: str
) -> None:
    """The control for the key-confusion case: signing by hand with the real secret works."""
    token = _hs256_by_hand(claims_for(victim), jwt_secret.encode())
    reply = await http.get("/dashboard/overview", headers=_auth_header(token))
    assert reply.status_code == 200, reply.text


async def test_read_only_client_cannot_ingest(
    http: httpx.AsyncClient, stubs: Stubs, admin: ApiClient, tenant_client: ApiClient
) -> None:
    reader = await create_client(http, admin, tenant_client.tenant, ["read"])
    for kind, event in (("ml", ml_event()), ("llm", {"model_name": "g"})):
        reply = await http.post(f"/ingest/{kind}", json={"events": [event]}, headers=reader.headers)
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    request = ingest_pb2.IngestMLRequest(events=[events_pb2.MLEvent(model_id="m", model_type="t")])
    unary = await rpc_error(stubs.ingest.IngestML(request, metadata=reader.metadata))
    assert unary.code() == grpc.StatusCode.PERMISSION_DENIED
    stream = stubs.ingest.StreamEvents(metadata=reader.metadata)  # see the test above
    assert await stream.code() == grpc.StatusCode.PERMISSION_DENIED
    # The reader can read, and nothing was stored.
    overview = await read(http, reader, "/dashboard/overview")
    assert overview["total_ml_predictions"] == overview["total_llm_requests"] == 0


async def test_ingest_only_client_cannot_read(
    http: httpx.AsyncClient, admin: ApiClient, tenant_client: ApiClient
) -> None:
    writer = await create_client(http, admin, tenant_client.tenant, ["ingest"])
    for path in ("/dashboard/overview", "/dashboard/ml-metrics", "/dashboard/llm-metrics"):
        reply = await http.get(path, headers=writer.headers)
        assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)
    reply = await http.post("/ingest/ml", json={"events": [ml_event()]}, headers=writer.headers)
    assert reply.status_code == 200, reply.text
