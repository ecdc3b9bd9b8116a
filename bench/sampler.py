"""CPU time and resident memory of the stack's processes, sampled in a background thread.

CPU per phase is read exactly at phase boundaries (`usage`); RSS is sampled every `interval_s`
so the peak and the shape over time (flat or growing) can be reported and plotted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) of each process at one moment."""

    at: float
    cpu_s: dict[str, float]


@dataclass
class Series:
    times: list[float] = field(default_factory=list)  # perf_counter
    rss_mb: list[float] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[float]:
        return [r for t, r in zip(self.times, self.rss_mb, strict=True) if start <= t <= end]


class Sampler:
    def __init__(self, pids: dict[str, int], interval_s: float = 0.2) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.series: dict[str, Series] = {name: Series() for name in pids}
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self) -> Usage:
        now = time.perf_counter()
        cpu = {}
        for name, proc in self._procs.items():
            times = proc.cpu_times()
            cpu[name] = times.user + times.system
        return Usage(now, cpu)

    def _sample(self) -> None:
        now = time.perf_counter()
        for name, proc in self._procs.items():
            try:
                rss = proc.memory_info().rss / MB
            except psutil.NoSuchProcess:
                continue  # the phase that needed it reports the failure
            self.series[name].times.append(now)
            self.series[name].rss_mb.append(rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval_s)
