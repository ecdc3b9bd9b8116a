"""Job leases: one document per job in `job_leases`, so that with several collectors on one
database each job runs on one of them at a time.

A lease is {_id: job, holder, expires_at, acquired_at, renewed_at, generation}. It is taken with
one find_one_and_update: by its holder at any time, by anyone once it has expired. The holder
renews it while it lives; a holder that dies (SIGKILL, crash, lost network) stops renewing and
another collector takes the job over after at most the lease's duration.

Expiry uses the collectors' clocks, so replicas' clocks must agree to well within the lease
duration (NTP does). Whatever a job writes must stay correct even if two holders overlap
briefly (a holder paused past its expiry): the lease saves work, it is not the only guard.
"""

from __future__ import annotations

import datetime as dt
import logging

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from collector.store.storage import Document

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Lease:
    def __init__(
        self, leases: AsyncCollection[Document], job: str, holder: str, duration_s: float
    ) -> None:
        self._leases = leases
        self.job = job
        self.holder = holder
        self._duration = dt.timedelta(seconds=duration_s)

    async def acquire(self) -> bool:
        """Take the lease if it is free or expired, or extend it if we hold it."""
        now = utcnow()
        try:
            before = await self._leases.find_one_and_update(
                {"_id": self.job, "$or": [{"holder": self.holder}, {"expires_at": {"$lte": now}}]},
                {
                    "$set": {
                        "holder": self.holder,
                        "expires_at": now + self._duration,
                        "renewed_at": now,
                    }
                },
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            # The document exists and did not match: another holder's lease is still valid.
            return False
        if before is None or before.get("holder") != self.holder:
            previous = before.get("holder") if before else None
            await self._leases.update_one(
                {"_id": self.job, "holder": self.holder},
                {"$set": {"acquired_at": now}, "$inc": {"generation": 1}},
            )
            log.info(
                "job %s: lease taken by %s (previous holder %s)", self.job, self.holder, previous
            )
        return True

    async def renew(self) -> bool:
        """Extend the lease; False if it is no longer ours (it expired and was taken over)."""
        now = utcnow()
        result = await self._leases.update_one(
            {"_id": self.job, "holder": self.holder},
            {"$set": {"expires_at": now + self._duration, "renewed_at": now}},
        )
        return result.matched_count == 1

    async def release(self) -> None:
        """Let another collector take the job at its next tick instead of after expiry."""
        await self._leases.update_one(
            {"_id": self.job, "holder": self.holder}, {"$set": {"expires_at": utcnow()}}
        )
