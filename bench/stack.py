"""The stack under test: SecantusDB, the collector and the gateway, as children of the bench.

The database is started by collector.store.embedded exactly as the stack starts it (same flags,
fsync on commit). Every child dies with us even if we are killed, and all are stopped in
reverse order (gateway, collector, database) when the `async with` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import httpx
import psutil

from aegis_shared import child_process
from collector.store.embedded import embedded_database
from stack import supervision

START_TIMEOUT_S = 120.0
DATABASE_NAME = "aegisai"
ADMIN_ID = "bench-admin"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    tenant: str


class StackDied(RuntimeError):
    pass


@dataclass(frozen=True)
class Stack:
    mongodb_url: str
    grpc_target: str
    http_url: str
    pids: dict[str, int]  # database, collector, gateway
    admin: Credentials

    async def watch(self, every_s: float = 0.5) -> None:
        """Raise StackDied as soon as a process of the stack is gone: without it a client
        would retry against a dead collector until the run timed out."""
        procs = {name: psutil.Process(pid) for name, pid in self.pids.items()}
        while True:
            for name, proc in procs.items():
                if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                    raise StackDied(f"the {name} (pid {proc.pid}) exited during the run")
            await asyncio.sleep(every_s)


def _log_to(path: pathlib.Path) -> Callable[[str], None]:
    handle = path.open("a", buffering=1)

    def write(line: str) -> None:
        handle.write(line + "\n")

    return write


def _database_pid() -> int:
    """embedded_database keeps its child to itself; it is ours, so find it among them."""
    for child in psutil.Process().children():
        if "secantus" in child.cmdline():
            return child.pid
    raise RuntimeError("the embedded database process was not found")


async def _started(child: supervision.ReadyChild, key: str) -> int:
    return (await asyncio.to_thread(child.wait_ready, START_TIMEOUT_S))[key]


@contextlib.asynccontextmanager
async def running_stack(workdir: pathlib.Path) -> AsyncIterator[Stack]:
    """Start the three processes on free loopback ports; stop them all when the block ends."""
    admin = Credentials(ADMIN_ID, secrets.token_urlsafe(24), "default")
    async with contextlib.AsyncExitStack() as stops:
        url = await stops.enter_async_context(embedded_database(workdir))
        # LOG_LEVEL=WARNING: the children's stderr is our terminal; keep access logs off it.
        collector = supervision.ReadyChild(
            "collector",
            child_process.python_module("collector", "serve"),
            supervision.child_env(
                MONGODB_URL=url,
                DATABASE_NAME=DATABASE_NAME,
                JWT_SECRET=secrets.token_hex(32),
                GRPC_HOST="127.0.0.1",
                GRPC_PORT="0",
                METRICS_PORT="0",
                DATA_DIR=str(workdir),
                BOOTSTRAP_CLIENT_ID=admin.client_id,
                BOOTSTRAP_CLIENT_SECRET=admin.client_secret,
                LOG_LEVEL="WARNING",
                # The bench measures speed: one client reading as fast as it can is the point.
                RATE_LIMIT_READ_PER_S="0",
            ),
            echo=_log_to(workdir / "collector.log"),
        )
        stops.push_async_callback(asyncio.to_thread, collector.stop)
        grpc_port = await _started(collector, "grpc")
        gateway = supervision.ReadyChild(
            "gateway",
            child_process.python_module("gateway"),
            supervision.child_env(
                COLLECTOR_ADDR=f"127.0.0.1:{grpc_port}",
                HTTP_HOST="127.0.0.1",
                HTTP_PORT="0",
                LOG_LEVEL="WARNING",
            ),
            echo=_log_to(workdir / "gateway.log"),
        )
        stops.push_async_callback(asyncio.to_thread, gateway.stop)
        http_port = await _started(gateway, "http")
        yield Stack(
            mongodb_url=url,
            grpc_target=f"127.0.0.1:{grpc_port}",
            http_url=f"http://127.0.0.1:{http_port}",
            pids={
                "database": _database_pid(),
                "collector": collector.proc.pid,
                "gateway": gateway.proc.pid,
            },
            admin=admin,
        )


async def issue_token(http: httpx.AsyncClient, who: Credentials) -> str:
    reply = await http.post(
        "/auth/token", json={"clientId": who.client_id, "clientSecret": who.client_secret}
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


async def create_tenant_client(
    stack: Stack, tenant: str, scopes: Sequence[str] = ("ingest", "read")
) -> Credentials:
    """A client of a fresh tenant (an ingest and read one by default), created by the
    bootstrap admin over REST."""
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
        admin_token = await issue_token(http, stack.admin)
        reply = await http.post(
            "/admin/clients",
            json={"name": "bench", "tenant": tenant, "scopes": list(scopes)},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        reply.raise_for_status()
        body = reply.json()
    return Credentials(body["clientId"], body["clientSecret"], body["tenant"])
