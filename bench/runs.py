"""The ingest modes against one running stack, in interleaved rounds.

Each round runs every mode once, in a rotating order, on fresh events: the collection grows
as the run goes on and inserts get a little slower, so no mode may always go first. After
each mode the background jobs fold what it left (`settle`), so that the next mode does not
pay for folding it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bench.events import Event, in_batches, seed_ml_events, to_document
from bench.otlp_ingest import LLM_PER_TRACE, SPANS_PER_TRACE, ingest_otlp, make_spans
from bench.phase import Phase
from bench.raw_insert import insert_raw
from bench.rest_ingest import ingest_rest, request_bodies
from bench.sdk_ingest import ingest_sdk
from bench.stack import DATABASE_NAME, Credentials, Stack
from bench.stream_ingest import ingest_stream

MODES = ("raw", "grpc", "rest", "otlp")
RAW_TENANT = "bench-raw"


class GrpcClient(Protocol):
    def __call__(
        self,
        target: str,
        who: Credentials,
        warmup: Sequence[Event],
        events: Sequence[Event],
        *,
        batch_size: int,
        in_flight: int,
        phase: Phase,
    ) -> Awaitable[None]: ...


GRPC_CLIENTS: dict[str, GrpcClient] = {"sdk": ingest_sdk, "stream": ingest_stream}


@dataclass(frozen=True)
class Runs:
    stack: Stack
    who: Credentials
    token: str  # the same client's bearer token, for REST
    batch_size: int
    in_flight: int
    rest_in_flight: int
    grpc_client: str
    run_id: str
    now: dt.datetime

    def _events(self, mode: str, round_no: int, total: int) -> list[Event]:
        return seed_ml_events(f"{mode}-{self.run_id}-{round_no}", total, self.now)

    async def raw(self, phase: Phase, round_no: int, events: int) -> None:
        size = self.batch_size
        docs = [
            to_document(e, RAW_TENANT, "bench", self.now)
            for e in self._events("raw", round_no, size + events)
        ]
        batches = in_batches(docs, size)
        await insert_raw(
            self.stack.mongodb_url, DATABASE_NAME, batches[0], batches[1:], self.in_flight, phase
        )

    async def grpc(self, phase: Phase, round_no: int, events: int) -> None:
        size = self.batch_size
        todo = self._events("grpc", round_no, size + events)
        await GRPC_CLIENTS[self.grpc_client](
            self.stack.grpc_target,
            self.who,
            todo[:size],
            todo[size:],
            batch_size=size,
            in_flight=self.in_flight,
            phase=phase,
        )

    async def rest(self, phase: Phase, round_no: int, events: int) -> None:
        warmups = self.rest_in_flight  # one request per connection before the clock starts
        todo = self._events("rest", round_no, warmups * self.batch_size + events)
        bodies = request_bodies(in_batches(todo, self.batch_size))
        await ingest_rest(
            self.stack.http_url, self.token, bodies[:warmups], bodies[warmups:], warmups, phase
        )

    async def otlp(self, phase: Phase, round_no: int, events: int) -> None:
        # One warm-up batch of spans per exporter, like REST's one request per connection;
        # then agent traces holding `events` LLM calls.
        warmups = self.in_flight * self.batch_size
        warmup_calls = -(-warmups // SPANS_PER_TRACE) * LLM_PER_TRACE
        spans = make_spans(warmup_calls + events, f"bench-{self.run_id}-{round_no}")
        await ingest_otlp(
            self.stack.grpc_target,
            self.stack.mongodb_url,
            self.who,
            spans[:warmups],
            spans[warmups:],
            batch_size=self.batch_size,
            in_flight=self.in_flight,
            phase=phase,
        )

    async def rounds(
        self,
        phases: dict[str, Phase],
        rounds: int,
        events_per_round: int,
        done: Callable[[str, int], None],
        settle: Callable[[], Awaitable[float]],
    ) -> None:
        for round_no in range(rounds):
            shift = round_no % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                await getattr(self, mode)(phases[mode], round_no, events_per_round)
                phases[mode].settle_s += await settle()
                done(mode, round_no)
