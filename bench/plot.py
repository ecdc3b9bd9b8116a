"""bench/throughput.png: events/s over time per mode, and the stack's RSS over the run."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or a server

import matplotlib.pyplot as plt

from bench.phase import Phase

STACK = ("database", "collector", "gateway")
COLOURS = {"raw": "tab:gray", "grpc": "tab:blue", "rest": "tab:orange", "otlp": "tab:green"}


def plot(phases: list[Phase], path: pathlib.Path) -> None:
    sampler = phases[0].sampler
    fig, (rate_ax, rss_ax) = plt.subplots(2, 1, figsize=(10, 8), constrained_layout=True)

    for phase in phases:
        times, rates = phase.timeline.rate()
        rate_ax.plot(
            times,
            rates,
            label=f"{phase.mode} ({phase.timeline.events_per_s:,.0f}/s overall)",
            color=COLOURS.get(phase.mode),
        )
    rate_ax.set(
        title="Ingest throughput (3 s sliding window)",
        xlabel="seconds of this mode's ingest (its rounds back to back)",
        ylabel="events/s acknowledged",
    )
    rate_ax.set_ylim(bottom=0)
    rate_ax.grid(alpha=0.3)
    rate_ax.legend()

    origin = min(s.times[0] for s in sampler.series.values() if s.times)
    for name, series in sampler.series.items():
        if name not in STACK:
            continue  # the bench client holds its prepared inputs; not what is measured
        rss_ax.plot([t - origin for t in series.times], series.rss_mb, label=name)
    for phase in phases:
        for start, end in phase.windows:
            rss_ax.axvspan(start - origin, end - origin, alpha=0.12, color=COLOURS.get(phase.mode))
            rss_ax.text(start - origin, 0, f" {phase.mode}", va="bottom", fontsize="small")
    rss_ax.set(
        title="Resident memory over the run (shaded: measured phases)",
        xlabel="seconds since the stack started",
        ylabel="RSS, MB",
    )
    rss_ax.set_ylim(bottom=0)
    rss_ax.grid(alpha=0.3)
    rss_ax.legend()

    fig.savefig(path, dpi=100)
    plt.close(fig)
