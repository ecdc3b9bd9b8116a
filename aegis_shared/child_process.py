"""Child processes that cannot outlive us: started in their own session, killed with the parent.

The collector starts its embedded database with this. The `make run` supervisor (stack/)
builds on it too, which is why it lives here and imports nothing of ours: stack/ depends on
collector/, never the reverse. A child in its own session does not get the terminal's Ctrl-C,
so the parent stops children in order; PR_SET_PDEATHSIG makes the kernel kill the child if
the parent dies without doing so (SIGKILL, crash).

The death signal is set by a tiny launcher that then execs the real command, not by a
preexec_fn: a preexec_fn forces a real fork(), which runs gRPC's fork handlers and can hang
the child while another thread is in a gRPC call (grpc/grpc#43055; seen: 5 of 40 spawns).
Without one, CPython uses vfork and no handler runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
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
