"""REST ingest: `POST /ingest/ml` through the gateway, a few requests in flight.

A "busy, retry later" answer (429, or 503) is sent again after its Retry-After, as a REST
client should, and counted in the phase's retries: the same event ids, so an event whose
first try was stored after all comes back as a duplicate, stored once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx

from bench.events import Event, to_json
from bench.phase import Phase

Body = tuple[int, bytes]  # events in the batch, encoded JSON body


class IngestFailed(RuntimeError):
    pass


def request_bodies(batches: Sequence[Sequence[Event]]) -> list[Body]:
    """Encoded before the clock starts, as the raw baseline's documents are."""
    return [
        (len(batch), json.dumps({"events": [to_json(e) for e in batch]}).encode())
        for batch in batches
    ]


BUSY = (429, 503)
MAX_TRIES = 20


async def _post(http: httpx.AsyncClient, token: str, body: Body, phase: Phase | None = None) -> int:
    """One batch until it is stored; returns its events (stored now or by an earlier try)."""
    count, content = body
    for _ in range(MAX_TRIES):
        reply = await http.post(
            "/ingest/ml",
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if reply.status_code not in BUSY:
            break
        if phase is not None:
            phase.retries += 1
        await asyncio.sleep(float(reply.headers.get("retry-after", 1)))
    if reply.status_code != 200:
        raise IngestFailed(f"POST /ingest/ml: {reply.status_code} {reply.text[:300]}")
    answer = reply.json()
    stored = int(answer["accepted"]) + int(answer.get("duplicates", 0))
    if stored != count:
        raise IngestFailed(f"POST /ingest/ml stored {stored} of {count}: {reply.text[:300]}")
    return stored


async def ingest_rest(
    base_url: str,
    token: str,
    warmup: Sequence[Body],
    bodies: Sequence[Body],
    in_flight: int,
    phase: Phase,
) -> None:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        # One warm-up request per connection, so every connection is open before the clock.
        await asyncio.gather(*(_post(http, token, body) for body in warmup))
        pending = list(reversed(bodies))

        async def poster() -> None:
            while pending:
                phase.acked(await _post(http, token, pending.pop(), phase))

        phase.start()
        await asyncio.gather(*(poster() for _ in range(in_flight)))
        phase.stop()
