"""Real processes for tests: the embedded database, the collector, the gateway, the stack.

Each server announces its port on a READY line (port 0 everywhere), so tests never guess.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
from pymongo import MongoClient

from aegis.v1 import auth_pb2, auth_pb2_grpc
from aegis_shared import child_process
from collector.store.embedded import mongodb_url, server_command
from stack import supervision
from tests.wire_proxy import WireProxy

START_TIMEOUT_S = 90.0
# Tests that are not about rate limits must never meet one: RATE_LIMIT_READ_PER_S (default 20)
# would refuse a dashboard test's quick reads on a fast machine.
UNLIMITED = {
    "RATE_LIMIT_READ_PER_S": "0",
    "AUTH_ATTEMPTS_PER_MIN": "0",
    "ALERT_RULE_WRITES_PER_MIN": "0",
}
JWT_SECRET = "test-secret-" + "x" * 40
ADMIN_ID = "test-admin"
ADMIN_SECRET = "test-admin-secret-0123456789"


def _log_to(path: pathlib.Path):  # type: ignore[no-untyped-def]
    handle = path.open("a", buffering=1)
    return lambda line: handle.write(line + "\n")


# -- Ports ---------------------------------------------------------------------------------------
#
# Most servers here bind port 0 and announce the port they got. Two cannot: a database or a
# collector that is killed and restarted must come back at the same address. Such a port is
# chosen below the kernel's ephemeral range, so no outgoing connection of any process on the
# machine can be given it in between; only an explicit bind could take it, and then the
# failure says so (port_taken_error).


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int) -> bool:
    """Whether a server could listen on the port now (as servers do, despite TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def fixed_port() -> int:
    """A free loopback port outside the ephemeral range, for a server restarted in place."""
    low, high = _ephemeral_range()
    candidates = range(10_000, low) if low > 11_000 else range(high + 1, 65_536)
    for _ in range(200):
        port = random.choice(candidates)
        if _bindable(port):
            return port
    raise RuntimeError("no free loopback port outside the ephemeral range")


def port_taken_error(what: str, port: int, log: pathlib.Path) -> RuntimeError:
    """Why a server on a fixed port did not start, as plainly as we can tell."""
    if not _bindable(port):
        return RuntimeError(
            f"{what} could not bind 127.0.0.1:{port}: another process holds that port "
            f"(it was free when chosen). Not a failure of {what}; its output: {log} and stderr"
        )
    return RuntimeError(f"{what} on port {port} did not start; its output: {log} and stderr")


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses every connection for as long as the block runs: bound,
    never listening, so nobody else can take it in the meantime."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


class Database:
    """SecantusDB on a fixed loopback port, so it can be killed and restarted at one URL."""

    def __init__(self, data_dir: pathlib.Path, *, test_commands: bool = False) -> None:
        """`test_commands`: allow `configureFailPoint`, to make the database fail chosen
        commands the way a real one can (an error code, a closed connection)."""
        self.data_dir = data_dir
        self.test_commands = test_commands
        self.port = fixed_port()
        self.url = mongodb_url(self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Database:
        (self.data_dir / "db").mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "secantus.log").open("ab")
        command = server_command(self.port, self.data_dir / "db")
        if self.test_commands:
            command.append("--enable-test-commands")
        self.proc = child_process.spawn(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client: MongoClient[dict] = MongoClient(self.url, serverSelectionTimeoutMS=500)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self.proc.poll() is not None:
                    log_path = self.data_dir / "secantus.log"
                    raise port_taken_error("the database", self.port, log_path)
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

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the database for the block: connections stay open, nothing is answered.

        A collector talking to it must not notice on its own before the block ends: give it
        `Backend(..., quiet_monitors=True)`. Otherwise its health ping (HEALTH_INTERVAL_S) turns
        writes into UNAVAILABLE, and PyMongo's heartbeat (heartbeatFrequencyMS, 10 s) times out
        and interrupts the writes in progress. A write itself waits up to its operation timeout
        (MONGODB_REQUEST_TIMEOUT_MS, 1.5 s by default).
        """
        assert self.proc is not None, "start() first"
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            if self.proc.poll() is None:  # it may have been killed while stopped
                os.kill(self.proc.pid, signal.SIGCONT)

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
        METRICS_PORT="0",
        BOOTSTRAP_CLIENT_ID=ADMIN_ID,
        BOOTSTRAP_CLIENT_SECRET=ADMIN_SECRET,
        LOG_LEVEL="INFO",
        **{**UNLIMITED, **extra},
    )


def _log_and_show(path: pathlib.Path):  # type: ignore[no-untyped-def]
    """Write each line to `path` and to our stderr (which pytest captures and shows on a
    failure), so a test can read a child's log from the file."""
    to_file = _log_to(path)

    def both(line: str) -> None:
        to_file(line)
        print(line, file=sys.stderr, flush=True)

    return both


def start_collector(env: dict[str, str], log: pathlib.Path) -> tuple[supervision.ReadyChild, int]:
    """The collector; its stdout and its log (stderr) go to `log` and to our stderr."""
    child = supervision.ReadyChild(
        "collector",
        child_process.python_module("collector", "serve"),
        env,
        echo=_log_and_show(log),
        stderr=subprocess.STDOUT,
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
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def stack_env(data_dir: pathlib.Path, *, bootstrap: bool = True, **extra: str) -> dict[str, str]:
    """The environment of `python -m stack` on the embedded database in `data_dir`;
    bootstrap=False leaves BOOTSTRAP_CLIENT_* unset, as on a first `make run`."""
    env = supervision.child_env(
        DATA_DIR=str(data_dir),
        HTTP_PORT="0",
        GRPC_PORT="0",
        METRICS_PORT="0",
        **{**UNLIMITED, **extra},
    )
    if bootstrap:
        env.update(BOOTSTRAP_CLIENT_ID=ADMIN_ID, BOOTSTRAP_CLIENT_SECRET=ADMIN_SECRET)
    else:
        env.pop("BOOTSTRAP_CLIENT_ID", None)
        env.pop("BOOTSTRAP_CLIENT_SECRET", None)
    env.pop("MONGODB_URL", None)
    env.pop("JWT_SECRET", None)
    return env


def start_stack(
    data_dir: pathlib.Path, *, bootstrap: bool = True, logs: bool = False, **extra: str
) -> Stack:
    """logs=True: the processes' log lines go to data_dir/stack.log too, after their output
    (else to the test's stderr, which pytest shows for a failing test only if they came
    during it)."""
    env = stack_env(data_dir, bootstrap=bootstrap, **extra)
    child = supervision.ReadyChild(
        "stack",
        child_process.python_module("stack"),
        env,
        echo=_log_to(data_dir / "stack.log"),
        stderr=subprocess.STDOUT if logs else None,
    )
    ports = child.wait_ready(START_TIMEOUT_S)
    return Stack(child, ports["http"], ports["grpc"], data_dir, ports["metrics"])


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
    killed and restarted while an SDK client keeps the same target.

    quiet_monitors: the collector neither pings the database (HEALTH_INTERVAL_S) nor lets
    PyMongo heartbeat it (heartbeatFrequencyMS) for minutes, and its writes have minutes
    (MONGODB_REQUEST_TIMEOUT_MS), so a database held by Database.frozen() is noticed only by
    the writes that wait on it.

    proxied: the collector reaches the database through a WireProxy (`self.proxy`), which can
    lose a commit or its answer on demand.
    """

    def __init__(
        self,
        data_dir: pathlib.Path,
        *,
        quiet_monitors: bool = False,
        proxied: bool = False,
        **collector_extra: str,
    ) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir).start()
        self.port = fixed_port()
        self.proxy = WireProxy(self.db.port) if proxied else None
        url = self.db.url if self.proxy is None else mongodb_url(self.proxy.port)
        if quiet_monitors:
            url += "&heartbeatFrequencyMS=600000"
            collector_extra = {
                "HEALTH_INTERVAL_S": "3600",
                "MONGODB_REQUEST_TIMEOUT_MS": "600000",
                **collector_extra,
            }
        self.env = collector_env(url, data_dir, **collector_extra)
        self.env["GRPC_PORT"] = str(self.port)
        self.collector: supervision.ReadyChild | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_collector(self) -> Backend:
        log = self.data_dir / "collector.log"
        try:
            self.collector, port = start_collector(self.env, log)
        except RuntimeError as exc:
            raise port_taken_error("the collector", self.port, log) from exc
        assert port == self.port
        return self

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.db.stop()
