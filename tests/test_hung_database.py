"""A database that hangs instead of dying: frozen with SIGSTOP, connections open, nothing
answered. From outside it is a database too busy to answer, not one that is down: requests end
RESOURCE_EXHAUSTED (HTTP 429, with Retry-After) within their operation timeout
(MONGODB_REQUEST_TIMEOUT_MS, 1.5 s), health goes NOT_SERVING as soon as a request has timed
out, and everything recovers by itself after SIGCONT. A write whose acknowledgement was lost
after it landed is counted as duplicates when the client retries.

The "within 2 s / 3 s" bounds are the issue's acceptance numbers, asserted generously as
upper bounds; the measured times are printed (`pytest -s`).
"""

from __future__ import annotations

import contextlib
import pathlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc
from collector.store.embedded import mongodb_url
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Backend,
    Database,
    collector_env,
    count_events,
    start_collector,
    start_gateway,
    wait_until,
)
from tests.wire_proxy import WireProxy, wire_proxy

pytestmark = pytest.mark.timeout(180)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _token(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        request = auth_pb2.IssueTokenRequest(clientId=ADMIN_ID, clientSecret=ADMIN_SECRET)
        return str(
            auth_pb2_grpc.AuthServiceStub(channel).IssueToken(request, timeout=30).access_token
        )


class HealthLog:
    """Every status the collector's health Watch stream sends, with when it arrived."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target)
        self.seen: list[tuple[float, int]] = []
        watch = health_pb2_grpc.HealthStub(self._channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=170
        )
        self._watch = watch
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        try:
            for reply in self._watch:
                self.seen.append((time.monotonic(), int(reply.status)))
        except grpc.RpcError:
            pass

    def first(self, status: int, after: float) -> float | None:
        return next((t for t, s in self.seen if s == status and t >= after), None)

    def close(self) -> None:
        self._watch.cancel()
        self._channel.close()


@pytest.fixture
def stack(tmp_path: pathlib.Path) -> Iterator[tuple[Backend, str]]:
    backend = Backend(tmp_path).start_collector()
    gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
    try:
        yield backend, f"http://127.0.0.1:{http_port}"
    finally:
        gateway.stop()
        backend.stop()


def test_frozen_database_answers_429_fast_goes_not_serving_and_recovers(
    stack: tuple[Backend, str],
) -> None:
    backend, rest_url = stack
    headers = {"Authorization": f"Bearer {_token(backend.target)}"}
    body = {"events": [{"model_type": "t", "model_id": "m", "event_id": "before"}]}
    health = HealthLog(backend.target)
    try:
        with httpx.Client(base_url=rest_url, timeout=30, headers=headers) as http:
            assert http.post("/ingest/ml", json=body).json()["accepted"] == 1
            wait_until(lambda: health.first(SERVING, 0) is not None, 10, "SERVING first")
            with backend.db.frozen():
                frozen_at = time.monotonic()
                body["events"][0]["event_id"] = "during"
                reply = http.post("/ingest/ml", json=body)
                rest_s = time.monotonic() - frozen_at
                assert reply.status_code == 429, reply.text
                assert reply.json()["message"].startswith("database busy")
                assert int(reply.headers["retry-after"]) >= 1
                wait_until(lambda: health.first(NOT_SERVING, frozen_at) is not None, 10, "down")
                not_serving_at = health.first(NOT_SERVING, frozen_at)
                assert not_serving_at is not None
                dashboard = http.get("/dashboard/overview")
                assert dashboard.status_code == 429, dashboard.text
                assert int(dashboard.headers["retry-after"]) >= 1
                assert http.get("/health").status_code == 503
            thawed_at = time.monotonic()  # SIGCONT has been sent
            wait_until(lambda: health.first(SERVING, thawed_at) is not None, 30, "SERVING again")
            serving_at = health.first(SERVING, thawed_at)
            assert serving_at is not None
            after = http.post("/ingest/ml", json=body)
            assert after.status_code == 200, after.text
    finally:
        health.close()
    print(
        f"\nhung database: REST 429 after {rest_s:.2f} s; health NOT_SERVING after "
        f"{not_serving_at - frozen_at:.2f} s; SERVING again {serving_at - thawed_at:.2f} s "
        "after SIGCONT"
    )
    assert rest_s < 2.0, f"REST took {rest_s:.2f} s to answer 429"
    assert not_serving_at - frozen_at < 3.0
    # The write refused while frozen was never written; the retry after the thaw stored it.
    assert after.json()["accepted"] == 1


def test_health_says_what_a_request_just_met(
    tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The background ping is made rare here (HEALTH_INTERVAL_S): only the request that timed
    out can tell health, and the very next health check, REST and gRPC, must say it. A ping
    that begins after the timeout and is answered in time makes it SERVING again."""
    backend = Backend(tmp_path, HEALTH_INTERVAL_S="3600").start_collector()
    gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
    channel = grpc.insecure_channel(backend.target)
    check = health_pb2_grpc.HealthStub(channel).Check
    try:
        headers = {"Authorization": f"Bearer {_token(backend.target)}"}
        body = {"events": [{"model_type": "t", "model_id": "m", "event_id": "e1"}]}
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
            assert http.get("/health").json() == {"status": "ok"}
            with backend.db.frozen():
                reply = http.post("/ingest/ml", json=body, headers=headers)
                assert reply.status_code == 429, reply.text
                assert reply.headers["retry-after"] == "2"
                assert http.get("/health").status_code == 503
                status = check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
                assert status == NOT_SERVING
            wait_until(lambda: http.get("/health").status_code == 200, 30, "ok once it answers")
            assert check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == SERVING
            assert http.post("/ingest/ml", json=body, headers=headers).status_code == 200
        # The children's stderr is ours: the collector said why, once, as a WARNING.
        warnings = [line for line in capfd.readouterr().err.splitlines() if "WARNING" in line]
        assert any("database busy: a request's operation did not finish" in w for w in warnings)
    finally:
        channel.close()
        gateway.stop()
        backend.stop()


@contextlib.contextmanager
def proxied_stack(tmp_path: pathlib.Path) -> Iterator[tuple[WireProxy, httpx.Client, Database]]:
    """A database, a wire proxy in front of it, and the collector and gateway behind that;
    yields the proxy, a REST client with a token, and the database."""
    db = Database(tmp_path).start()
    with wire_proxy(db.port) as proxy:
        env = collector_env(mongodb_url(proxy.port), tmp_path)
        collector, grpc_port = start_collector(env, tmp_path / "collector.log")
        target = f"127.0.0.1:{grpc_port}"
        gateway, http_port = start_gateway(target, tmp_path / "gateway.log")
        headers = {"Authorization": f"Bearer {_token(target)}"}
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{http_port}", timeout=30, headers=headers
            ) as http:
                yield proxy, http, db
        finally:
            gateway.stop()
            collector.stop()
            db.stop()


def new_batch(prefix: str) -> dict[str, Any]:
    """A REST body of 5 ML events never sent before."""
    ids = [f"{prefix}-{uuid.uuid4().hex}" for _ in range(5)]
    return {"events": [{"model_type": "t", "model_id": "m", "event_id": i} for i in ids]}


def assert_stored_once(retried: httpx.Response, db: Database, accepted: int) -> None:
    """The retry of a 5-event batch is answered 200, those not stored before `accepted`
    and the rest duplicates, and the database holds each once."""
    assert retried.status_code == 200, retried.text
    result = retried.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (
        accepted,
        5 - accepted,
        0,
    )
    assert count_events(db.url, "ml", "default") == 5


def test_a_write_that_landed_but_timed_out_is_a_duplicate_when_retried(
    tmp_path: pathlib.Path,
) -> None:
    body = new_batch("landed")
    with proxied_stack(tmp_path) as (proxy, http, db):
        proxy.lose_next_commit_reply()
        lost = http.post("/ingest/ml", json=body)
        # The commit's reply never came: a timeout, so busy, not down.
        assert lost.status_code == 429, lost.text
        assert proxy.commits_lost == 1
        # It landed all the same: the commit reached the database.
        assert count_events(db.url, "ml", "default") == 5
        retried = http.post("/ingest/ml", json=body)
        assert_stored_once(retried, db, accepted=0)


def test_a_write_abandoned_by_its_deadline_is_ended_so_its_retry_succeeds(
    tmp_path: pathlib.Path,
) -> None:
    """The commit never reaches the database, so the request's deadline runs out with its
    transaction open, holding the batch's event ids. The collector ends that transaction
    itself: the retry with the same ids is stored at once, instead of meeting WriteConflict
    (500) until the database expires the transaction a minute later."""
    body = new_batch("abandoned")
    with proxied_stack(tmp_path) as (proxy, http, db):
        proxy.drop_next_commit()
        abandoned = http.post("/ingest/ml", json=body)
        # Refused as retryable (busy or unavailable), with the delay to wait.
        assert abandoned.status_code in (429, 503), abandoned.text
        assert int(abandoned.headers["retry-after"]) >= 1
        assert proxy.commits_dropped == 1
        assert count_events(db.url, "ml", "default") == 0
        retried = http.post("/ingest/ml", json=body)
        assert_stored_once(retried, db, accepted=5)
    assert "unhandled" not in (tmp_path / "collector.log").read_text()


def test_an_insert_read_after_the_kill_is_ended_when_the_retry_meets_it(
    tmp_path: pathlib.Path,
) -> None:
    """The batch's first insert is held back until the request's deadline has run out and
    the collector has ended the abandoned session; only then does the database read it, and
    open the transaction again, holding the batch's event ids (as a frozen database does with
    what was left in its socket). The retry meets WriteConflict, has the session ended once
    more, and is stored at once instead of being refused until the database expires the
    transaction a minute later."""
    body = new_batch("late")
    with proxied_stack(tmp_path) as (proxy, http, db):
        proxy.hold_next_insert("ml_events")
        abandoned = http.post("/ingest/ml", json=body)
        assert abandoned.status_code in (429, 503), abandoned.text
        assert proxy.holding
        wait_until(lambda: proxy.kills_answered >= 1, 30, "the abandoned session ended")
        proxy.deliver_held_insert()
        retried = http.post("/ingest/ml", json=body)
        assert_stored_once(retried, db, accepted=5)
        assert proxy.kills_answered >= 2  # the retry met the late transaction and ended it
    assert "unhandled" not in (tmp_path / "collector.log").read_text()
