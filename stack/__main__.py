"""`python -m stack` (what `make run` runs): the collector, then the gateway, in the foreground.

Ctrl-C or SIGTERM stops the gateway, then the collector (which stops its embedded database),
so nothing is left behind. Children die with us even if we are killed outright.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from pydantic import ValidationError

from aegis_shared import child_process
from aegis_shared.ports import PortUnavailable, check_free
from gateway.settings import GatewaySettings
from stack import supervision
from stack.stop_request import StopRequest

START_TIMEOUT_S = 120.0


def check_ports() -> None:
    """PortUnavailable unless every port the children will listen on is free now. The
    collector's are its own settings: it checks them itself (`check-ports`), so the stack
    knows nothing of its configuration."""
    try:
        gateway = GatewaySettings()
    except ValidationError:
        return  # the child that reads the setting says what is wrong with it
    check_free([gateway.http_listen])
    done = subprocess.run(
        child_process.python_module("collector", "check-ports"),
        env=supervision.child_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    if done.returncode == 2:
        lines = done.stderr.strip().splitlines() or ["a port is in use"]
        raise PortUnavailable(lines[-1].removeprefix("error: "))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m stack",
        description="Run the AegisAI stack in the foreground: the collector (with the "
        "embedded database unless MONGODB_URL is set) and the REST gateway. Ctrl-C stops all.",
        epilog="environment: every variable of the collector and the gateway (see README). "
        "exit status: 0 stopped; 1 a child failed; 2 a port is in use (the message names the "
        "variable to set), nothing was started.",
    ).parse_args(argv)
    try:
        check_ports()
    except PortUnavailable as exc:
        # Before anything starts: no database, and no one-time admin secret shown in vain.
        print(f"stack: {exc}", file=sys.stderr)
        return 2
    stopping = StopRequest()
    stopping.install()

    children: list[supervision.ReadyChild] = []
    code = 0
    try:
        collector = supervision.ReadyChild(
            "collector", child_process.python_module("collector", "serve"), supervision.child_env()
        )
        children.append(collector)
        collector_ports = collector.wait_ready(START_TIMEOUT_S, stopping)
        grpc_port = collector_ports["grpc"]
        gateway = supervision.ReadyChild(
            "gateway",
            child_process.python_module("gateway"),
            supervision.child_env(COLLECTOR_ADDR=f"127.0.0.1:{grpc_port}"),
        )
        children.append(gateway)
        http_port = gateway.wait_ready(START_TIMEOUT_S, stopping)["http"]
        print(
            f"\nAegisAI is up: REST http://localhost:{http_port} (docs: /docs), "
            f"gRPC localhost:{grpc_port}. Ctrl-C stops everything.",
            flush=True,
        )
        metrics = f" metrics={collector_ports['metrics']}" if "metrics" in collector_ports else ""
        print(f"READY http={http_port} grpc={grpc_port}{metrics}", flush=True)
        while not stopping.wait(0.5):
            dead = [c.name for c in children if c.proc.poll() is not None]
            if dead:
                print(f"stack: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
                code = 1
                break
    except supervision.StartCancelled:
        pass  # Ctrl-C during start-up: a stop, not a failure
    except RuntimeError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        code = 1
    finally:
        # Reverse order: the gateway drains before the collector (and its database) goes.
        for child in reversed(children):
            child.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
