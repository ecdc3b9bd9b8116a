"""`python -m bench.instructions`'s in-process ingest (what it runs under callgrind) stores every
event and span it is given, in each mode: a harness that stored nothing would count the
instructions of failing. Without valgrind: the counts themselves are not a test's business."""

from __future__ import annotations

import pytest

from bench.instructions import BATCH, _ingest


@pytest.mark.parametrize("mode", ["grpc", "rest", "otlp"])
async def test_the_counted_ingest_stores_what_it_is_given(mode: str) -> None:
    assert await _ingest(mode, 2, 3) == 2 * BATCH
