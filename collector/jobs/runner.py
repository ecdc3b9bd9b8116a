"""Runs jobs on an interval under APScheduler, each under its lease, and records every run.

Every collector schedules every job. At each tick a replica tries the job's lease: the holder
runs the job; the others skip. The holder renews its leases in the background for as long as
it lives (during runs and between them), so a job stays on one replica instead of wandering;
when the holder dies its leases expire and the next replica to tick takes them over.

Each run is recorded in `job_runs`: {job, holder, started_at, finished_at, status, error,
result}. A failing job is logged and recorded, and the scheduler carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from bson import ObjectId
from pymongo.errors import PyMongoError

from collector.jobs.leases import Lease, utcnow
from collector.prometheus import JOB_RUNS
from collector.store.storage import Storage

log = logging.getLogger(__name__)

JobFunction = Callable[[], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: JobFunction


def default_holder() -> str:
    """Unique per process: a restarted collector is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    def __init__(
        self,
        storage: Storage,
        *,
        lease_s: float,
        holder: str | None = None,
        stop_grace_s: float = 10.0,
    ) -> None:
        self._storage = storage
        self._lease_s = lease_s
        self.holder = holder or default_holder()
        self._stop_grace_s = stop_grace_s
        self._jobs: dict[str, Job] = {}
        self._leases: dict[str, Lease] = {}
        self._held: set[str] = set()
        self._running: set[asyncio.Task[Any]] = set()
        self._busy: set[str] = set()  # jobs with a scheduled run under way

    def add(self, name: str, interval_s: float, run: JobFunction) -> None:
        """Schedule `run` every `interval_s` seconds; 0 leaves the job off on this replica."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already registered")
        if interval_s > 0:
            self._jobs[name] = Job(name, interval_s, run)
            self._leases[name] = Lease(self._storage.job_leases, name, self.holder, self._lease_s)
            for outcome in ("ok", "failed"):
                JOB_RUNS.labels(name, outcome)  # job names are ours, never a caller's

    @property
    def jobs(self) -> list[str]:
        return sorted(self._jobs)

    async def run_now(self, name: str) -> bool:
        """One tick of a job, as the scheduler does it: True if we held the lease and ran it."""
        return await self._tick(self._jobs[name])

    async def _scheduled(self, job: Job) -> None:
        """A tick from the scheduler. A run that outlasts its interval (the rollup job's may,
        up to its budget) makes the next tick a no-op, said at DEBUG: APScheduler's own
        max_instances would say it as a WARNING on every tick."""
        if job.name in self._busy:
            log.debug("job %s: still running; tick skipped", job.name)
            return
        self._busy.add(job.name)
        try:
            await self._tick(job)
        finally:
            self._busy.discard(job.name)

    async def _tick(self, job: Job) -> bool:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            try:
                if not await self._leases[job.name].acquire():
                    self._held.discard(job.name)
                    return False
            except PyMongoError as exc:
                log.warning("job %s: cannot reach the lease (%s); skipped", job.name, exc)
                return False
            self._held.add(job.name)
            await self._run(job)
            return True
        finally:
            self._running.discard(task)

    async def _run(self, job: Job) -> None:
        run_id = ObjectId()
        record: dict[str, Any] = {"job": job.name, "holder": self.holder, "started_at": utcnow()}
        with contextlib.suppress(PyMongoError):
            await self._storage.job_runs.insert_one({"_id": run_id, **record})
        try:
            with self._storage.background_deadline():
                result = await job.run()
            update: dict[str, Any] = {"status": "ok", "result": dict(result or {})}
        except Exception as exc:
            # A failing job must not stop the scheduler: log it, record it, run again next tick.
            log.exception("job %s failed", job.name)
            update = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        JOB_RUNS.labels(job.name, update["status"]).inc()
        update["finished_at"] = utcnow()
        try:
            await self._storage.job_runs.update_one({"_id": run_id}, {"$set": update})
        except PyMongoError as exc:
            log.warning("job %s: run not recorded (%s)", job.name, exc)

    async def _keep_leases(self, stopping: asyncio.Event) -> None:
        """Renew the leases we hold, three times per lease duration, until stopped."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._lease_s / 3)
            if stopping.is_set():
                return
            for name in sorted(self._held):
                try:
                    if not await self._leases[name].renew():
                        self._held.discard(name)
                        log.warning("job %s: lease lost to another collector", name)
                except PyMongoError as exc:
                    log.warning("job %s: lease not renewed (%s)", name, exc)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[JobRunner]:
        """Run the registered jobs until the block ends. The first tick of each is at once."""
        # APScheduler logs two INFO lines per run; our own records and logs say more.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = AsyncIOScheduler(timezone=dt.UTC)
        for job in self._jobs.values():
            scheduler.add_job(
                self._scheduled,
                "interval",
                args=[job],
                id=job.name,
                name=f"job {job.name}",
                seconds=job.interval_s,
                next_run_time=utcnow(),
                max_instances=2,  # so that _scheduled, not APScheduler, skips a busy tick
                coalesce=True,
                misfire_grace_time=None,
            )
        stopping = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(stopping))
        scheduler.start()
        log.info("jobs %s scheduled (holder %s)", self.jobs, self.holder)
        try:
            yield self
        finally:
            scheduler.pause()
            stopping.set()
            await keeper
            await self._stop_runs()
            scheduler.shutdown(wait=False)
            for name in sorted(self._held):
                with contextlib.suppress(PyMongoError):
                    await self._leases[name].release()
            self._held.clear()

    async def _stop_runs(self) -> None:
        """Let running jobs finish within the grace period; cancel what is left."""
        if not self._running:
            return
        _, late = await asyncio.wait(set(self._running), timeout=self._stop_grace_s)
        for task in late:
            log.warning("job still running at shutdown: cancelled")
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=self._stop_grace_s)
