"""The Python SDK against real processes: the shared stack, or a private database + collector.

Every test checks what was stored, in the database itself or through the dashboards, against
what the application logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from aegis_sdk import AegisClient, AsyncAegisClient, BufferFullError, uuid7
from aegis_sdk.events import llm_event, ml_event
from aegis_sdk.retry import Backoff
from tests.conftest import ApiClient
from tests.procs import (
    ADMIN_ID,
    ADMIN_SECRET,
    Backend,
    Stack,
    collector_env,
    count_events,
    fixed_port,
    grpc_client_for,
    port_taken_error,
    refusing_port,
    stack_mongodb_url,
    start_collector,
    start_gateway,
    start_stack,
    stored_event_ids,
    wait_until,
)

# Small retry delays: the tests restart things and should not wait out production backoffs.
FAST = {"max_backoff": 0.5, "initial_backoff": 0.05}

SDK_DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "sdk.md"


def readme_sdk_examples() -> list[str]:
    """The Python blocks of docs/sdk.md's "Logging events" (the README shows the first one too,
    tests/test_docs.py checks it is the same), run exactly as a reader would copy them."""
    text = SDK_DOC.read_text()
    section = text[text.index("## Logging events") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def tenant(stack: Stack) -> tuple[str, str, str]:
    """(tenant, client id, secret) of a fresh tenant on the shared stack: it starts empty."""
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    client_id, secret = grpc_client_for(stack.grpc_target, name)
    return name, client_id, secret


@pytest.fixture
def unreachable() -> Iterator[str]:
    """A gRPC target that refuses connections for the whole test (nobody can take its port)."""
    with refusing_port() as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture
def backend(tmp_path: pathlib.Path) -> Iterator[Backend]:
    """A private database; each test starts the collector when it wants it."""
    running = Backend(tmp_path)
    yield running
    running.stop()


def log_some(client: AegisClient, ml: int, llm: int) -> tuple[list[str], list[str]]:
    ml_ids = [
        client.log_ml(model_type="classifier", model_id=f"m{i % 3}", input_shape=[1, 4])
        for i in range(ml)
    ]
    llm_ids = [
        client.log_llm(model_name="gpt-x", prompt_length=10, tokens_used=30, cost=0.01)
        for _ in range(llm)
    ]
    return ml_ids, llm_ids


def test_uuid7_layout() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    for value in ids:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after


def test_backoff_grows_caps_and_honours_the_server() -> None:
    backoff = Backoff(0.1, 2.0)
    delays = [backoff.next_delay() for _ in range(5000)]  # a long outage must not overflow
    assert 0.08 <= delays[0] <= 0.12
    assert 0.16 <= delays[1] <= 0.24
    assert all(d <= 2.0 * 1.2 for d in delays)
    assert 1.0 <= backoff.next_delay(server_delay=1.0) <= 1.2  # never sooner than asked
    backoff.reset()
    assert backoff.next_delay() <= 0.12


def test_sync_client_stores_exactly_what_was_logged(
    stack: Stack, tenant: tuple[str, str, str]
) -> None:
    name, client_id, secret = tenant
    with AegisClient(stack.grpc_target, client_id, secret, batch_size=64) as client:
        ml_ids, llm_ids = log_some(client, 300, 200)
        one = client.log_ml(
            model_type="regressor",
            model_id="price-v2",
            input_shape=[8, 3],
            prediction_count=8,
            latency_ms=4.5,
            metadata={"region": "eu", "tags": ["a", "b"], "depth": {"x": 1}},
            timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        )
        client.flush(timeout=30)
        stats = client.stats
    assert stats.accepted == stats.acked == 501
    assert stats.duplicates == stats.rejected == stats.dropped == stats.pending == 0
    url = stack_mongodb_url(stack)
    assert sorted(stored_event_ids(url, "ml", name)) == sorted([*ml_ids, one])
    assert sorted(stored_event_ids(url, "llm", name)) == sorted(llm_ids)
    headers = {"Authorization": f"Bearer {issue_token(stack, client_id, secret)}"}
    ml = httpx.get(f"{stack.http}/dashboard/ml-metrics", headers=headers).json()
    llm = httpx.get(f"{stack.http}/dashboard/llm-metrics", headers=headers).json()
    assert (ml["total_events"], ml["total_predictions"]) == (301, 308)
    assert (llm["total_requests"], llm["total_tokens"]) == (200, 6000)
    recent = httpx.get(f"{stack.http}/dashboard/overview", headers=headers).json()
    assert recent["total_llm_requests"] == 200
    price = next(m for m in ml["models"] if m["model_id"] == "price-v2")
    assert price["model_type"] == "regressor"
    assert price["first_seen"].startswith("2026-01-02T03:04:05")


def issue_token(stack: Stack, client_id: str, secret: str) -> str:
    reply = httpx.post(
        f"{stack.http}/auth/token", json={"clientId": client_id, "clientSecret": secret}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def test_async_client_stores_exactly_what_was_logged(
    stack: Stack, http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    async with AsyncAegisClient(
        stack.grpc_target, tenant_client.client_id, tenant_client.client_secret, batch_size=50
    ) as client:
        ml_ids = [
            await client.log_ml(model_type="classifier", model_id="m", prediction_count=2)
            for _ in range(120)
        ]
        llm_ids = [
            await client.log_llm(model_name="llm", tokens_used=5, cost=0.5) for _ in range(80)
        ]
        await client.flush(timeout=30)
        assert client.stats.accepted == 200
    url = stack_mongodb_url(stack)
    assert sorted(stored_event_ids(url, "ml", tenant_client.tenant)) == sorted(ml_ids)
    assert sorted(stored_event_ids(url, "llm", tenant_client.tenant)) == sorted(llm_ids)
    overview = (await http.get("/dashboard/overview", headers=tenant_client.headers)).json()
    assert overview["total_ml_predictions"] == 240
    assert overview["total_llm_requests"] == 80
    assert overview["total_cost"] == pytest.approx(40.0)


def test_full_batches_go_out_without_waiting(stack: Stack, tenant: tuple[str, str, str]) -> None:
    name, client_id, secret = tenant
    url = stack_mongodb_url(stack)
    # flush_interval is far away: only the size trigger can send anything.
    with AegisClient(
        stack.grpc_target, client_id, secret, batch_size=10, flush_interval=600
    ) as client:
        log_some(client, 35, 0)
        wait_until(lambda: count_events(url, "ml", name) == 30, 20, "3 full batches stored")
        wait_until(lambda: client.stats.batches_acked == 3, 5, "3 batches acknowledged")
        assert client.stats.pending == 5  # the partial batch waits for its trigger
        client.flush(timeout=20)
        assert client.stats.batches_acked == 4
    assert count_events(url, "ml", name) == 35


def test_partial_batch_goes_out_after_flush_interval(
    stack: Stack, tenant: tuple[str, str, str]
) -> None:
    name, client_id, secret = tenant
    url = stack_mongodb_url(stack)
    flush_interval = 0.5
    with AegisClient(
        stack.grpc_target, client_id, secret, batch_size=1000, flush_interval=flush_interval
    ) as client:
        started = time.monotonic()
        ml_ids, llm_ids = log_some(client, 5, 3)
        logging_took = time.monotonic() - started
        # No flush(): only the time trigger can send these.
        wait_until(lambda: count_events(url, "ml", name) > 0, 20, "the first batch stored")
        first_stored_after = time.monotonic() - started
        wait_until(lambda: client.stats.pending == 0, 20, "every event acknowledged")
        batches = client.stats.batches_acked
    # Not before the oldest event has waited flush_interval...
    assert first_stored_after >= flush_interval
    # ...and then one batch per kind, holding every event logged within that interval (if
    # this thread stalled longer than flush_interval while logging, at most one per event).
    assert 2 <= batches <= (2 if logging_took < flush_interval else 8)
    assert sorted(stored_event_ids(url, "ml", name)) == sorted(ml_ids)
    assert sorted(stored_event_ids(url, "llm", name)) == sorted(llm_ids)


def test_drop_policy_keeps_what_fits_and_counts_the_rest(backend: Backend) -> None:
    # The collector is not started yet: nothing can leave the buffer.
    client = AegisClient(
        backend.target,
        "test-admin",
        "test-admin-secret-0123456789",
        max_buffer=50,
        batch_size=10,
        on_full="drop",
        flush_interval=0.05,
        **FAST,
    )
    try:
        ids = [client.log_ml(model_type="t", model_id="m") for _ in range(80)]
        assert (client.stats.logged, client.stats.dropped, client.stats.pending) == (50, 30, 50)
        backend.start_collector()
        client.flush(timeout=30)
        assert client.stats.accepted == 50
        assert client.stats.dropped == 30
    finally:
        client.close()
    assert sorted(stored_event_ids(backend.db.url, "ml", "default")) == sorted(ids[:50])


def test_block_policy_waits_for_room_then_gives_up(backend: Backend, unreachable: str) -> None:
    client = AegisClient(
        backend.target,
        "test-admin",
        "test-admin-secret-0123456789",
        max_buffer=20,
        batch_size=10,
        on_full="block",
        block_timeout=None,
        flush_interval=0.05,
        **FAST,
    )
    ids: list[str] = []
    producer = threading.Thread(
        target=lambda: ids.extend(client.log_ml(model_type="t", model_id="m") for _ in range(30))
    )
    try:
        producer.start()
        wait_until(lambda: client.stats.logged == 20, 10, "the buffer filled up")
        producer.join(0.5)
        assert producer.is_alive(), "log_ml should block while the buffer is full"
        backend.start_collector()
        producer.join(30)
        assert not producer.is_alive()
        client.flush(timeout=30)
        assert (client.stats.accepted, client.stats.dropped) == (30, 0)
    finally:
        client.close()
    assert sorted(stored_event_ids(backend.db.url, "ml", "default")) == sorted(ids)

    stuck = AegisClient(unreachable, "x", "y", max_buffer=10, batch_size=10, block_timeout=0.3)
    try:
        for _ in range(10):
            stuck.log_llm(model_name="m")
        started = time.monotonic()
        with pytest.raises(BufferFullError):
            stuck.log_llm(model_name="m")
        assert time.monotonic() - started >= 0.3
        assert stuck.stats.dropped == 1
        with pytest.raises(TimeoutError):
            stuck.flush(timeout=0.2)
    finally:
        stuck.close(timeout=0.1)
    assert stuck.stats.dropped == 11  # closing gives up what was never delivered


def test_rest_transport_stores_the_same(stack: Stack, tenant: tuple[str, str, str]) -> None:
    name, client_id, secret = tenant
    # Only the size trigger and flush() cut batches, however slowly the log calls run.
    with AegisClient(
        None,
        client_id,
        secret,
        transport="rest",
        rest_url=stack.http,
        batch_size=40,
        flush_interval=600,
    ) as client:
        ml_ids, llm_ids = log_some(client, 150, 90)
        client.flush(timeout=30)
        stats = client.stats
    assert stats.transport == "rest"
    assert (stats.accepted, stats.batches_acked) == (240, 4 + 3)
    url = stack_mongodb_url(stack)
    assert sorted(stored_event_ids(url, "ml", name)) == sorted(ml_ids)
    assert sorted(stored_event_ids(url, "llm", name)) == sorted(llm_ids)


def test_rest_fallback_when_grpc_is_unreachable(
    stack: Stack, tenant: tuple[str, str, str], unreachable: str
) -> None:
    name, client_id, secret = tenant
    with AegisClient(
        unreachable,
        client_id,
        secret,
        rest_url=stack.http,
        fallback_after=2,
        flush_interval=0.05,
        **FAST,
    ) as client:
        ml_ids, _ = log_some(client, 25, 0)
        client.flush(timeout=30)
        stats = client.stats
    assert stats.fallbacks == 1
    assert stats.transport == "rest"
    assert stats.errors["UNAVAILABLE"] >= 2
    assert sorted(stored_event_ids(stack_mongodb_url(stack), "ml", name)) == sorted(ml_ids)


def test_sdk_returns_to_grpc_after_fallback_period(tmp_path: pathlib.Path) -> None:
    """gRPC unreachable → REST for fallback_period → gRPC again, while the application keeps
    logging. Two collectors share one database: A behind the gateway (REST's way in), B on
    the SDK's gRPC target, started only after the SDK has fallen back."""
    backend = Backend(tmp_path).start_collector()  # collector A
    gateway, http_port = start_gateway(backend.target, tmp_path / "gateway.log")
    grpc_port = fixed_port()  # nothing listens here until collector B starts
    b_dir = tmp_path / "collector-b"
    b_dir.mkdir()
    b_env = collector_env(backend.db.url, b_dir)
    b_env["GRPC_PORT"] = str(grpc_port)
    collector_b = None
    period = 2.0
    client = AegisClient(
        f"127.0.0.1:{grpc_port}",
        ADMIN_ID,
        ADMIN_SECRET,
        rest_url=f"http://127.0.0.1:{http_port}",
        fallback_after=2,
        fallback_period=period,
        flush_interval=0.05,
        **FAST,
    )
    try:
        started = time.monotonic()
        ids = [client.log_ml(model_type="t", model_id="m") for _ in range(10)]
        client.flush(timeout=30)
        on_rest = client.stats
        try:
            collector_b, _ = start_collector(b_env, b_dir / "collector.log")
        except RuntimeError as exc:
            raise port_taken_error("collector B", grpc_port, b_dir / "collector.log") from exc

        def back_on_grpc() -> bool:  # an application that keeps logging meanwhile
            ids.append(client.log_ml(model_type="t", model_id="m"))
            return client.stats.transport == "grpc"

        wait_until(back_on_grpc, 60, "the SDK is back on gRPC")
        returned_after = time.monotonic() - started
        gateway.stop()  # from here on only gRPC can deliver
        ids += [client.log_ml(model_type="t", model_id="m") for _ in range(10)]
        client.flush(timeout=30)
        stats = client.stats
        stored = stored_event_ids(backend.db.url, "ml", "default")
    finally:
        client.close()
        gateway.stop()
        if collector_b is not None:
            collector_b.stop()
        backend.stop()
    assert (on_rest.transport, on_rest.fallbacks, on_rest.accepted) == ("rest", 1, 10)
    assert on_rest.errors["UNAVAILABLE"] >= 2
    assert returned_after >= period, "gRPC was tried again before fallback_period was over"
    assert stats.transport == "grpc"
    assert stats.accepted == len(ids)
    assert sorted(stored) == sorted(ids)


def test_batches_stay_within_max_batch_bytes(stack: Stack, tenant: tuple[str, str, str]) -> None:
    name, client_id, secret = tenant
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def event(i: int) -> dict[str, object]:
        # Every event serializes to the same size: fixed-width id, fixed timestamp.
        return {
            "model_type": "t",
            "model_id": "m",
            "event_id": f"bytes-{i:06d}",
            "timestamp": when,
            "metadata": {"note": "x" * 1000},
        }

    size = ml_event(**event(0)).ByteSize() + 6  # + its framing in the batch (batch.py)
    assert size == ml_event(**event(99)).ByteSize() + 6
    # Room for exactly 7 events; batch_size and flush_interval never cut a batch here.
    limit = 7 * size + size // 2
    with AegisClient(
        stack.grpc_target,
        client_id,
        secret,
        batch_size=500,
        max_batch_bytes=limit,
        flush_interval=600,
    ) as client:
        ids = [client.log_ml(**event(i)) for i in range(70)]  # type: ignore[arg-type]
        client.flush(timeout=30)
        stats = client.stats
    assert (stats.accepted, stats.batches_acked) == (70, 10)  # one batch without the limit
    assert sorted(stored_event_ids(stack_mongodb_url(stack), "ml", name)) == sorted(ids)


def test_sync_client_is_shared_by_many_threads(stack: Stack, tenant: tuple[str, str, str]) -> None:
    name, client_id, secret = tenant
    threads, per_thread = 8, 250
    start = threading.Barrier(threads)
    logged: list[list[str]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []
    with AegisClient(stack.grpc_target, client_id, secret, batch_size=64) as client:

        def work(n: int) -> None:
            try:
                start.wait(timeout=30)
                for i in range(per_thread):
                    if i % 2:
                        logged[n].append(client.log_llm(model_name=f"t{n}", tokens_used=1))
                    else:
                        logged[n].append(client.log_ml(model_type="t", model_id=f"t{n}"))
                    if i % 100 == 99:
                        client.flush(timeout=60)  # flushes from several threads at once, too
            except BaseException as exc:
                failures.append(exc)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        client.flush(timeout=60)
        stats = client.stats
    assert not failures, failures
    total = threads * per_thread
    assert (stats.logged, stats.accepted, stats.duplicates, stats.dropped) == (total, total, 0, 0)
    every = [event_id for ids in logged for event_id in ids]
    assert len(set(every)) == total, "two log calls returned the same event id"
    url = stack_mongodb_url(stack)
    stored = stored_event_ids(url, "ml", name) + stored_event_ids(url, "llm", name)
    assert len(stored) == len(set(stored)) == total
    assert set(stored) == set(every)


def test_rejected_events_are_counted_not_retried(
    stack: Stack, tenant: tuple[str, str, str]
) -> None:
    name, client_id, secret = tenant
    with AegisClient(stack.grpc_target, client_id, secret) as client:
        good = [client.log_ml(model_type="t", model_id="m") for _ in range(10)]
        client.log_ml(model_type="t", model_id="m", prediction_count=-1)
        client.log_ml(model_type="t", model_id="m", metadata={"$where": "x"})
        client.flush(timeout=30)
        stats = client.stats
    assert (stats.accepted, stats.rejected, stats.dropped, stats.retries) == (10, 2, 0, 0)
    assert sorted(stored_event_ids(stack_mongodb_url(stack), "ml", name)) == sorted(good)


def test_a_batch_size_past_the_collectors_limit_is_capped(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The collector refuses a batch of more than 10,000 events (INVALID_ARGUMENT, final):
    with batch_size=20,000 the client sends batches of 10,000, so nothing is dropped. A
    private stack whose database requests may take long: a 10,000-event transaction can
    outlast the default 1.5 s on a loaded machine, which is not what this test is about."""
    stack = start_stack(tmp_path, MONGODB_REQUEST_TIMEOUT_MS="120000")
    try:
        for transport in ("grpc", "rest"):
            name = f"sdk-{uuid.uuid4().hex[:12]}"
            client_id, secret = grpc_client_for(stack.grpc_target, name)
            with AegisClient(
                stack.grpc_target,
                client_id,
                secret,
                transport=transport,  # type: ignore[arg-type]
                rest_url=stack.http,
                batch_size=20_000,
                max_batch_bytes=2 * 1024 * 1024,  # 12,000 of these events fit in one batch
                flush_interval=600,
                request_timeout=120,
            ) as client:
                assert client.config.batch_size == 10_000
                ids = [client.log_ml(model_type="t", model_id="m") for _ in range(12_000)]
                client.flush(timeout=240)
                stats = client.stats
            assert (stats.accepted, stats.dropped, stats.batches_acked) == (12_000, 0, 2)
            stored = stored_event_ids(stack_mongodb_url(stack), "ml", name)
            assert sorted(stored) == sorted(ids), transport
    finally:
        assert stack.child.stop() == 0
    assert "batches of at most 10000 events are sent" in caplog.text


def test_the_sdks_batch_limit_is_the_collectors() -> None:
    """The SDK cannot import the collector (it installs without it): the two constants are
    kept equal here."""
    from aegis_sdk.config import MAX_BATCH_EVENTS
    from collector.ingest.batch import MAX_BATCH

    assert MAX_BATCH_EVENTS == MAX_BATCH


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_refused_batches_are_dropped_and_counted(
    stack: Stack, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A client without the "ingest" scope: PERMISSION_DENIED, which no retry can fix.
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    client_id, secret = grpc_client_for(stack.grpc_target, name, scopes=("read",))
    with AegisClient(
        stack.grpc_target,
        client_id,
        secret,
        transport=transport,  # type: ignore[arg-type]
        rest_url=stack.http,
        batch_size=10,
        **FAST,
    ) as client:
        log_some(client, 30, 0)
        client.flush(timeout=30)  # settles: dropped batches are not waited for
        stats = client.stats
    assert (stats.dropped, stats.accepted, stats.pending) == (30, 0, 0)
    assert stats.errors["PERMISSION_DENIED"] >= 3  # each batch is pinned down and dropped
    assert "dropped, not retried" in caplog.text
    assert count_events(stack_mongodb_url(stack), "ml", name) == 0


def test_close_and_exit_deliver_what_is_buffered(
    stack: Stack, tenant: tuple[str, str, str]
) -> None:
    name, client_id, secret = tenant
    url = stack_mongodb_url(stack)
    with AegisClient(stack.grpc_target, client_id, secret, flush_interval=600) as client:
        log_some(client, 40, 0)
    assert count_events(url, "ml", name) == 40
    # A script that never calls close(): the atexit hook delivers on the way out.
    script = (
        "import sys\n"
        "from aegis_sdk import AegisClient\n"
        "client = AegisClient(sys.argv[1], sys.argv[2], sys.argv[3], flush_interval=600)\n"
        "for _ in range(25):\n"
        "    client.log_llm(model_name='m', tokens_used=1)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, stack.grpc_target, client_id, secret],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert count_events(url, "llm", name) == 25


# What each README example logs: (ML events, LLM events).
README_EXAMPLE_EVENTS = {"sync": (1, 1), "async": (0, 10)}


@pytest.mark.parametrize("name", list(README_EXAMPLE_EVENTS))
def test_readme_examples_run(stack: Stack, tenant: tuple[str, str, str], name: str) -> None:
    examples = dict(zip(README_EXAMPLE_EVENTS, readme_sdk_examples(), strict=True))
    tenant_name, client_id, secret = tenant
    env = dict(
        os.environ,
        AEGIS_TARGET=stack.grpc_target,
        AEGIS_REST_URL=stack.http,
        AEGIS_CLIENT_ID=client_id,
        AEGIS_CLIENT_SECRET=secret,
    )
    run = subprocess.run(
        [sys.executable, "-c", examples[name]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    url = stack_mongodb_url(stack)
    stored = (count_events(url, "ml", tenant_name), count_events(url, "llm", tenant_name))
    assert stored == README_EXAMPLE_EVENTS[name]
    # It printed its stats after flush(): everything it logged was acknowledged as new.
    for printed in (f"accepted={sum(stored)},", "duplicates=0,", "dropped=0,", "pending=0,"):
        assert printed in run.stdout, run.stdout


def test_token_is_refreshed_before_it_expires(tmp_path: pathlib.Path) -> None:
    backend = Backend(tmp_path, JWT_EXPIRATION="3").start_collector()
    try:
        with AegisClient(
            backend.target,
            ADMIN_ID,
            ADMIN_SECRET,
            batch_size=20,
            flush_interval=0.05,
            **FAST,
        ) as client:
            ids: list[str] = []

            def keep_logging() -> bool:
                ids.extend(client.log_llm(model_name="m", tokens_used=1) for _ in range(5))
                client.flush(timeout=30)
                return client.stats.logins >= 4

            # A steady trickle until the token has been replaced three times (at 80 % of its
            # 3 s lifetime: about 7 s), however long that takes on this machine.
            wait_until(keep_logging, 90, "three token refreshes")
            stats = client.stats
        # Replaced as planned, never because the server refused it: a client that kept its
        # token would be refused (UNAUTHENTICATED) and log in again as a reauthentication.
        assert stats.reauthentications == 0, "no request may go out with an expired token"
        assert stats.errors.get("UNAUTHENTICATED", 0) == 0
        assert stats.accepted == len(ids)
        assert sorted(stored_event_ids(backend.db.url, "llm", "default")) == sorted(ids)
    finally:
        backend.stop()


def test_secret_and_token_stay_out_of_logs(
    stack: Stack, tenant: tuple[str, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, client_id, secret = tenant
    caplog.set_level(logging.DEBUG)
    wrong = AegisClient(stack.grpc_target, client_id, "not-" + secret, **FAST)
    wrong.log_ml(model_type="t", model_id="m")
    wait_until(lambda: wrong.stats.errors.get("UNAUTHENTICATED", 0) >= 2, 20, "login refused")
    wrong.close(timeout=0.1)
    with AegisClient(stack.grpc_target, client_id, secret) as right:
        right.log_ml(model_type="t", model_id="m")
        right.flush(timeout=30)
        assert secret not in repr(right)
    assert "refused client" in caplog.text
    assert secret not in caplog.text
    assert "eyJ" not in caplog.text  # how every JWT (base64 of '{"') begins


def test_misspelt_or_missing_fields_raise_in_the_caller() -> None:
    """log_* take **fields; a typo must fail loudly, as a plain signature would."""
    with pytest.raises(TypeError, match="model_nme"):
        ml_event(model_type="t", model_id="m", model_nme="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="model_name"):
        llm_event(tokens_used=3)  # type: ignore[call-arg]
    assert llm_event(model_name="g", tokens_used=3).tokens_used == 3
