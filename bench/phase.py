"""One ingest mode's measurement: acknowledged events over time plus the CPU the stack spent.

A mode runs in one or more segments (rounds interleaved with the other modes, so none is
favoured by running on a smaller collection); figures add up over its segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.profile import Profiler
from bench.sampler import Sampler, Usage
from bench.timeline import Timeline


@dataclass
class Segment:
    before: Usage
    after: Usage | None = None


@dataclass
class Phase:
    """A mode calls `start()` after connecting and warming up, then `acked()` or `reached()`
    as acknowledgements come in, and `stop()` once the last one has."""

    mode: str
    sampler: Sampler
    timeline: Timeline = field(init=False)
    segments: list[Segment] = field(default_factory=list)
    # Times a client sent again what the collector had answered "retry later" to (an OTLP
    # export, or a stream's unacknowledged batches): same event ids, stored once.
    retries: int = 0
    # OTLP: spans acknowledged, of every kind (the timeline counts the LLM events among them).
    spans: int = 0
    # After its segments, until the background jobs had folded what it left (not timed).
    settle_s: float = 0.0
    # `--profile`: py-spy on the collector during this mode's segments.
    profiler: Profiler | None = None

    def __post_init__(self) -> None:
        self.timeline = Timeline(self.mode)

    def start(self) -> None:
        if self.profiler is not None:
            self.profiler.start(self.mode)
        self.segments.append(Segment(self.sampler.usage()))
        self.timeline.resume()

    def acked(self, events: int) -> None:
        self.timeline.acked(events)

    def reached(self, total: int) -> None:
        self.timeline.reached(total)

    def stop(self) -> None:
        self.segments[-1].after = self.sampler.usage()
        if self.profiler is not None:
            self.profiler.stop()

    @property
    def windows(self) -> list[tuple[float, float]]:
        """(start, end) of each segment, in perf_counter time."""
        return [(s.before.at, s.after.at) for s in self.segments if s.after is not None]

    def cpu_s(self, process: str) -> float:
        return sum(
            s.after.cpu_s[process] - s.before.cpu_s[process]
            for s in self.segments
            if s.after is not None
        )

    def cpu_us_per_event(self, process: str) -> float:
        return self.cpu_s(process) * 1e6 / max(self.timeline.events, 1)

    def cpu_us_per_span(self, process: str) -> float:
        """OTLP: per span acknowledged, of every kind."""
        return self.cpu_s(process) * 1e6 / max(self.spans, 1)

    def rss_mb(self, process: str) -> list[float]:
        series = self.sampler.series[process]
        return [r for start, end in self.windows for r in series.between(start, end)]
