"""gRPC streaming ingest without the SDK: StreamEvents calls with a window of batches in flight.

`--grpc-client stream` uses it to tell the collector's cost from the SDK's: same events,
batches and window, but the client does nothing beyond building and sending the messages, and
sending again (same event ids) what a stream ended without acknowledging, as any client must
when the collector answers "busy" (bench.resend_stream).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench.events import Event, in_batches
from bench.phase import Phase
from bench.resend_stream import stream
from bench.stack import Credentials
from collector.domain import Kind


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


async def ingest_stream(
    target: str,
    who: Credentials,
    warmup: Sequence[Event],
    events: Sequence[Event],
    *,
    batch_size: int,
    in_flight: int,
    phase: Phase,
) -> None:
    await stream(target, who, [("ml", warmup)], in_flight, _say)
    batches: list[tuple[Kind, Sequence[Event]]] = [
        ("ml", batch) for batch in in_batches(events, batch_size)
    ]
    outcome = await stream(
        target, who, batches, in_flight, _say, acked=phase.acked, ready=phase.start
    )
    phase.stop()
    phase.retries += outcome.retries
