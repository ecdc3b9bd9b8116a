"""`python -m stack` (what `make run` runs): the collector, then the gateway, in the foreground.

Ctrl-C or SIGTERM stops the gateway, then the collector (which stops its embedded database),
so nothing is left behind. Children die with us even if we are killed outright.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
from types import FrameType

from collector import process

START_TIMEOUT_S = 120.0
_READY = re.compile(r"^READY (\w+)=(\d+)$")


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = process.spawn(args, env=env, stdout=subprocess.PIPE)
        self.port: int | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        """Forward the child's stdout to ours, noting its READY line."""
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if match := _READY.match(line):
                self.port = int(match.group(2))
                self.ready.set()
                continue
            print(line, flush=True)
        self.ready.set()  # exited: wake whoever waits

    def wait_ready(self, stopping: threading.Event) -> int:
        waited = 0.0
        while not self.ready.wait(0.2):
            waited += 0.2
            if stopping.is_set() or waited > START_TIMEOUT_S:
                break
        if self.port is None:
            raise RuntimeError(f"{self.name} did not start (exit code {self.proc.poll()})")
        return self.port


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m stack",
        description="Run the AegisAI stack in the foreground: the collector (with the "
        "embedded database unless MONGODB_URL is set) and the REST gateway. Ctrl-C stops all.",
        epilog="environment: every variable of the collector and the gateway (see README).",
    ).parse_args(argv)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    children: list[Child] = []
    code = 0
    try:
        collector = Child("collector", process.python_module("collector", "serve"),
                          process.child_env())
        children.append(collector)
        grpc_port = collector.wait_ready(stopping)
        gateway = Child(
            "gateway",
            process.python_module("gateway"),
            process.child_env(COLLECTOR_ADDR=f"127.0.0.1:{grpc_port}"),
        )
        children.append(gateway)
        http_port = gateway.wait_ready(stopping)
        print(
            f"\nAegisAI is up: REST http://localhost:{http_port} (docs: /docs), "
            f"gRPC localhost:{grpc_port}. Ctrl-C stops everything.",
            flush=True,
        )
        print(f"READY http={http_port} grpc={grpc_port}", flush=True)
        while not stopping.wait(0.5):
            if any(c.proc.poll() is not None for c in children):
                dead = [c.name for c in children if c.proc.poll() is not None]
                print(f"stack: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
                code = 1
                break
    except RuntimeError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        code = 1
    finally:
        # Reverse order: the gateway drains before the collector (and its database) goes.
        for child in reversed(children):
            process.stop(child.proc, 20.0)
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
