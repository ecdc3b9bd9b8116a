"""The background jobs' backlog: rollup partials and explore notes not folded yet.

The bench waits for it to drain where a figure must not pay for earlier work: the explore
reads after their corpus is sent, and each ingest mode before the next starts (a mode
following OTLP's agent traces would otherwise pay for folding them).
"""

from __future__ import annotations

import asyncio
import time

from collector.store.storage import Storage

POLL_S = 1.0


async def until_folded(
    storage: Storage, stall_s: float, *, tidied: bool = False
) -> dict[str, float | int | None]:
    """Seconds until each job's backlog was empty (the partials and the pending notes; with
    `tidied`, also the explore job's markers: the parts it merges and the days it builds once
    a minute has passed without a fold touching them), and what was left when they folded
    nothing for `stall_s` (its time then None). Nothing else writes meanwhile; the
    collections' estimated counts are cheap (counting by tenant would read every document, and
    slow the jobs waited for)."""
    started = time.perf_counter()
    backlogs = {"rollup_partials": storage.partials, "explore_pending": storage.explore_pending}
    if tidied:
        backlogs["explore_dirty"] = storage.explore_dirty
    left = {name: await c.estimated_document_count() for name, c in backlogs.items()}
    figures: dict[str, float | int | None] = {f"{name}_at_start": n for name, n in left.items()}
    progress = time.perf_counter()
    while any(left.values()) and time.perf_counter() - progress < stall_s:
        await asyncio.sleep(POLL_S)
        for name, collection in backlogs.items():
            now_left = await collection.estimated_document_count()
            if now_left < left[name]:
                progress = time.perf_counter()
            if now_left == 0 and left[name]:
                figures[f"{name}_s"] = round(time.perf_counter() - started, 1)
            left[name] = now_left
    for name, n in left.items():
        figures.setdefault(f"{name}_s", 0.0 if n == 0 else None)
        figures[f"{name}_left"] = n
    return figures
