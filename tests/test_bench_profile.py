"""`python -m bench --profile`'s reading of py-spy's raw samples: self time per function, idle
threads' waits left out."""

from __future__ import annotations

import pathlib

from bench.profile import top_self


def test_self_time_counts_the_innermost_frame_and_leaves_waits_out(tmp_path: pathlib.Path) -> None:
    (tmp_path / "grpc-1.txt").write_text(
        "<module> (collector/__main__.py:1);ingest (collector/ingest/batch.py:60);"
        "_metadata (collector/ingest/validation.py:80) 30\n"
        "<module> (collector/__main__.py:1);ingest (collector/ingest/batch.py:60) 10\n"
        # The thread pool waiting on its queue, the event loop in epoll: idle.
        "Thread.run (threading.py:971);PyThread_acquire_lock_timed (libpython3.11.so.1.0);"
        "0x7f56ba2a3f16 (libc.so.6) 500\n"
        "_run_once (asyncio/base_events.py:1);select_epoll_poll_impl (selectmodule.c:1598);"
        "epoll_wait (libc.so.6) 400\n"
        "malformed line\n"
    )
    (tmp_path / "grpc-2.txt").write_text(
        "<module> (collector/__main__.py:1);_metadata (collector/ingest/validation.py:80) 10\n"
    )
    (tmp_path / "rest-1.txt").write_text("<module> (x.py:1);other (y.py:2) 99\n")
    top = top_self(tmp_path, "grpc")
    assert top.samples == 50
    assert top.functions == [
        ("_metadata (collector/ingest/validation.py)", 0.8),
        ("ingest (collector/ingest/batch.py)", 0.2),
    ]
    assert top_self(tmp_path, "otlp").samples == 0
