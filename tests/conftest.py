"""Shared fixtures: one real stack (embedded DB + collector + gateway) for the session.

Tests that share it isolate themselves by tenant: `tenant_client` makes a fresh tenant each time.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from aegis.v1 import auth_pb2_grpc, dashboard_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from tests.procs import ADMIN_ID, ADMIN_SECRET, Database, Stack, start_stack


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    client_secret: str
    tenant: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: pathlib.Path = tmp_path_factory.mktemp("stack")
    # Its logs kept with its output: what the collector saw when a test met an error (pytest
    # keeps the last three runs' directories, /tmp/pytest-of-<user>/).
    running = start_stack(data_dir, logs=True)
    yield running
    assert running.child.stop() == 0, "the stack did not exit cleanly"


@pytest.fixture(scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http, timeout=30) as client:
        yield client


@pytest.fixture
def failpoint_database(tmp_path: pathlib.Path) -> Iterator[Database]:
    """An embedded database of the test's own that accepts failpoints (configureFailPoint)."""
    db = Database(tmp_path, test_commands=True).start()
    try:
        yield db
    finally:
        db.stop()


@pytest.fixture(scope="session")
async def channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(stack.grpc_target) as ch:
        yield ch


# How long a fixture keeps answering 429s with their Retry-After before it gives up: a test
# before it may have left the database digesting a large history (test_ui's 200k events).
BUSY_PATIENCE_S = 120.0


async def post_when_not_busy(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST as a client must: a 429 ("busy, retry later") is sent again after its Retry-After."""
    return await when_not_busy(http, "POST", url, **kwargs)


async def when_not_busy(
    http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Call as a client must: a 429 ("busy, retry later") is sent again after its Retry-After.
    On a loaded machine a database busy past the request's deadline answers 429 (issue 16's
    contract: busy, never 503); what a test then checks is the answer to the retry."""
    give_up_at = time.monotonic() + BUSY_PATIENCE_S
    while True:
        reply = await http.request(method, url, **kwargs)
        if reply.status_code != 429 or time.monotonic() > give_up_at:
            return reply
        await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))


async def issue_token(http: httpx.AsyncClient, client_id: str, secret: str) -> str:
    reply = await post_when_not_busy(
        http, "/auth/token", json={"clientId": client_id, "clientSecret": secret}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


@pytest.fixture(scope="session")
async def admin(http: httpx.AsyncClient) -> ApiClient:
    token = await issue_token(http, ADMIN_ID, ADMIN_SECRET)
    return ApiClient(ADMIN_ID, ADMIN_SECRET, "default", token)


async def create_client(
    http: httpx.AsyncClient, admin: ApiClient, tenant: str, scopes: list[str] | None = None
) -> ApiClient:
    body: dict[str, object] = {"name": f"client of {tenant}", "tenant": tenant}
    if scopes is not None:
        body["scopes"] = scopes
    reply = await post_when_not_busy(http, "/admin/clients", json=body, headers=admin.headers)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    token = await issue_token(http, data["clientId"], data["clientSecret"])
    return ApiClient(data["clientId"], data["clientSecret"], data["tenant"], token)


@pytest.fixture
async def tenant_client(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """An ingest+read client of a brand-new tenant: its data starts empty."""
    return await create_client(http, admin, f"t-{uuid.uuid4().hex[:12]}")


# --- Shared helpers of the end-to-end suite -------------------------------------------------

# The seed README's example bodies, verbatim.
SEED_ML_BODY: dict[str, Any] = {
    "events": [
        {
            "model_type": "RandomForestClassifier",
            "model_id": "model_hash_123",
            "input_shape": [100, 10],
            "prediction_count": 100,
            "timestamp": "2024-01-01T12:00:00Z",
            "metadata": {"n_estimators": 100},
        }
    ]
}
SEED_LLM_BODY: dict[str, Any] = {
    "events": [
        {
            "model_name": "gemini-2.0-flash",
            "prompt_length": 50,
            "response_length": 200,
            "tokens_used": 250,
            "cost": 0.001,
            "timestamp": "2024-01-01T12:00:00Z",
            "metadata": {"temperature": 0.7},
        }
    ]
}


def ml_event(model_id: str = "model-a", **fields: Any) -> dict[str, Any]:
    return {"model_type": "RandomForestClassifier", "model_id": model_id, **fields}


def llm_event(model_name: str = "llm-a", **fields: Any) -> dict[str, Any]:
    return {"model_name": model_name, **fields}


async def ingest(
    http: httpx.AsyncClient, client: ApiClient, kind: str, events: list[dict[str, Any]]
) -> dict[str, Any]:
    """POST /ingest/{kind} (again after a 429's Retry-After: exactly-once makes a resend
    safe); the reply must be 200. Returns its JSON."""
    reply = await post_when_not_busy(
        http, f"/ingest/{kind}", json={"events": events}, headers=client.headers
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def read(
    http: httpx.AsyncClient, client: ApiClient, path: str, **params: str
) -> dict[str, Any]:
    """GET a dashboard path (again after a 429's Retry-After); the reply must be 200."""
    reply = await when_not_busy(http, "GET", path, params=params, headers=client.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def assert_error(reply: httpx.Response, status: int, code: grpc.StatusCode) -> str:
    """A grpc-gateway error body {code, message, details: []}; returns the message."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code.value[0], body
    assert body["details"] == []
    assert isinstance(body["message"], str) and body["message"], body
    return str(body["message"])


def assert_oauth_error(reply: httpx.Response, status: int, error: str) -> str:
    """An RFC 6749 (5.2) error body {error, error_description}, never cached; returns the
    description."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["pragma"] == "no-cache"
    return str(body["error_description"])


def status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status the collector sent with an error (empty when none)."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return status_pb2.Status()


def retry_delay_s(error: grpc.aio.AioRpcError) -> float | None:
    for detail in status_details(error).details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def error_reason(error: grpc.aio.AioRpcError) -> str | None:
    for detail in status_details(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return None


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


@dataclass(frozen=True)
class Stubs:
    auth: auth_pb2_grpc.AuthServiceStub
    ingest: ingest_pb2_grpc.IngestServiceStub
    dashboard: dashboard_pb2_grpc.DashboardServiceStub


@pytest.fixture(scope="session")
def stubs(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(
        auth_pb2_grpc.AuthServiceStub(channel),
        ingest_pb2_grpc.IngestServiceStub(channel),
        dashboard_pb2_grpc.DashboardServiceStub(channel),
    )


async def stream_batches(
    stubs: Stubs,
    metadata: tuple[tuple[str, str], ...],
    batches: list[ingest_pb2.StreamEventsRequest],
) -> dict[int, ingest_pb2.IngestResponse]:
    """Send batches on one StreamEvents call; the acks by sequence number (any order)."""
    call = stubs.ingest.StreamEvents(iter(batches), metadata=metadata)
    acks: dict[int, ingest_pb2.IngestResponse] = {}
    async for ack in call:
        assert ack.sequence not in acks, f"two acks for batch {ack.sequence}"
        acks[ack.sequence] = ack.result
    return acks


@pytest.fixture(scope="session")
def jwt_secret(stack: Stack) -> str:
    """The secret the stack generated into its DATA_DIR (no JWT_SECRET is given to it)."""
    return (stack.data_dir / "jwt_secret").read_text().strip()
