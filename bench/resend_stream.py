"""gRPC StreamEvents of ML and LLM batches that resends what was not acknowledged, as the SDK
does: a stream that ends in a retryable error is opened again, with backoff, for the batches
still pending. Event ids make a resent event a duplicate, never a second one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc, events_pb2, ingest_pb2, ingest_pb2_grpc
from bench.events import Event, to_llm_proto, to_proto
from bench.stack import Credentials
from collector.domain import Kind

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Events as dicts, or ML events as protobuf messages already.
Batch = Sequence[Event] | Sequence[events_pb2.MLEvent]


def _request(sequence: int, kind: Kind, batch: Batch) -> ingest_pb2.StreamEventsRequest:
    """The batch's request; ML events may come as protobuf messages already (built before a
    timed phase, so that the client's conversion is not timed with the collector)."""
    if kind == "ml":
        ml = ingest_pb2.IngestMLRequest(
            events=[e if isinstance(e, events_pb2.MLEvent) else to_proto(e) for e in batch]
        )
        return ingest_pb2.StreamEventsRequest(sequence=sequence, ml=ml)
    llm = ingest_pb2.IngestLLMRequest(events=[to_llm_proto(e) for e in batch])
    return ingest_pb2.StreamEventsRequest(sequence=sequence, llm=llm)


RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Resending at once would meet the ids of the batches that failed still held by their
# transactions (a timed-out client's are kept up to 60 s): back off, up to BACKOFF_MAX_S.
BACKOFF_MAX_S = 16.0
GIVE_UP_S = 600.0  # without a batch acknowledged


@dataclass
class Streamed:
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # status code: streams it ended


async def _stream_once(
    channel: grpc.aio.Channel,
    token: str,
    pending: dict[int, tuple[Kind, Batch]],
    in_flight: int,
    acked: Callable[[int], None],
) -> None:
    """Send the pending batches on one StreamEvents call; each one acknowledged whole (new or
    duplicate: a resent batch's events may have been stored before) leaves `pending`."""
    call = ingest_pb2_grpc.IngestServiceStub(channel).StreamEvents(
        metadata=(("authorization", f"Bearer {token}"),)
    )
    window = asyncio.Semaphore(in_flight)

    async def send() -> None:
        for sequence, (kind, batch) in list(pending.items()):
            await window.acquire()
            await call.write(_request(sequence, kind, batch))
        await call.done_writing()

    sender = asyncio.ensure_future(send())
    try:
        while (reply := await call.read()) is not grpc.aio.EOF:
            assert isinstance(reply, ingest_pb2.StreamEventsResponse)
            _, batch = pending[reply.sequence]
            stored = reply.result.accepted + reply.result.duplicates
            if stored != len(batch):
                raise RuntimeError(f"batch {reply.sequence}: {reply.result}")
            del pending[reply.sequence]
            acked(len(batch))
            window.release()
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def stream(
    target: str,
    who: Credentials,
    batches: Sequence[tuple[Kind, Batch]],
    in_flight: int,
    say: Callable[[str], None],
    acked: Callable[[int], None] = lambda events: None,
    ready: Callable[[], None] = lambda: None,
) -> Streamed:
    """Send every batch, resending those not acknowledged when a stream ends in a retryable
    error, as the SDK does (event ids make a resent event a duplicate, never a second one).
    `acked` is told the size of each batch as it is acknowledged; `ready` is called once
    connected and signed in, just before the first batch is sent (a timed phase starts there)."""
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    pending = dict(enumerate(batches, start=1))
    outcome = Streamed()
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        token = await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(clientId=who.client_id, clientSecret=who.client_secret)
        )
        ready()
        backoff_s, progress_at = 1.0, time.perf_counter()
        while pending:
            before = len(pending)
            try:
                await _stream_once(channel, token.access_token, pending, in_flight, acked)
            except grpc.aio.AioRpcError as exc:
                if len(pending) < before:
                    backoff_s, progress_at = 1.0, time.perf_counter()
                if exc.code() not in RETRYABLE or time.perf_counter() - progress_at > GIVE_UP_S:
                    raise
                name = exc.code().name
                outcome.errors[name] = outcome.errors.get(name, 0) + 1
                outcome.retries += 1
                say(f"stream ended with {name} ({exc.details()}); {len(pending)} batches to go")
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
            else:
                if pending:
                    raise RuntimeError(f"{len(pending)} batches were never acknowledged")
    return outcome
