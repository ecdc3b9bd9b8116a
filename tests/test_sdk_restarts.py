"""The SDK across collector restarts, the way the loss was measured: one batch in flight
(`max_in_flight=1`), the collector stopped mid-stream by SIGTERM and SIGKILL again and again.

A stream cut mid-write can end as INTERNAL ("Internal error from Core", grpc/grpc#36066) or
UNKNOWN rather than the collector's UNAVAILABLE; none of those says anything about the batch,
so the SDK must resend it. Every logged event must be stored exactly once, and none dropped.
"""

from __future__ import annotations

import pathlib
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from aegis_sdk import AegisClient
from tests.procs import ADMIN_ID, ADMIN_SECRET, Backend, stored_event_ids, wait_until

pytestmark = pytest.mark.timeout(240)

EVENTS = 12_000
# SIGTERM 8 times and SIGKILL twice, as measured.
STOPS = [signal.SIGTERM] * 4 + [signal.SIGKILL] + [signal.SIGTERM] * 4 + [signal.SIGKILL]
DOWN_S = 0.5  # how long the collector stays down: the SDK retries against nothing meanwhile


@pytest.fixture
def backend(tmp_path: pathlib.Path) -> Iterator[Backend]:
    running = Backend(tmp_path, SHUTDOWN_GRACE_S="2").start_collector()
    yield running
    running.stop()


def test_restarts_lose_and_double_nothing_with_one_batch_in_flight(backend: Backend) -> None:
    client = AegisClient(
        backend.target,
        ADMIN_ID,
        ADMIN_SECRET,
        batch_size=20,
        max_in_flight=1,
        max_buffer=100_000,
        flush_interval=0.05,
        initial_backoff=0.05,
        max_backoff=0.5,
    )
    ids: list[str] = []
    stops_done = threading.Event()

    def produce() -> None:
        # Paced so that events keep arriving through every restart (40 every 0.1 s), and at
        # least EVENTS in all.
        while not stops_done.is_set() or len(ids) < EVENTS:
            ids.extend(
                client.log_llm(model_name=f"m{i % 4}", tokens_used=i % 50 + 1, cost=0.001)
                for i in range(40)
            )
            if not stops_done.is_set():
                time.sleep(0.1)

    producer = threading.Thread(target=produce)
    stopped_mid_stream = 0
    try:
        producer.start()
        for sig in STOPS:
            assert backend.collector is not None
            acked = client.stats.batches_acked
            # Mid-stream: acks are flowing, and a batch is out awaiting its ack.
            wait_until(lambda a=acked: client.stats.batches_acked > a, 60, "acks flowing")
            stats = client.stats
            stopped_mid_stream += stats.batches_sent > stats.batches_acked
            failures = sum(stats.errors.values())
            backend.collector.proc.send_signal(sig)
            backend.collector.proc.wait(timeout=30)
            wait_until(
                lambda f=failures: sum(client.stats.errors.values()) > f,
                30,
                "the SDK notices the collector is gone",
            )
            time.sleep(DOWN_S)
            backend.start_collector()
        stops_done.set()
        producer.join(timeout=120)
        client.flush(timeout=120)
        stats = client.stats
    finally:
        client.close()
    assert stopped_mid_stream >= len(STOPS) // 2, "most stops should land with a batch out"
    assert stats.dropped == 0, f"dropped {stats.dropped} events; errors seen: {stats.errors}"
    assert stats.logged == len(ids) >= EVENTS
    stored = stored_event_ids(backend.db.url, "llm", "default")
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(ids), f"{len(set(ids) - set(stored))} logged events never stored"
    assert stats.accepted + stats.duplicates == stats.acked == len(ids)
    assert stats.retries >= len(STOPS)
