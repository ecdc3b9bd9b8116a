"""gRPC streaming ingest without the SDK: one StreamEvents call, a window of batches in flight.

`--grpc-client stream` uses it to tell the collector's cost from the SDK's: same events,
batches and window, but the client does nothing beyond building and sending the messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from bench.events import Event, in_batches, to_proto
from bench.phase import Phase
from bench.stack import Credentials

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class StreamFailed(RuntimeError):
    pass


def _request(sequence: int, batch: Sequence[Event]) -> ingest_pb2.StreamEventsRequest:
    return ingest_pb2.StreamEventsRequest(
        sequence=sequence, ml=ingest_pb2.IngestMLRequest(events=[to_proto(e) for e in batch])
    )


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
    batches = in_batches(events, batch_size)
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        token = await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(clientId=who.client_id, clientSecret=who.client_secret)
        )
        call = ingest_pb2_grpc.IngestServiceStub(channel).StreamEvents(
            metadata=(("authorization", f"Bearer {token.access_token}"),)
        )
        await call.write(_request(0, warmup))
        warm = await call.read()
        assert isinstance(warm, ingest_pb2.StreamEventsResponse)
        if warm.result.accepted != len(warmup):
            raise StreamFailed(f"warm-up batch: {warm.result}")

        window = asyncio.Semaphore(in_flight)
        sizes: dict[int, int] = {}

        async def send() -> None:
            for sequence, batch in enumerate(batches, start=1):
                await window.acquire()
                sizes[sequence] = len(batch)
                await call.write(_request(sequence, batch))
            await call.done_writing()

        phase.start()
        sender = asyncio.ensure_future(send())
        while (reply := await call.read()) is not grpc.aio.EOF:
            assert isinstance(reply, ingest_pb2.StreamEventsResponse)
            expected = sizes.pop(reply.sequence)
            if reply.result.accepted != expected:
                raise StreamFailed(f"batch {reply.sequence}: {reply.result}")
            phase.acked(expected)
            window.release()
        phase.stop()
        await sender
        if sizes:
            raise StreamFailed(f"{len(sizes)} batches were never acknowledged")
