"""Delivery guarantees end to end: real processes are killed, stopped and flooded while the SDK
streams, and afterwards the database must hold every event the application logged, once.

Each test owns its database and collector (tests.procs.Backend), the collector on a fixed
port so that a restarted one is found again at the same target.

No test here may depend on how fast the machine or the database is. Where a fault has to land
while batches are in flight, the database is frozen first (SIGSTOP, Database.frozen): from
then on no write can finish and no ack can be sent, so "the collector holds unacknowledged
batches" is a fact the test waits for, not a race it hopes to win.
"""

from __future__ import annotations

import pathlib
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import MongoClient

from aegis.v1 import auth_pb2, auth_pb2_grpc, events_pb2, ingest_pb2, ingest_pb2_grpc
from aegis_sdk import AegisClient
from aegis_sdk.stats import Stats
from collector.ingest.pipeline import RETRY_AFTER_S
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Backend,
    count_events,
    start_gateway,
    stored_event_ids,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

# Quick retries: a restart should be noticed within a fraction of a second.
FAST: dict[str, Any] = {"max_backoff": 0.5, "initial_backoff": 0.05, "flush_interval": 0.05}
# After a collector is killed, every batch the SDK held is acknowledged within this long of a
# new one answering (issue 16): far less than the minute a dead client's open transaction
# holds its events when nobody ends it.
RECOVERY_S = 10.0


@pytest.fixture
def make_backend(tmp_path: pathlib.Path) -> Iterator[Callable[..., Backend]]:
    """Start a database + collector with extra collector settings; stopped after the test."""
    started: list[Backend] = []

    def make(
        *, quiet_monitors: bool = False, proxied: bool = False, **collector_env: str
    ) -> Backend:
        backend = Backend(tmp_path, quiet_monitors=quiet_monitors, proxied=proxied, **collector_env)
        started.append(backend)
        return backend.start_collector()

    yield make
    for backend in started:
        backend.stop()


@pytest.fixture
def backend(make_backend: Callable[..., Backend]) -> Backend:
    return make_backend()


def sdk(backend: Backend, **options: Any) -> AegisClient:
    return AegisClient(backend.target, ADMIN_ID, ADMIN_SECRET, **{**FAST, **options})


def log_ml(client: AegisClient, n: int) -> list[str]:
    return [
        client.log_ml(model_type="classifier", model_id=f"m{i % 5}", input_shape=[1, 8])
        for i in range(n)
    ]


def assert_stored_once(url: str, kind: str, ids: list[str]) -> None:
    stored = stored_event_ids(url, kind, "default")
    assert len(stored) == len(set(stored)), "an event was stored twice"
    missing = set(ids) - set(stored)
    assert not missing, f"{len(missing)} logged events were never stored"
    assert set(stored) == set(ids)


def in_flight(stats: Stats) -> int:
    """Batches sent on the current stream and not yet acknowledged (no resend has happened)."""
    return stats.batches_sent - stats.batches_acked


def test_collector_killed_mid_stream_loses_and_doubles_nothing(
    make_backend: Callable[..., Backend],
) -> None:
    """Killed mid-stream while one of its transactions has written a batch's events and its
    commit never arrived (the proxy drops it): the dead collector leaves that transaction open,
    holding those events (on SecantusDB every ingest transaction of the tenant meets it), until
    the database expires it a minute later. The new collector ends it before serving
    (collector.store.session_ledger), so every held batch is acknowledged within RECOVERY_S of it
    answering, and none is ever refused as INTERNAL."""
    backend = make_backend(quiet_monitors=True, proxied=True)
    assert backend.collector is not None and backend.proxy is not None
    client = sdk(backend, batch_size=100, max_buffer=10_000)
    try:
        ids = log_ml(client, 3000)
        client.flush(timeout=60)
        backend.proxy.drop_next_commit()
        ids += log_ml(client, 1000)
        # From here that batch's write waits for an answer that never comes (quiet_monitors:
        # for minutes), so it cannot be acknowledged before the kill.
        wait_until(lambda: backend.proxy.commits_dropped == 1, 30, "a commit dropped")
        at_kill = client.stats
        backend.collector.kill()  # SIGKILL: no chance to end its transaction
        stored_at_kill = count_events(backend.db.url, "ml", "default")
        ids += log_ml(client, 1000)  # logged while nothing listens
        backend.start_collector()
        answering = time.monotonic()
        client.flush(timeout=RECOVERY_S)
        recovered_s = time.monotonic() - answering
        stats = client.stats
    finally:
        client.close()
    print(f"\nevery held batch acknowledged {recovered_s:.2f} s after the new collector's READY")
    # The kill landed mid-stream: the batch with the dropped commit was held, not stored.
    assert at_kill.pending >= 100
    assert stored_at_kill < 4000, "everything was stored before the kill"
    assert_stored_once(backend.db.url, "ml", ids)
    # Each event acknowledged once: as new, or as a duplicate when the killed collector's
    # write had reached the database but its ack never reached us.
    assert stats.acked == stats.accepted + stats.duplicates == 5000
    assert stats.errors.get("UNAVAILABLE", 0) >= 1, "the kill should have broken the stream"
    assert "INTERNAL" not in stats.errors, stats.errors
    log = (backend.data_dir / "collector.log").read_text()  # both collectors'
    assert re.search(r"ended \d+ database session\(s\) left by a collector that stopped", log), log
    assert "unhandled" not in log


def test_database_killed_mid_stream_loses_and_doubles_nothing(backend: Backend) -> None:
    client = sdk(backend, batch_size=100, max_buffer=10_000)
    try:
        ids = log_ml(client, 3000)
        wait_until(lambda: count_events(backend.db.url, "ml", "default") > 500, 30, "streaming")
        with backend.db.frozen():
            ids += log_ml(client, 1000)
            wait_until(lambda: in_flight(client.stats) > 0, 15, "batches in flight")
            at_kill = client.stats
            backend.db.kill()  # SIGKILL while writes wait on it
        ids += log_ml(client, 2000)
        wait_until(lambda: client.stats.retries > 0, 15, "the SDK sees the outage")
        backend.db.start()
        client.flush(timeout=60)
        stats = client.stats
    finally:
        client.close()
    assert at_kill.pending >= 1000, "the kill should land while events are undelivered"
    assert_stored_once(backend.db.url, "ml", ids)
    assert stats.acked == stats.accepted + stats.duplicates == 6000
    assert stats.errors.get("UNAVAILABLE", 0) >= 1


def test_collector_sigterm_acks_what_it_holds_and_the_rest_is_resent(
    make_backend: Callable[..., Backend],
) -> None:
    grace_s = 30
    # The writes held by the frozen database must wait for it, not time out: a write whose
    # commit timed out has an unknown outcome, and its resend is then rightly a duplicate
    # (seen on a loaded machine: 4900 accepted + 100 duplicates). Draining is what is tested.
    backend = make_backend(
        SHUTDOWN_GRACE_S=str(grace_s), MONGODB_REQUEST_TIMEOUT_MS="60000", quiet_monitors=True
    )
    assert backend.collector is not None
    client = sdk(backend, batch_size=100, max_buffer=10_000)
    with grpc.insecure_channel(backend.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        try:
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            ids = log_ml(client, 3000)
            wait_until(lambda: count_events(backend.db.url, "ml", "default") > 500, 30, "streaming")
            with backend.db.frozen():
                # The collector holds a full window of batches whose writes cannot finish.
                ids += log_ml(client, 1000)
                wait_until(lambda: in_flight(client.stats) == 8, 15, "a full window in flight")
                at_sigterm = client.stats
                stopping = time.monotonic()
                backend.collector.proc.send_signal(signal.SIGTERM)
                # Health turns NOT_SERVING after the streams have stopped reading (server.py).
                assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            # Thawed: the held writes finish, and must be acknowledged before the exit.
            watch.cancel()  # an open Watch would hold the collector for the whole grace
            code = backend.collector.proc.wait(timeout=grace_s + 30)
            took = time.monotonic() - stopping
            at_exit = client.stats
            ids += log_ml(client, 1000)
            backend.start_collector()
            client.flush(timeout=60)
            stats = client.stats
        finally:
            watch.cancel()
            client.close()
    assert code == 0, "SIGTERM should be a clean exit"
    assert took < grace_s, f"shutdown took {took:.1f}s, the whole grace period"
    assert at_sigterm.pending >= 1000
    assert at_exit.batches_acked > at_sigterm.batches_acked, "held batches were not acked"
    assert_stored_once(backend.db.url, "ml", ids)
    assert stats.accepted == 5000
    # A draining collector acks every batch it wrote, so nothing resent was already stored.
    assert stats.duplicates == 0
    assert stats.errors.get("UNAVAILABLE", 0) >= 1


def test_duplicate_ids_within_one_batch_are_stored_once(backend: Backend) -> None:
    repeated = str(uuid.uuid4())
    with sdk(backend, batch_size=100, flush_interval=600) as client:
        others = log_ml(client, 5)
        for _ in range(3):
            client.log_ml(model_type="t", model_id="m", event_id=repeated)
        client.flush(timeout=30)
        stats = client.stats
    assert stats.batches_acked == 1
    assert (stats.accepted, stats.duplicates, stats.rejected) == (6, 2, 0)
    assert_stored_once(backend.db.url, "ml", [*others, repeated])


def test_duplicate_ids_across_batches_are_stored_once(backend: Backend) -> None:
    ids = [str(uuid.uuid4()) for _ in range(50)]
    # Only the size trigger and flush() cut batches (20 + 20 + 10, twice), however slowly
    # the 50 log calls run: the time trigger is far away.
    with sdk(backend, batch_size=20, flush_interval=600) as client:
        for event_id in ids:
            client.log_llm(model_name="m", tokens_used=1, event_id=event_id)
        client.flush(timeout=30)
        for event_id in ids:  # the application retries on its own, same ids
            client.log_llm(model_name="m", tokens_used=1, event_id=event_id)
        client.flush(timeout=30)
        stats = client.stats
    assert (stats.accepted, stats.duplicates) == (50, 50)
    assert stats.batches_acked == 6
    assert_stored_once(backend.db.url, "llm", ids)


def test_duplicate_ids_from_two_concurrent_streams_are_stored_once(backend: Backend) -> None:
    ids = [str(uuid.uuid4()) for _ in range(2000)]
    clients = [sdk(backend, batch_size=50) for _ in range(2)]

    def log_all(client: AegisClient, order: list[str]) -> None:
        for event_id in order:
            client.log_ml(model_type="t", model_id="m", event_id=event_id)
        client.flush(timeout=60)

    try:
        # Opposite orders: each stream stores ids first, then meets the other's.
        producers = [
            threading.Thread(target=log_all, args=(clients[0], ids)),
            threading.Thread(target=log_all, args=(clients[1], ids[::-1])),
        ]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        stats = [c.stats for c in clients]
    finally:
        for client in clients:
            client.close()
    assert all(s.pending == 0 for s in stats)
    assert sum(s.accepted for s in stats) == 2000
    assert sum(s.duplicates for s in stats) == 2000
    assert all(s.accepted > 0 for s in stats), "both streams should have been writing"
    assert_stored_once(backend.db.url, "ml", ids)


def admin_token(channel: grpc.Channel) -> str:
    request = auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET)
    return str(auth_pb2_grpc.AuthServiceStub(channel).IssueToken(request, timeout=30).access_token)


def one_ml_event(event_id: str) -> ingest_pb2.IngestMLRequest:
    return ingest_pb2.IngestMLRequest(
        events=[events_pb2.MLEvent(event_id=event_id, model_type="t", model_id="m")]
    )


def retry_delay_s(error: grpc.RpcError) -> float:
    """The google.rpc.RetryInfo delay an error carries (AssertionError if none)."""
    trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(info) for detail in status.details), status
    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


def test_events_held_by_an_open_transaction_are_refused_as_retryable_never_internal(
    backend: Backend, tmp_path: pathlib.Path
) -> None:
    """Another transaction holds an event's _id (as one left open by a killed collector does
    until the database expires it): the write conflicts on every attempt. It is answered
    UNAVAILABLE with a RetryInfo delay (REST: 503 + Retry-After), never INTERNAL / 500, and
    stored by the first retry after the holder lets go."""
    gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
    holder: MongoClient[dict[str, Any]] = MongoClient(backend.db.url)
    try:
        with (
            grpc.insecure_channel(backend.target) as channel,
            httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http,
            holder.start_session() as session,
        ):
            token = admin_token(channel)
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            session.start_transaction()
            holder["aegisai"]["ml_events"].insert_one({"_id": "default:held"}, session=session)

            with pytest.raises(grpc.RpcError) as refused:
                ingest.IngestML(one_ml_event("held"), metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert retry_delay_s(refused.value) > 0
            reply = http.post(
                "/ingest/ml",
                json={"events": [{"model_type": "t", "model_id": "m", "event_id": "held"}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert reply.status_code == 503, reply.text
            assert int(reply.headers["retry-after"]) >= 1

            session.abort_transaction()
            assert ingest.IngestML(one_ml_event("held"), metadata=metadata).accepted == 1
    finally:
        holder.close()
        gateway.stop()
    assert stored_event_ids(backend.db.url, "ml", "default") == ["held"]
    log = (backend.data_dir / "collector.log").read_text()
    assert "events are held by another transaction" in log
    assert "unhandled" not in log


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_backpressure_says_retry_later_and_still_delivers_everything(
    make_backend: Callable[..., Backend], tmp_path: pathlib.Path, transport: str
) -> None:
    """One batch may be written at a time (MAX_INFLIGHT_BATCHES=1) and the database is frozen,
    so the write holding that slot cannot finish: every other batch waits ADMISSION_WAIT_S for
    it and is refused with RESOURCE_EXHAUSTED + RetryInfo (REST: 429 + Retry-After), which the
    SDK honours. How fast the database would have been does not matter."""
    backend = make_backend(MAX_INFLIGHT_BATCHES="1", quiet_monitors=True)
    gateway = None
    if transport == "rest":
        gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
        rest_url = f"http://127.0.0.1:{http_port}"
        client = AegisClient(
            None, ADMIN_ID, ADMIN_SECRET, transport="rest", rest_url=rest_url, **FAST
        )
    else:
        client = sdk(backend)
    ingest_calls: list[grpc.Future] = []
    try:
        with grpc.insecure_channel(backend.target) as channel:
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            metadata = (("authorization", f"Bearer {admin_token(channel)}"),)
            warm_up = client.log_ml(model_type="t", model_id="m")
            client.flush(timeout=30)  # logged in and delivering before the freeze
            with backend.db.frozen():
                # Two writes race for the one slot: the loser proves the winner holds it.
                ingest_calls = [
                    ingest.IngestML.future(one_ml_event(f"raw-{i}"), metadata=metadata, timeout=60)
                    for i in range(2)
                ]
                wait_until(lambda: any(c.done() for c in ingest_calls), 15, "one write refused")
                refused = next(c for c in ingest_calls if c.done())
                holder = next(c for c in ingest_calls if c is not refused)
                holder_id = f"raw-{ingest_calls.index(holder)}"
                error = refused.exception()
                assert error is not None
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                assert retry_delay_s(error) == RETRY_AFTER_S
                if gateway is not None:
                    reply = httpx.post(
                        f"{rest_url}/ingest/ml",
                        json={"events": [{"model_type": "t", "model_id": "m"}]},
                        headers={"Authorization": metadata[0][1]},
                        timeout=30,
                    )
                    assert reply.status_code == 429, reply.text
                    assert reply.headers["retry-after"] == str(int(RETRY_AFTER_S))
                    assert reply.json()["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]

                started = time.monotonic()
                ids = log_ml(client, 1500)  # three batches of 500
                # Three refusals in a row: the SDK waited the server's delay twice between.
                wait_until(lambda: client.stats.retries >= 3, 20, "three refused attempts")
                waited = time.monotonic() - started
                frozen_stats = client.stats
                assert not holder.done(), "the write holding the slot finished while frozen"
            assert holder.result(timeout=30).accepted == 1
            client.flush(timeout=90)
            stats = client.stats
    finally:
        for call in ingest_calls:
            call.cancel()
        client.close()
        if gateway is not None:
            gateway.stop()
    # While frozen: nothing of the SDK's got through, and every failure was backpressure.
    assert frozen_stats.accepted == 1  # the warm-up event
    assert set(frozen_stats.errors) == {"RESOURCE_EXHAUSTED"}, frozen_stats.errors
    assert frozen_stats.server_delays == frozen_stats.retries, "RetryInfo / Retry-After ignored"
    # Honoured: each retry came no sooner than the server asked (our own backoff is 0.05 s).
    assert waited >= 2 * RETRY_AFTER_S, f"three attempts within {waited:.2f}s"
    assert_stored_once(backend.db.url, "ml", [warm_up, *ids, holder_id])
    assert stats.accepted == 1 + 1500


def otlp_request() -> trace_service_pb2.ExportTraceServiceRequest:
    """One GenAI span, encoded by the OpenTelemetry SDK's own OTLP encoder."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    span = provider.get_tracer("tests").start_span(
        "chat", attributes={"gen_ai.request.model": "gpt-4o"}
    )
    span.end()
    return encode_spans(memory.get_finished_spans())


def test_database_outage_answers_unavailable_and_503_until_it_is_back(
    backend: Backend, tmp_path: pathlib.Path
) -> None:
    """While the database is down: gRPC writes end UNAVAILABLE with a RetryInfo delay (not a
    hang until the caller's deadline), gRPC health is NOT_SERVING, and over REST both writes and
    /health answer 503. All of it recovers without a restart."""
    gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
    try:
        with (
            grpc.insecure_channel(backend.target) as channel,
            httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http,
        ):
            health = health_pb2_grpc.HealthStub(channel)

            def status() -> int:
                request = health_pb2.HealthCheckRequest(service="")
                return int(health.Check(request, timeout=5).status)

            token = admin_token(channel)
            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            headers = {"Authorization": f"Bearer {token}"}
            body = {"events": [{"model_type": "t", "model_id": "m"}]}
            assert status() == health_pb2.HealthCheckResponse.SERVING
            assert http.get("/health").json() == {"status": "ok"}

            backend.db.kill()
            # The first write may find the database gone before the health ping does; it still
            # must end UNAVAILABLE (MONGODB_TIMEOUT_MS bounds it), far inside a deadline that
            # PyMongo's default 30 s server selection would run past.
            with pytest.raises(grpc.RpcError) as refused:
                ingest.IngestML(one_ml_event("during-1"), metadata=metadata, timeout=20)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert retry_delay_s(refused.value) > 0
            wait_until(lambda: status() == health_pb2.HealthCheckResponse.NOT_SERVING, 15, "down")

            # Known down: refused at once, over both transports.
            with pytest.raises(grpc.RpcError) as refused:
                ingest.IngestML(one_ml_event("during-2"), metadata=metadata, timeout=20)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert retry_delay_s(refused.value) > 0
            reply = http.post("/ingest/ml", json=body, headers=headers)
            assert reply.status_code == 503, reply.text
            assert reply.json()["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
            assert int(reply.headers["retry-after"]) >= 1
            # OTLP too: UNAVAILABLE + RetryInfo, and 503 + Retry-After, which exporters retry.
            spans = otlp_request()
            with pytest.raises(grpc.RpcError) as refused:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                    spans, metadata=metadata, timeout=20
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert retry_delay_s(refused.value) > 0
            reply = http.post(
                "/v1/traces",
                content=spans.SerializeToString(),
                headers={**headers, "Content-Type": "application/x-protobuf"},
            )
            assert reply.status_code == 503, reply.text
            assert int(reply.headers["retry-after"]) >= 1
            down = http.get("/health")
            assert (down.status_code, down.json()) == (503, {"status": "unavailable"})

            backend.db.start()
            wait_until(lambda: status() == health_pb2.HealthCheckResponse.SERVING, 15, "SERVING")
            assert http.get("/health").status_code == 200
            assert ingest.IngestML(one_ml_event("after"), metadata=metadata).accepted == 1
            reply = http.post("/ingest/ml", json=body, headers=headers)
            assert reply.status_code == 200, reply.text
            assert reply.json()["accepted"] == 1

            # The gateway's /health also answers 503 while the collector itself is down.
            assert backend.collector is not None
            backend.collector.kill()
            down = http.get("/health")
            assert (down.status_code, down.json()) == (503, {"status": "unavailable"})
    finally:
        gateway.stop()
    assert set(stored_event_ids(backend.db.url, "ml", "default")) >= {"after"}
    assert not {"during-1", "during-2"} & set(stored_event_ids(backend.db.url, "ml", "default"))
