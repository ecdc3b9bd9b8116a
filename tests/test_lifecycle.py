"""`python -m stack` (what `make run` runs) starts its children and leaves none behind.

Each test runs a private stack in its own DATA_DIR; the children run in sessions of their own,
so they are found as descendants of the stack's pid.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator

import grpc
import httpx
import jwt
import psutil
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc
from aegis_shared import child_process
from stack import supervision
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Database,
    Stack,
    collector_env,
    refusing_port,
    stack_env,
    start_collector,
    start_stack,
    wait_until,
)

CHILDREN = {"collector", "gateway", "secantus"}
EXIT_TIMEOUT_S = 60
PROMPT_EXIT_S = 5


def children_of(stack: Stack) -> dict[str, psutil.Process]:
    """The stack's descendants by the module they run (`python -m NAME`)."""
    found: dict[str, psutil.Process] = {}
    for proc in psutil.Process(stack.child.proc.pid).children(recursive=True):
        cmdline = proc.cmdline()
        if "-m" in cmdline[:-1]:
            found[cmdline[cmdline.index("-m") + 1]] = proc
    return found


@contextlib.contextmanager
def private_stack(data_dir: pathlib.Path) -> Iterator[tuple[Stack, dict[str, psutil.Process]]]:
    stack = start_stack(data_dir)
    children = children_of(stack)
    try:
        yield stack, children
    finally:
        stack.child.stop()
        for proc in children.values():  # only if the test failed and left them running
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def assert_all_exit(procs: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(procs, timeout=EXIT_TIMEOUT_S)
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"


def admin_token(stack: Stack) -> str:
    reply = httpx.post(
        f"{stack.http}/auth/token",
        json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def overview_status(stack: Stack, token: str) -> int:
    reply = httpx.get(
        f"{stack.http}/dashboard/overview",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return reply.status_code


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_stop_signal_stops_every_child(tmp_path: pathlib.Path, sig: signal.Signals) -> None:
    with private_stack(tmp_path) as (stack, children):
        assert set(children) == CHILDREN
        assert children["secantus"].ppid() == children["collector"].pid
        assert httpx.get(f"{stack.http}/health", timeout=30).json() == {"status": "ok"}
        stack.child.proc.send_signal(sig)
        assert stack.child.proc.wait(EXIT_TIMEOUT_S) == 0
        assert_all_exit(list(children.values()))


def test_sigkill_of_the_stack_takes_its_children_down(tmp_path: pathlib.Path) -> None:
    with private_stack(tmp_path) as (stack, children):
        assert set(children) == CHILDREN
        stack.child.kill()
        # The collector and gateway die with the stack, the database with the collector.
        assert_all_exit(list(children.values()))


def test_restart_on_the_same_data_dir_keeps_tokens_valid(tmp_path: pathlib.Path) -> None:
    with private_stack(tmp_path) as (first, children):
        token = admin_token(first)
        secret = (tmp_path / "jwt_secret").read_text()
        assert len(secret) == 64
        assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600
        assert first.child.stop() == 0
        assert_all_exit(list(children.values()))
    with private_stack(tmp_path) as (second, _):
        assert (tmp_path / "jwt_secret").read_text() == secret
        assert overview_status(second, token) == 200


def test_sigterm_stops_an_idle_collector_promptly(tmp_path: pathlib.Path) -> None:
    """Shutdown must not wait on a health ping cancelled mid-read (it once hung 20 s+)."""
    database = Database(tmp_path).start()
    try:
        for _ in range(3):
            collector, _port = start_collector(
                collector_env(database.url, tmp_path), tmp_path / "collector.log"
            )
            collector.proc.send_signal(signal.SIGTERM)
            assert collector.proc.wait(PROMPT_EXIT_S) == 0
    finally:
        database.stop()


# -- Start-up configuration checks ---------------------------------------------------------------

WEAK_SECRETS = {
    "missing": (None, "JWT_SECRET is required when MONGODB_URL is set"),
    "short": ("only-31-bytes-long-0123456789ab", "JWT_SECRET must be at least 32 bytes long"),
}


@pytest.mark.parametrize("module", ["collector", "stack"])
@pytest.mark.parametrize("case", list(WEAK_SECRETS))
def test_real_database_without_a_strong_jwt_secret_refuses_to_start(
    tmp_path: pathlib.Path, module: str, case: str
) -> None:
    secret, says = WEAK_SECRETS[case]
    env = stack_env(tmp_path)
    if secret is not None:
        assert len(secret.encode()) == 31
        env["JWT_SECRET"] = secret
    with refusing_port() as port:  # a database that is not there: the check comes first
        env["MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"
        run = subprocess.run(
            [sys.executable, "-m", module],
            env=env,
            cwd=tmp_path,  # no stray .env file
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode != 0, run.stdout
    assert says in run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "READY" not in run.stdout


@pytest.mark.parametrize("module", ["collector", "stack"])
def test_a_short_generated_secret_file_stops_start_up_naming_the_file(
    tmp_path: pathlib.Path, module: str
) -> None:
    """Someone put a weak key in DATA_DIR/jwt_secret: refuse it, as a short JWT_SECRET."""
    key_file = tmp_path / "jwt_secret"
    key_file.write_text("short-but-not-empty\n")
    run = subprocess.run(
        [sys.executable, "-m", module],
        env=stack_env(tmp_path),
        cwd=tmp_path,  # no stray .env file
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    [line] = [line for line in run.stderr.splitlines() if str(key_file) in line]
    assert "holds a secret of 19 bytes, at least 32 are needed" in line
    assert "JWT_SECRET" in line
    assert "Traceback" not in run.stderr, run.stderr
    assert "READY" not in run.stdout
    assert "short-but-not-empty" not in run.stdout + run.stderr
    assert key_file.read_text() == "short-but-not-empty\n"  # left for its owner to decide


def test_an_empty_generated_secret_file_is_replaced_and_tokens_are_issued(
    tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An empty key file is what a crash during the first start used to leave: no token was
    ever signed with it, so a new secret is generated in its place."""
    key_file = tmp_path / "jwt_secret"
    key_file.write_text("")
    log = tmp_path / "collector.log"
    collector, port = start_collector(stack_env(tmp_path), log)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            issued = auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
                auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET),
                timeout=30,
            )
        secret = key_file.read_text()
        assert re.fullmatch(r"[0-9a-f]{64}", secret)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        jwt.decode(issued.access_token, secret, algorithms=["HS256"], audience="aegisai")
        assert [p.name for p in tmp_path.glob(".jwt_secret*")] == []  # no temporary file left
    finally:
        assert collector.stop() == 0
    assert f"{key_file} was empty" in capfd.readouterr().err  # the collector's log


@contextlib.contextmanager
def port_in_use() -> Iterator[int]:
    """A loopback port another server listens on, for the block."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        yield int(other.getsockname()[1])


# Every port each entry point listens on; the stack checks its children's.
PORTS_IN_USE = [
    ("stack", "HTTP_PORT"),
    ("stack", "GRPC_PORT"),
    ("stack", "METRICS_PORT"),
    ("collector", "GRPC_PORT"),
    ("collector", "METRICS_PORT"),
    ("gateway", "HTTP_PORT"),
]


@pytest.mark.parametrize(("module", "variable"), PORTS_IN_USE)
def test_a_port_in_use_stops_start_up_with_one_line_before_anything_starts(
    tmp_path: pathlib.Path, module: str, variable: str
) -> None:
    """A second stack on a taken port once printed the one-time admin secret, then died with
    a gRPC traceback. Now: one line naming the port and the variable, and nothing else."""
    data_dir = tmp_path / "data"
    env = stack_env(data_dir, bootstrap=False)  # a first start: it would show a secret
    with port_in_use() as port:
        env[variable] = str(port)
        run = subprocess.run(
            [sys.executable, "-m", module],
            env=env,
            cwd=tmp_path,  # no stray .env file
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    prefix = "stack" if module == "stack" else "error"
    assert run.stderr.splitlines() == [
        f"{prefix}: port {port} is in use on 127.0.0.1: set {variable} to a free port "
        "(0: any free port)"
    ]
    assert run.returncode == 2
    assert run.stdout == ""  # no admin secret, no READY
    assert not data_dir.exists()  # no database started, no JWT secret generated


def test_two_settings_on_one_port_stop_the_stack_before_anything_starts(
    tmp_path: pathlib.Path,
) -> None:
    data_dir = tmp_path / "data"
    env = stack_env(data_dir, bootstrap=False)
    with port_in_use() as taken:
        pass  # free again, but chosen for both
    env.update(GRPC_PORT=str(taken), METRICS_PORT=str(taken))
    run = subprocess.run(
        [sys.executable, "-m", "stack"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.stderr.splitlines() == [
        f"stack: GRPC_PORT and METRICS_PORT are both {taken}: give METRICS_PORT a port of its own"
    ]
    assert (run.returncode, run.stdout, data_dir.exists()) == (2, "", False)


def banner_credentials(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(BOOTSTRAP_CLIENT_(?:ID|SECRET))=(\S+)$", text, re.M))


def test_admin_banner_is_printed_once_on_the_first_start(tmp_path: pathlib.Path) -> None:
    """No admin and no BOOTSTRAP_CLIENT_*: one is created and its secret printed, once."""
    log = tmp_path / "stack.log"
    with private_stack_of(start_stack(tmp_path, bootstrap=False)) as first:
        first_output = log.read_text()
        assert "No admin client existed, so one was created" in first_output
        printed = banner_credentials(first_output)
        assert set(printed) == {"BOOTSTRAP_CLIENT_ID", "BOOTSTRAP_CLIENT_SECRET"}, first_output
        client_id, secret = printed["BOOTSTRAP_CLIENT_ID"], printed["BOOTSTRAP_CLIENT_SECRET"]
        assert_global_admin(first, client_id, secret)
    seen = len(first_output)
    with private_stack_of(start_stack(tmp_path, bootstrap=False)) as second:
        second_output = log.read_text()[seen:]
        assert "AegisAI is up" in second_output  # its start-up output is all here
        assert "admin client" not in second_output
        assert banner_credentials(second_output) == {}
        assert secret not in second_output
        assert_global_admin(second, client_id, secret)  # the first one is still the admin


@contextlib.contextmanager
def private_stack_of(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        assert stack.child.stop() == 0


def assert_global_admin(stack: Stack, client_id: str, secret: str) -> None:
    with httpx.Client(base_url=stack.http, timeout=30) as http:
        reply = http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})
        assert reply.status_code == 200, reply.text
        headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        body = {"name": "made by the banner's admin", "tenant": f"t-{uuid.uuid4().hex[:8]}"}
        created = http.post("/admin/clients", json=body, headers=headers)
        assert created.status_code == 200, created.text


def test_a_burst_of_stop_signals_still_stops_the_stack(tmp_path: pathlib.Path) -> None:
    """`kill` of `make run`'s process group, or an impatient Ctrl-C, can deliver the next signal
    while the handler of the last still runs: a handler that took a lock deadlocked on itself."""
    with private_stack(tmp_path) as (stack, children):
        for _ in range(200):
            with contextlib.suppress(ProcessLookupError):
                stack.child.proc.send_signal(signal.SIGTERM)
        assert stack.child.proc.wait(EXIT_TIMEOUT_S) == 0
        assert_all_exit(list(children.values()))


def test_a_stop_signal_during_start_up_stops_everything_cleanly(tmp_path: pathlib.Path) -> None:
    stack = supervision.ReadyChild(
        "stack",
        child_process.python_module("stack"),
        stack_env(tmp_path),
        echo=lambda line: None,
    )
    try:
        collector: list[psutil.Process] = []

        def collector_started() -> bool:
            for proc in psutil.Process(stack.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):  # `collector check-ports` may just exit
                    if {"collector", "serve"} <= set(proc.cmdline()):
                        collector[:] = [proc]
            return bool(collector)

        wait_until(collector_started, EXIT_TIMEOUT_S, "the stack starts its collector")
        # Held still, the collector cannot announce itself: the stack is surely still waiting.
        collector[0].suspend()
        assert not stack.ports
        descendants = psutil.Process(stack.proc.pid).children(recursive=True)
        stack.proc.send_signal(signal.SIGTERM)
        collector[0].resume()
        assert stack.proc.wait(EXIT_TIMEOUT_S) == 0
        assert_all_exit(descendants)
    finally:
        stack.kill()
