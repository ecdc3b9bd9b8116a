"""A long-lived StreamEvents call ends with UNAUTHENTICATED when its token expires, and the SDK
then logs in again and carries on without losing or doubling an event."""

from __future__ import annotations

import pathlib
import threading
import time
import uuid
from collections.abc import Iterator

import grpc
import jwt
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc, events_pb2, ingest_pb2, ingest_pb2_grpc
from aegis_sdk import AegisClient, tokens
from collector.auth.bearer import LEEWAY_S
from tests.procs import ADMIN_ID, ADMIN_SECRET, Backend, stored_event_ids, wait_until

pytestmark = pytest.mark.timeout(180)

LIFETIME_S = 2  # JWT_EXPIRATION of this module's collector


@pytest.fixture
def backend(tmp_path: pathlib.Path) -> Iterator[Backend]:
    running = Backend(tmp_path, JWT_EXPIRATION=str(LIFETIME_S)).start_collector()
    yield running
    running.stop()


async def test_idle_stream_ends_unauthenticated_when_its_token_expires(backend: Backend) -> None:
    async with grpc.aio.insecure_channel(backend.target) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
            auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET)
        )
        claims = jwt.decode(reply.access_token, options={"verify_signature": False})
        assert claims["jti"]
        stream = ingest_pb2_grpc.IngestServiceStub(channel).StreamEvents(
            metadata=(("authorization", f"Bearer {reply.access_token}"),)
        )
        event = events_pb2.MLEvent(model_id="m", model_type="t", event_id=uuid.uuid4().hex)
        await stream.write(
            ingest_pb2.StreamEventsRequest(
                sequence=1, ml=ingest_pb2.IngestMLRequest(events=[event])
            )
        )
        assert (await stream.read()).result.accepted == 1
        code = await stream.code()
        ended = time.time()
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in await stream.details()
    # Ended because the token ran out (with the verification's leeway for clock skew), not
    # before; iat and exp are whole seconds.
    assert claims["exp"] + LEEWAY_S - 1 <= ended < claims["exp"] + LEEWAY_S + 5


def test_sdk_keeps_a_stream_past_its_token_and_loses_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK normally replaces its token at 80% of its lifetime, before the collector would
    end the stream. Told not to, its streams are ended by the collector at every expiry: each
    time it must log in again and resend what was not acknowledged."""
    monkeypatch.setattr(tokens, "REFRESH_AT", 50.0)
    client = AegisClient(
        backend.target,
        ADMIN_ID,
        ADMIN_SECRET,
        batch_size=20,
        flush_interval=0.05,
        initial_backoff=0.05,
        max_backoff=0.5,
    )
    ids: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            ids.extend(client.log_llm(model_name="m", tokens_used=1, cost=0.001) for _ in range(20))
            time.sleep(0.02)  # pacing the producer, not synchronising with anything

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(
            lambda: client.stats.reauthentications >= 2,
            10 * (LIFETIME_S + LEEWAY_S),
            "the collector ended the stream at two token expiries",
        )
    finally:
        stop.set()
        producer.join()
    client.flush(timeout=60)
    client.close()
    stored = stored_event_ids(backend.db.url, "llm", "default")
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(ids), f"{len(set(ids) - set(stored))} events lost"
