"""Supervising servers that announce themselves: the `make run` stack runs its children so.

Each child is started with aegis_shared.child_process (it dies with us) and prints
`READY key=port ...` on stdout once it serves.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from aegis_shared.child_process import spawn, stop


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env


class Cancellation(Protocol):
    def is_set(self) -> bool: ...


class StartCancelled(RuntimeError):
    """A stop was asked for while a child was starting."""


_READY = re.compile(r"^READY (.+)$")


class ReadyChild:
    """A child server that prints `READY key=port ...` on stdout once it is serving.

    Its other stdout lines go to `echo` (default: our stdout).
    """

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        stderr: int | None = None,
    ) -> None:
        self.name = name
        # stderr=subprocess.STDOUT: its log lines go to `echo` too (default: inherited).
        self.proc = spawn(args, env=env, stdout=subprocess.PIPE, stderr=stderr)
        self.ports: dict[str, int] = {}
        self._echo = echo or (lambda line: print(line, flush=True))
        self._ready = threading.Event()
        threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if match := _READY.match(line):
                for pair in match.group(1).split():
                    key, _, value = pair.partition("=")
                    self.ports[key] = int(value)
                self._ready.set()
            else:
                self._echo(line)
        self._ready.set()  # exited: wake whoever waits

    def wait_ready(self, timeout: float, cancelled: Cancellation | None = None) -> dict[str, int]:
        """The announced ports. StartCancelled once `cancelled` is set; RuntimeError if the
        child exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if time.monotonic() > deadline or (cancelled is not None and cancelled.is_set()):
                break
        if cancelled is not None and cancelled.is_set():
            raise StartCancelled(f"{self.name}: start-up cancelled")
        if not self.ports:
            raise RuntimeError(f"{self.name} did not start (exit code {self.proc.poll()})")
        return self.ports

    def stop(self, timeout: float = 20.0) -> int:
        return stop(self.proc, timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
