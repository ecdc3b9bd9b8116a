"""Command lines: `python -m collector clients create` against a running stack, and --help.

The CLI must never start a second embedded database on files another process serves: those
tests run a collector of their own, on its own DATA_DIR, and check what the CLI says instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import jwt
import psutil
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc
from stack import supervision
from tests.procs import Stack, start_collector

CLI_TIMEOUT_S = 120
DB_EXIT_TIMEOUT_S = 30


def run(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `python -m module args…`; it must exit 0. Returns its stdout."""
    done = run(module, *args, env=env)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def embedded_env(data_dir: pathlib.Path, **extra: str) -> dict[str, str]:
    """The environment of `make run` on data_dir: no MONGODB_URL, so the embedded database."""
    env = supervision.child_env(DATA_DIR=str(data_dir), METRICS_PORT="0", **extra)
    env.pop("MONGODB_URL", None)
    env.pop("JWT_SECRET", None)
    return env


def create_client(data_dir: pathlib.Path, tenant: str = "acme") -> subprocess.CompletedProcess[str]:
    return run(
        "collector", "clients", "create", "--name", "x", "--tenant", tenant,
        env=embedded_env(data_dir),
    )  # fmt: skip


def one_error_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The CLI failed with `code` and said why in one `error: …` line, and nothing else."""
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("module", ["collector", "gateway", "stack"])
def test_help_exits_0(module: str) -> None:
    out = run_module(module, "--help")
    assert out.startswith("usage:")
    assert f"python -m {module}" in out


def test_clients_create_against_a_running_stack(stack: Stack) -> None:
    env = embedded_env(stack.data_dir)
    tenant = f"cli-{uuid.uuid4().hex[:12]}"
    out = run_module(
        "collector",
        "clients",
        "create",
        "--name",
        "cli client",
        "--tenant",
        tenant,
        "--scopes",
        "ingest",
        "read",
        env=env,
    )
    printed = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {"clientId", "clientSecret"} <= set(printed), out

    with httpx.Client(base_url=stack.http, timeout=30) as http:
        reply = http.post(
            "/auth/token",
            json={"clientId": printed["clientId"], "clientSecret": printed["clientSecret"]},
        )
        assert reply.status_code == 200, reply.text
        token = reply.json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["tenant"] == tenant
        assert sorted(claims["scopes"]) == ["ingest", "read"]
        headers = {"Authorization": f"Bearer {token}"}
        event = {"model_type": "t", "model_id": "cli-model", "prediction_count": 2}
        ingested = http.post("/ingest/ml", json={"events": [event]}, headers=headers)
        assert ingested.status_code == 200, ingested.text
        overview = http.get("/dashboard/overview", headers=headers).json()
        assert overview["total_ml_predictions"] == 2


def test_invalid_arguments_are_one_error_line_and_exit_2(stack: Stack) -> None:
    """The reported case: a bad tenant while `make run` is up on the same DATA_DIR."""
    line = one_error_line(create_client(stack.data_dir, tenant="bad tenant!"), 2)
    assert line.startswith("error: tenant: "), line


def test_invalid_arguments_never_reach_a_database(tmp_path: pathlib.Path) -> None:
    one_error_line(create_client(tmp_path, tenant="bad tenant!"), 2)
    assert not (tmp_path / "db").exists(), "a database was started for a request that is invalid"


@dataclass(frozen=True)
class Served:
    """A collector serving the embedded database of its own DATA_DIR."""

    collector: supervision.ReadyChild
    grpc_port: int
    data_dir: pathlib.Path

    def database(self) -> psutil.Process:
        (child,) = psutil.Process(self.collector.proc.pid).children()
        assert "secantus" in child.cmdline(), child.cmdline()
        return child


def serve_embedded(data_dir: pathlib.Path) -> Served:
    env = embedded_env(data_dir, GRPC_PORT="0", GRPC_HOST="127.0.0.1")
    child, port = start_collector(env, data_dir / "collector.log")
    return Served(child, port, data_dir)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = serve_embedded(tmp_path_factory.mktemp("served"))
    yield running
    assert running.collector.stop() == 0


@contextlib.contextmanager
def paused(proc: psutil.Process) -> Iterator[None]:
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def can_log_in(grpc_port: int, printed: str) -> bool:
    fields = dict(line.split("=", 1) for line in printed.splitlines())
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        reply = auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(
                clientId=fields["clientId"], clientSecret=fields["clientSecret"]
            ),
            timeout=30,
        )
    return bool(reply.access_token)


def test_a_served_database_that_does_not_answer_is_reported_not_replaced(
    served: Served,
) -> None:
    database = served.database()
    with paused(database):
        line = one_error_line(create_client(served.data_dir), 1)
    assert f"a collector (process {served.collector.proc.pid}) is serving DATA_DIR" in line
    assert "did not answer" in line and "not starting a second one" in line, line
    # Answering again, that same database is used: the collector knows the new client.
    done = create_client(served.data_dir)
    assert done.returncode == 0, done.stderr
    assert served.database().pid == database.pid
    assert can_log_in(served.grpc_port, done.stdout)


def test_a_second_collector_on_the_same_data_dir_refuses_to_start(served: Served) -> None:
    done = run("collector", "serve", env=embedded_env(served.data_dir, GRPC_PORT="0"))
    line = one_error_line(done, 1)
    assert f"is in use by process {served.collector.proc.pid} (another collector?)" in line


def test_a_data_dir_taken_before_its_database_is_up_is_reported(tmp_path: pathlib.Path) -> None:
    """As a collector is between taking DATA_DIR and publishing its database's URL: here the
    test process itself holds the lock."""
    fd = os.open(tmp_path / "embedded-db.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        line = one_error_line(create_client(tmp_path), 1)
    finally:
        os.close(fd)
    assert f"is in use by process {os.getpid()}, whose database is not up" in line, line
    assert not (tmp_path / "db").exists()


def test_a_killed_collector_does_not_block_the_cli(tmp_path: pathlib.Path) -> None:
    """Its URL file stays behind, but its lock goes with it and its database, so the CLI
    starts the embedded database on those files itself."""
    killed = serve_embedded(tmp_path)
    database = killed.database()
    killed.collector.kill()
    database.wait(DB_EXIT_TIMEOUT_S)  # it dies with the collector (PR_SET_PDEATHSIG)
    assert (tmp_path / "embedded-db.url").exists()
    done = create_client(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tenant=acme" in done.stdout.splitlines()
    assert not (tmp_path / "embedded-db.url").exists()
