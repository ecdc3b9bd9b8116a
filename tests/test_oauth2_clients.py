"""POST /auth/token with off-the-shelf OAuth 2.0 clients (RFC 6749 section 4.4, the client
credentials grant): authlib (httpx) and requests-oauthlib fetch tokens by both client
authentication methods, and the tokens work. Then the protocol's corners, which no library
sends on purpose, by hand: the error codes of section 5.2, scopes, the form's rules."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
import uuid
from typing import Any

import grpc
import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from aegis.v1 import auth_pb2
from tests.conftest import (
    ApiClient,
    Stubs,
    assert_oauth_error,
    create_client,
    error_reason,
    ml_event,
    rpc_error,
)
from tests.procs import Stack

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def app(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """An ingest+read client of a fresh tenant."""
    return await create_client(http, admin, f"t-{uuid.uuid4().hex[:12]}")


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


# -- Real clients ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_authlib_fetches_a_token_that_works(
    stack: Stack, app: ApiClient, method: str
) -> None:
    async with AsyncOAuth2Client(
        app.client_id,
        app.client_secret,
        token_endpoint_auth_method=method,
        base_url=stack.http,
        timeout=30,
    ) as oauth:
        token = await oauth.fetch_token(f"{stack.http}/auth/token", grant_type="client_credentials")
        assert token["token_type"] == "bearer"
        assert token["scope"] == "ingest read"
        assert 0 < token["expires_in"] <= 3600
        # The client sends the token it fetched: an API call in the client's tenant.
        reply = await oauth.get("/dashboard/overview")
        assert reply.status_code == 200, reply.text
        ingested = await oauth.post(
            "/ingest/ml",
            json={"events": [ml_event()]},
        )
        assert ingested.status_code == 200, ingested.text


async def test_authlib_asks_for_less_and_gets_only_that(stack: Stack, app: ApiClient) -> None:
    async with AsyncOAuth2Client(
        app.client_id, app.client_secret, scope="read", base_url=stack.http, timeout=30
    ) as oauth:
        token = await oauth.fetch_token(f"{stack.http}/auth/token", grant_type="client_credentials")
        assert token["scope"] == "read"
        assert (await oauth.get("/dashboard/overview")).status_code == 200
        refused = await oauth.post("/ingest/ml", json={"events": []})
        assert refused.status_code == 403, refused.text


async def test_authlib_is_told_why_it_is_refused(stack: Stack, app: ApiClient) -> None:
    async with AsyncOAuth2Client(
        app.client_id, app.client_secret, scope="read admin", timeout=30
    ) as oauth:
        with pytest.raises(OAuthError) as info:
            await oauth.fetch_token(f"{stack.http}/auth/token", grant_type="client_credentials")
        assert info.value.error == "invalid_scope"
        assert "admin" in str(info.value.description)
    async with AsyncOAuth2Client(app.client_id, "not-the-secret", timeout=30) as oauth:
        with pytest.raises(OAuthError) as info:
            await oauth.fetch_token(f"{stack.http}/auth/token", grant_type="client_credentials")
        assert info.value.error == "invalid_client"


@pytest.mark.parametrize("in_body", [False, True])
async def test_requests_oauthlib_fetches_a_token_that_works(
    stack: Stack, app: ApiClient, in_body: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests-oauthlib's backend application flow: HTTP Basic by default, or the
    credentials in the body (include_client_id)."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test stack has no TLS

    def fetch() -> tuple[dict[str, Any], int]:
        session = OAuth2Session(client=BackendApplicationClient(client_id=app.client_id))
        token = session.fetch_token(
            f"{stack.http}/auth/token",
            client_id=app.client_id,
            client_secret=app.client_secret,
            include_client_id=in_body,
            timeout=30,
        )
        reply = session.get(f"{stack.http}/dashboard/overview", timeout=30)
        return dict(token), reply.status_code

    token, status = await asyncio.to_thread(fetch)
    assert token["token_type"] == "bearer" and token["access_token"]
    assert status == 200


# -- The protocol by hand --------------------------------------------------------------------


async def _form(
    http: httpx.AsyncClient, fields: dict[str, str] | str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = fields if isinstance(fields, str) else urllib.parse.urlencode(fields)
    return await http.post("/auth/token", content=body, headers={**FORM, **(headers or {})})


async def test_basic_credentials_are_form_urlencoded_before_base64(
    http: httpx.AsyncClient, app: ApiClient
) -> None:
    """RFC 6749 section 2.3.1: "%2D" in the Basic credentials is a "-"."""
    encoded_id = app.client_id.replace("_", "%5F")
    encoded_secret = urllib.parse.quote(app.client_secret, safe="").replace("-", "%2D")
    assert encoded_id != app.client_id or encoded_secret != app.client_secret
    reply = await _form(
        http, {"grant_type": "client_credentials"}, _basic(encoded_id, encoded_secret)
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["pragma"] == "no-cache"


async def test_invalid_client_over_basic_names_the_scheme(
    http: httpx.AsyncClient, app: ApiClient
) -> None:
    reply = await _form(
        http, {"grant_type": "client_credentials"}, _basic(app.client_id, "wrong-secret")
    )
    assert_oauth_error(reply, 401, "invalid_client")
    assert reply.headers["www-authenticate"].startswith("Basic ")
    # Credentials in the body: 401 too, without a challenge.
    reply = await _form(
        http,
        {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "x"},
    )
    assert_oauth_error(reply, 401, "invalid_client")
    assert "www-authenticate" not in reply.headers


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        (
            {"grant_type": "password", "username": "u", "password": "p"},
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "authorization_code", "code": "c"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),  # grant_type is required in a form
        ({"grant_type": "client_credentials", "scope": "read  ingest"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "everything"}, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "admin"}, 400, "invalid_scope"),
        ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
    ],
)
async def test_form_errors_are_rfc_6749_errors(
    http: httpx.AsyncClient,
    app: ApiClient,
    fields: dict[str, str] | str,
    status: int,
    error: str,
) -> None:
    reply = await _form(http, fields, _basic(app.client_id, app.client_secret))
    assert_oauth_error(reply, status, error)


async def test_a_form_without_client_authentication_is_invalid_client(
    http: httpx.AsyncClient, app: ApiClient
) -> None:
    for fields in (
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_id": app.client_id},
    ):
        assert_oauth_error(await _form(http, fields), 401, "invalid_client")


async def test_one_client_authentication_method_per_request(
    http: httpx.AsyncClient, app: ApiClient
) -> None:
    basic = _basic(app.client_id, app.client_secret)
    both = {"grant_type": "client_credentials", "client_secret": app.client_secret}
    assert_oauth_error(await _form(http, both, basic), 400, "invalid_request")
    other_id = {"grant_type": "client_credentials", "client_id": "someone-else"}
    assert_oauth_error(await _form(http, other_id, basic), 400, "invalid_request")
    # The same client id beside Basic is harmless (some clients send it), and so are
    # parameters the server does not know (RFC 6749 section 3.2: ignored).
    same = {"grant_type": "client_credentials", "client_id": app.client_id, "audience": "x"}
    reply = await _form(http, same, basic)
    assert reply.status_code == 200, reply.text


async def test_json_takes_snake_case_grant_type_and_scope(
    http: httpx.AsyncClient, app: ApiClient
) -> None:
    reply = await http.post(
        "/auth/token",
        json={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "grant_type": "client_credentials",
            "scope": "ingest",
        },
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["scope"] == "ingest"
    camel = await http.post(
        "/auth/token", json={"clientId": app.client_id, "clientSecret": app.client_secret}
    )
    assert camel.status_code == 200, camel.text
    assert set(camel.json()) == {"access_token", "token_type", "expires_in", "scope"}
    assert camel.json()["scope"] == "ingest read"
    mixed = await http.post(
        "/auth/token", json={"clientId": app.client_id, "client_secret": app.client_secret}
    )
    assert "not both" in assert_oauth_error(mixed, 400, "invalid_request")
    refused = await http.post(
        "/auth/token",
        json={"clientId": app.client_id, "clientSecret": app.client_secret, "grant_type": "x"},
    )
    assert_oauth_error(refused, 400, "unsupported_grant_type")


async def test_grpc_callers_get_scopes_and_grant_errors_too(stubs: Stubs, app: ApiClient) -> None:
    reply = await stubs.auth.IssueToken(
        auth_pb2.IssueTokenRequest(
            clientId=app.client_id, clientSecret=app.client_secret, scope="read"
        )
    )
    assert reply.scope == "read"
    error = await rpc_error(
        stubs.auth.IssueToken(
            auth_pb2.IssueTokenRequest(
                clientId=app.client_id, clientSecret=app.client_secret, grant_type="password"
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "unsupported_grant_type"
