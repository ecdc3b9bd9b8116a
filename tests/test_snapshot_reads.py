"""A read that meets concurrent writes is busy, not down.

Dashboard and explore reads run in one snapshot transaction (Storage.snapshot). Under load a
statement of such a read can fail with a write conflict (WiredTiger rolls the reader back); a
fresh-clone run saw `GET /dashboard/llm-metrics` answer 503 "unavailable" on a live database
under double load. The failpoint below makes the database answer the reads' `find` with
WriteConflict, as a busy one can.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from pymongo.asynchronous.client_session import AsyncClientSession

from collector.errors import AegisError, from_exception
from collector.store.storage import READ_ATTEMPTS, Storage, open_storage
from tests.procs import Database

pytestmark = pytest.mark.timeout(120)
WRITE_CONFLICT = 112


async def _conflict_on_find(storage: Storage, mode: Any) -> None:
    await storage.client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": mode,
            "data": {
                "failCommands": ["find"],
                "errorCode": WRITE_CONFLICT,
                "errorLabels": ["TransientTransactionError"],
            },
        }
    )


async def _read(storage: Storage) -> Any:
    things = storage.client["snapshot"]["things"]

    async def read(session: AsyncClientSession) -> Any:
        return await things.find_one({"_id": 1}, session=session)

    return await storage.snapshot(read)


async def test_a_read_that_conflicts_several_times_still_gets_its_answer(
    failpoint_database: Database,
) -> None:
    """More conflicts in a row than a write transaction tries (5): a read goes on until its
    deadline (here a generous one, so that a loaded machine's round trips do not count)."""
    async with open_storage(
        failpoint_database.url, "snapshot", timeout_ms=2000, request_timeout_ms=30_000
    ) as storage:
        await storage.client["snapshot"]["things"].insert_one({"_id": 1, "v": "x"})
        await _conflict_on_find(storage, {"times": 8})
        assert READ_ATTEMPTS > 8
        assert await _read(storage) == {"_id": 1, "v": "x"}


async def test_a_read_that_keeps_conflicting_is_refused_as_busy(
    failpoint_database: Database,
) -> None:
    """RESOURCE_EXHAUSTED (HTTP 429) with a Retry-After once the deadline has passed, never
    UNAVAILABLE (503): the database answers, it is busy."""
    async with open_storage(
        failpoint_database.url, "snapshot", timeout_ms=2000, request_timeout_ms=1000
    ) as storage:
        await _conflict_on_find(storage, "alwaysOn")
        started = time.monotonic()
        with pytest.raises(AegisError) as refused:
            await _read(storage)
        assert time.monotonic() - started < 10
        await _conflict_on_find(storage, "off")
        error = from_exception(refused.value)
        assert error is not None
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.retry_after is not None and error.retry_after > 0
        assert await _read(storage) is None
