"""Real processes for tests: the embedded database, the collector, the gateway, the stack.

Each server announces its port on a READY line (port 0 everywhere), so tests never guess.
"""

from __future__ import annotations

import pathlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from pymongo import MongoClient

from aegis.v1 import auth_pb2, auth_pb2_grpc
from collector import child_process
from collector.embedded import free_port, mongodb_url
from stack import supervision

START_TIMEOUT_S = 90.0
JWT_SECRET = "test-secret-" + "x" * 40
ADMIN_ID = "test-admin"
ADMIN_SECRET = "test-admin-secret-0123456789"


def _log_to(path: pathlib.Path):  # type: ignore[no-untyped-def]
    handle = path.open("a", buffering=1)
    return lambda line: handle.write(line + "\n")


class Database:
    """SecantusDB on a fixed loopback port, so it can be killed and restarted at one URL."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = mongodb_url(self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Database:
        (self.data_dir / "db").mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "secantus.log").open("ab")
        self.proc = child_process.spawn(
            child_process.python_module(
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.data_dir / "db"),
                "--log-level",
                "WARNING",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client: MongoClient[dict] = MongoClient(self.url, serverSelectionTimeoutMS=500)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"database exited with {self.proc.returncode}")
                try:
                    client.admin.command("ping")
                    return self
                except Exception:
                    if time.monotonic() > deadline:
                        raise
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            child_process.stop(self.proc)


def collector_env(mongodb_url: str, data_dir: pathlib.Path, **extra: str) -> dict[str, str]:
    return supervision.child_env(
        MONGODB_URL=mongodb_url,
        DATA_DIR=str(data_dir),
        JWT_SECRET=JWT_SECRET,
        GRPC_PORT="0",
        GRPC_HOST="127.0.0.1",
        BOOTSTRAP_CLIENT_ID=ADMIN_ID,
        BOOTSTRAP_CLIENT_SECRET=ADMIN_SECRET,
        LOG_LEVEL="INFO",
        **extra,
    )


def start_collector(env: dict[str, str], log: pathlib.Path) -> tuple[supervision.ReadyChild, int]:
    child = supervision.ReadyChild(
        "collector", child_process.python_module("collector", "serve"), env, echo=_log_to(log)
    )
    return child, child.wait_ready(START_TIMEOUT_S)["grpc"]


def start_gateway(
    collector_addr: str, log: pathlib.Path, **extra: str
) -> tuple[supervision.ReadyChild, int]:
    env = supervision.child_env(
        COLLECTOR_ADDR=collector_addr, HTTP_PORT="0", HTTP_HOST="127.0.0.1", **extra
    )
    child = supervision.ReadyChild(
        "gateway", child_process.python_module("gateway"), env, echo=_log_to(log)
    )
    return child, child.wait_ready(START_TIMEOUT_S)["http"]


@dataclass
class Stack:
    """`python -m stack` (what `make run` runs) on the embedded database."""

    child: supervision.ReadyChild
    http_port: int
    grpc_port: int
    data_dir: pathlib.Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def start_stack(data_dir: pathlib.Path, **extra: str) -> Stack:
    env = supervision.child_env(
        DATA_DIR=str(data_dir),
        HTTP_PORT="0",
        GRPC_PORT="0",
        BOOTSTRAP_CLIENT_ID=ADMIN_ID,
        BOOTSTRAP_CLIENT_SECRET=ADMIN_SECRET,
        **extra,
    )
    env.pop("MONGODB_URL", None)
    env.pop("JWT_SECRET", None)
    child = supervision.ReadyChild(
        "stack", child_process.python_module("stack"), env, echo=_log_to(data_dir / "stack.log")
    )
    ports = child.wait_ready(START_TIMEOUT_S)
    return Stack(child, ports["http"], ports["grpc"], data_dir)


# -- Helpers for the SDK and delivery tests -----------------------------------------------------


def wait_until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    """Poll a real condition until it holds; fail with `what` after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what}")
        time.sleep(0.02)


def stack_mongodb_url(stack: Stack) -> str:
    """The embedded database the stack's collector started (it writes its URL to DATA_DIR)."""
    return (stack.data_dir / "embedded-db.url").read_text().strip()


def stored_event_ids(mongodb_url: str, kind: str, tenant: str) -> list[str]:
    """Every stored event_id of one kind ("ml" / "llm") and tenant, repeats included."""
    with MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        events = client["aegisai"][f"{kind}_events"]
        return [doc["event_id"] for doc in events.find({"tenant": tenant}, {"event_id": 1})]


def count_events(mongodb_url: str, kind: str, tenant: str) -> int:
    with MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        return client["aegisai"][f"{kind}_events"].count_documents({"tenant": tenant})


def grpc_client_for(target: str, tenant: str, scopes: tuple[str, ...] = ()) -> tuple[str, str]:
    """(client id, secret) of a new client of `tenant` (default scopes: ingest, read), made by
    the bootstrap admin."""
    with grpc.insecure_channel(target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        token = auth.IssueToken(
            auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET), timeout=30
        ).access_token
        created = auth.CreateClient(
            auth_pb2.CreateClientRequest(
                name=f"client of {tenant}", tenant=tenant, scopes=list(scopes)
            ),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=30,
        )
    return created.clientId, created.clientSecret


class Backend:
    """A private database and collector, the collector on a fixed port so that either can be
    killed and restarted while an SDK client keeps the same target."""

    def __init__(self, data_dir: pathlib.Path, **collector_extra: str) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir).start()
        self.port = free_port()
        self.env = collector_env(self.db.url, data_dir, **collector_extra)
        self.env["GRPC_PORT"] = str(self.port)
        self.collector: supervision.ReadyChild | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_collector(self) -> Backend:
        self.collector, port = start_collector(self.env, self.data_dir / "collector.log")
        assert port == self.port
        return self

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.stop()
        self.db.stop()
