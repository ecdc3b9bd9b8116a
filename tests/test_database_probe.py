"""The health probe tells a database that is down from one that dropped a connection.

While the probe says "down", every write is refused at once with UNAVAILABLE. A fresh-clone
run saw that verdict on a live database: a ping that failed with something other than a
timeout, once, refused the writes of a whole RPC. The failpoint below makes the database close
the probe's connection exactly once, as a real one (or the network) can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from collector.store.storage import Storage, open_storage
from tests.procs import Database

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def storage(failpoint_database: Database) -> AsyncIterator[Storage]:
    async with open_storage(failpoint_database.url, "probe", timeout_ms=2000) as opened:
        yield opened


async def _close_next_pings(storage: Storage, times: int) -> None:
    await storage.client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"times": times},
            "data": {"failCommands": ["ping"], "closeConnection": True},
        }
    )


async def test_one_dropped_connection_is_not_a_database_down(storage: Storage) -> None:
    await _close_next_pings(storage, times=1)
    assert await storage.probe(2.0)
    assert storage.available


async def test_a_database_that_keeps_failing_the_ping_is_down(storage: Storage) -> None:
    await _close_next_pings(storage, times=2)
    assert not await storage.probe(2.0)
    assert not storage.available
    assert await storage.probe(2.0)  # the failpoint is spent: answering again
    assert storage.available


async def test_a_killed_database_is_down(failpoint_database: Database, storage: Storage) -> None:
    failpoint_database.kill()
    assert not await storage.probe(1.0)
    assert not storage.available
