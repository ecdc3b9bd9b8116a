"""Shared fixtures: one real stack (embedded DB + collector + gateway) for the session.

Tests that share it isolate themselves by tenant: `tenant_client` makes a fresh tenant each time.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from tests.procs import ADMIN_ID, ADMIN_SECRET, Stack, start_stack


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
    running = start_stack(data_dir)
    yield running
    assert running.child.stop() == 0, "the stack did not exit cleanly"


@pytest.fixture(scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(stack.grpc_target) as ch:
        yield ch


async def issue_token(http: httpx.AsyncClient, client_id: str, secret: str) -> str:
    reply = await http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})
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
    reply = await http.post("/admin/clients", json=body, headers=admin.headers)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    token = await issue_token(http, data["clientId"], data["clientSecret"])
    return ApiClient(data["clientId"], data["clientSecret"], data["tenant"], token)


@pytest.fixture
async def tenant_client(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """An ingest+read client of a brand-new tenant: its data starts empty."""
    return await create_client(http, admin, f"t-{uuid.uuid4().hex[:12]}")
