"""How the SDK reads each way a stream can fail, pinned down one status at a time.

The collector cannot be made to end a stream with INTERNAL or DATA_LOSS on demand, so these
tests run a scripted collector: a real gRPC server on a loopback port (a true process boundary,
as a webhook receiver would be) that ends each stream as its script says, after reading one
batch. With one batch in flight, the SDK must resend on every status that says nothing about
the batch, and drop (and log) only on a definite refusal of the batch itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from aegis_sdk import AegisClient

pytestmark = pytest.mark.timeout(60)


class ScriptedCollector(ingest_pb2_grpc.IngestServiceServicer, auth_pb2_grpc.AuthServiceServicer):
    """Stream n ends with script[n] after reading one batch (None: ack everything)."""

    def __init__(self, script: list[grpc.StatusCode | None]) -> None:
        self._script = list(script)
        self._lock = threading.Lock()
        self.received: list[list[str]] = []  # event ids of each batch read, resends included
        self.acked: list[str] = []

    def IssueToken(self, request: Any, context: Any) -> auth_pb2.IssueTokenResponse:
        return auth_pb2.IssueTokenResponse(
            access_token="scripted", token_type="bearer", expires_in=3600
        )

    def StreamEvents(self, request_iterator: Any, context: Any) -> Iterator[Any]:
        with self._lock:
            ending = self._script.pop(0) if self._script else None
        for request in request_iterator:
            events = request.llm.events if request.HasField("llm") else request.ml.events
            ids = [e.event_id for e in events]
            with self._lock:
                self.received.append(ids)
            if ending is not None:
                context.abort(ending, f"scripted {ending.name}")
            with self._lock:
                self.acked.extend(ids)
            yield ingest_pb2.StreamEventsResponse(
                sequence=request.sequence, result=ingest_pb2.IngestResponse(accepted=len(ids))
            )


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[grpc.Server] = []

    def start(script: list[grpc.StatusCode | None]) -> tuple[ScriptedCollector, str]:
        collector = ScriptedCollector(script)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(collector, server)
        auth_pb2_grpc.add_AuthServiceServicer_to_server(collector, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return collector, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


def deliver(target: str, n: int) -> tuple[list[str], Any]:
    with AegisClient(
        target,
        "id",
        "secret",
        batch_size=10,
        max_in_flight=1,
        flush_interval=600,
        initial_backoff=0.01,
        max_backoff=0.05,
    ) as client:
        ids = [client.log_llm(model_name="m", tokens_used=1) for _ in range(n)]
        client.flush(timeout=30)
        return ids, client.stats


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
    ],
)
def test_a_broken_stream_never_drops_its_batch(scripted: Any, code: grpc.StatusCode) -> None:
    # Each of the first three streams breaks with the only batch in flight.
    collector, target = scripted([code, code, code])
    ids, stats = deliver(target, 30)
    assert stats.dropped == 0, f"{code.name} dropped a batch"
    assert stats.errors == {code.name: 3}
    assert sorted(collector.acked) == sorted(ids), "every event acked once, in the end"
    assert collector.received[0] == collector.received[1], "the same batch, resent as it was"
    assert (stats.acked, stats.pending) == (30, 0)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED]
)
def test_a_refused_batch_is_dropped_and_logged(
    scripted: Any, code: grpc.StatusCode, caplog: pytest.LogCaptureFixture
) -> None:
    collector, target = scripted([code])
    ids, stats = deliver(target, 30)
    refused = collector.received[0]
    assert (stats.dropped, stats.acked, stats.pending) == (10, 20, 0)
    assert sorted(collector.acked) == sorted(set(ids) - set(refused))
    assert all(refused != batch for batch in collector.received[1:]), "refused, never resent"
    assert f"refused a batch of 10 llm events ({code.name}" in caplog.text
