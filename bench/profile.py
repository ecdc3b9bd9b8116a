"""Where the collector's CPU goes per ingest mode: py-spy attached during each mode's segments.

`python -m bench --profile DIR` starts `py-spy record` on the collector when a mode's segment
starts and stops it when the segment ends, so each mode's samples are its own (the background
jobs that run meanwhile included, as in `collector_us_per_event`). Samples are written in
py-spy's raw (collapsed) format, one file per segment; `top_self` adds them up by the
innermost frame (self time) and the report prints the top functions of each mode.
"""

from __future__ import annotations

import collections
import pathlib
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field

RATE_HZ = 200


@dataclass
class Profiler:
    """py-spy on one process, one recording per segment."""

    pid: int
    out_dir: pathlib.Path
    native: bool = True
    _py_spy: str = field(default="", init=False)
    _running: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _count: collections.Counter[str] = field(default_factory=collections.Counter, init=False)

    def __post_init__(self) -> None:
        beside = pathlib.Path(sys.executable).with_name("py-spy")  # the venv's, unactivated
        found = str(beside) if beside.exists() else shutil.which("py-spy")
        if found is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        self._py_spy = found
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def start(self, mode: str) -> None:
        self._count[mode] += 1
        out = self.out_dir / f"{mode}-{self._count[mode]}.txt"
        argv = [self._py_spy, "record", "--pid", str(self.pid), "--format", "raw", "--output"]
        argv += [str(out), "--rate", str(RATE_HZ), "--function"]
        # Native frames (BSON, protobuf, the event loop's C parts) need the process paused at
        # each sample; without them py-spy need not pause it.
        argv += ["--native"] if self.native else ["--nonblocking"]
        self._running = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._running is None:
            return
        self._running.send_signal(signal.SIGINT)
        try:
            self._running.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._running.kill()
            self._running.wait()
        self._running = None


@dataclass(frozen=True)
class Top:
    samples: int
    functions: list[tuple[str, float]]  # (function, share of the mode's samples)


def _frame_name(frame: str) -> str:
    """`encode (bson/__init__.py:123)` -> `encode (bson/__init__.py)`."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({file})" if file else name


# With native frames py-spy also samples threads that wait: the thread pool on its queue, the
# gRPC poller and the event loop in epoll, the metrics server in poll. A sample whose
# innermost frames are libc under one of these waits is idle, not CPU.
WAITS = frozenset(
    {
        "poll",
        "epoll_wait",
        "PyThread_acquire_lock_timed",
        "select_poll_poll_impl",
        "select_epoll_poll_impl",
        "pthread_cond_timedwait",
        "pthread_cond_wait",
    }
)


def _idle(frames: list[str]) -> bool:
    if not frames[-1].endswith("(libc.so.6)"):
        return False
    return any(f.partition(" (")[0] in WAITS for f in frames[-3:])


def top_self(out_dir: pathlib.Path, mode: str, limit: int = 20) -> Top:
    """The functions the collector spent most samples in, by self time, over a mode's files."""
    self_time: collections.Counter[str] = collections.Counter()
    for path in sorted(out_dir.glob(f"{mode}-*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            if not _idle(frames):
                self_time[_frame_name(frames[-1])] += int(count)
    total = sum(self_time.values())
    share = [(name, n / total) for name, n in self_time.most_common(limit)] if total else []
    return Top(total, share)


def print_top(out_dir: pathlib.Path, cpu: dict[str, tuple[float, str]]) -> dict[str, Top]:
    """Each mode's top functions, as a share of its busy samples and of its CPU per unit
    (`cpu`: mode -> (µs, "event" or "span"))."""
    tops = {mode: top_self(out_dir, mode) for mode in cpu}
    for mode, top in tops.items():
        if not top.samples:
            continue
        us, unit = cpu[mode]
        print(f"\ncollector, {mode}: top functions by self time ({top.samples} busy samples)")
        for name, share in top.functions:
            print(f"  {share * 100:5.1f} %  {share * us:5.1f} µs/{unit}  {name}")
    return tops
