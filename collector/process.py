"""Child processes that cannot outlive us: started in their own session, killed with the parent.

Used for the embedded database and by the `make run` supervisor. A child in its own session
does not get the terminal's Ctrl-C, so the parent stops children in order; PR_SET_PDEATHSIG
makes the kernel kill the child if the parent dies without doing so (SIGKILL, crash).

The death signal is set by a tiny launcher that then execs the real command, not by a
preexec_fn: a preexec_fn forces a real fork(), which runs gRPC's fork handlers and can hang
the child while another thread is in a gRPC call (grpc/grpc#43055; seen: 5 of 40 spawns).
Without one, CPython uses vfork and no handler runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

# argv: PARENT_PID COMMAND [ARGS...]. The parent check closes the race of a parent that died
# before prctl ran. The death signal survives execve (for binaries that are not set-uid).
_LAUNCHER = """\
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def spawn(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args],
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        pass_fds=pass_fds,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env


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
    ) -> None:
        self.name = name
        self.proc = spawn(args, env=env, stdout=subprocess.PIPE)
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

    def wait_ready(
        self, timeout: float, cancelled: threading.Event | None = None
    ) -> dict[str, int]:
        """The announced ports; RuntimeError if the child exits or times out first."""
        waited = 0.0
        while not self._ready.wait(0.2):
            waited += 0.2
            if waited > timeout or (cancelled is not None and cancelled.is_set()):
                break
        if not self.ports:
            raise RuntimeError(f"{self.name} did not start (exit code {self.proc.poll()})")
        return self.ports

    def stop(self, timeout: float = 20.0) -> int:
        return stop(self.proc, timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
