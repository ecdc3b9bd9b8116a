"""Which database sessions this process runs transactions in, written down so that the next
collector can end them if this one dies without doing so.

A transaction left open by a killed client keeps the documents it wrote locked until the
server expires it (60 s on SecantusDB, which refuses to change it; MongoDB's
`transactionLifetimeLimitSeconds` defaults to 60 too), and every retried batch touching them
meets WriteConflict meanwhile. `killSessions` with the session ids aborts such transactions at
once and touches no other client's sessions, so it is safe on a MongoDB shared by several
collectors, unlike `killAllSessions`. But a session id is a random UUID known only to the
driver of the process that died, hence this ledger.

One file per process in DATA_DIR/sessions, one session id (hex) per line, appended before the
session's first command is sent. The process holds an exclusive flock on its file for its
whole life, and the kernel drops it however the process ends: a file whose lock can be taken
belongs to a process that is gone. Its successor (any collector started on the same DATA_DIR)
claims such files, ends their sessions, and deletes them. A collector whose DATA_DIR is lost
with it (a container without a volume) leaves no ledger: its successor's retries are then
answered UNAVAILABLE with a retry delay until the server expires the dead transactions.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pathlib
import time
import uuid
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

SUFFIX = ".lsids"
# Ids of sessions unused for this long are dropped when the file is compacted: no transaction
# of ours lasts longer (a background run's deadline is 300 s) and the server expires an
# abandoned one after 60 s.
FORGET_AFTER_S = 600.0
COMPACT_AT = 256


def _locked(path: pathlib.Path, flags: int) -> int | None:
    """A descriptor of `path` holding its exclusive lock, or None when another holds it."""
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim_orphans(directory: pathlib.Path) -> list[bytes]:
    """The session ids recorded by processes that are gone; their ledgers are deleted."""
    ids: set[bytes] = set()
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            try:
                fd = _locked(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # claimed by another collector starting at the same time
            if fd is None:
                continue  # a live process
            try:
                with os.fdopen(os.dup(fd)) as ledger:
                    for line in ledger:
                        with contextlib.suppress(ValueError):
                            ids.add(bytes.fromhex(line.strip()))
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
    return sorted(ids)


class SessionLedger:
    """This process's ledger: open, `record` each session before use, `close` at exit."""

    def __init__(self, directory: pathlib.Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        fd = _locked(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        assert fd is not None, "a new file cannot be locked by anyone else"
        self._fd = fd
        self._last_used: dict[bytes, float] = {}
        self._failing = False

    def record(self, session_id: bytes) -> None:
        """Note a session before its first command: written through to the file at once,
        so it is there even if the process is killed right after. Best effort: a write that
        fails is logged (once) and never fails the transaction."""
        known = session_id in self._last_used
        self._last_used[session_id] = time.monotonic()
        if known:
            return
        try:
            if len(self._last_used) > COMPACT_AT:
                self._compact()
            else:
                os.write(self._fd, session_id.hex().encode() + b"\n")
        except OSError as exc:
            del self._last_used[session_id]  # tried again at its next use
            if not self._failing:
                log.warning("cannot write the session ledger %s: %s", self.path, exc)
            self._failing = True
        else:
            self._failing = False

    def _compact(self) -> None:
        """Rewrite the file with the recently used ids only. The new file is locked before
        it takes the ledger's name, so no claimant ever sees it unlocked."""
        cutoff = time.monotonic() - FORGET_AFTER_S
        self._last_used = {s: t for s, t in self._last_used.items() if t >= cutoff}
        fresh = self.path.with_suffix(".partial")
        fd = _locked(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        assert fd is not None, "our own scratch file"
        try:
            os.write(fd, b"".join(s.hex().encode() + b"\n" for s in self._last_used))
            fresh.replace(self.path)
        except OSError:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd

    def close(self, *, keep: bool) -> None:
        """Release the ledger; keep=True leaves it for the next collector to claim (some
        session may still hold an open transaction), else it is deleted."""
        if not keep:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


async def take_over(
    directory: pathlib.Path, end_sessions: Callable[[list[bytes]], Awaitable[None]]
) -> SessionLedger | None:
    """At start-up, before serving: end the sessions recorded by processes that died on this
    DATA_DIR, then open our own ledger; None (logged) when DATA_DIR cannot hold one, and then
    the sessions a crash leaves are expired by the server instead of ended by our successor."""
    try:
        orphans = claim_orphans(directory)
    except OSError as exc:
        log.warning("cannot read the session ledgers in %s: %s", directory, exc)
        orphans = []
    if orphans:
        try:
            await end_sessions(orphans)
            log.info(
                "ended %d database session(s) left by a collector that stopped without "
                "ending them, so their open transactions hold no events",
                len(orphans),
            )
        except PyMongoError as exc:
            log.warning(
                "could not end %d database session(s) left by a collector that stopped (%s): "
                "retried batches may be refused until the database expires them",
                len(orphans),
                exc,
            )
    try:
        return SessionLedger(directory)
    except OSError as exc:
        log.warning(
            "cannot keep a session ledger in %s (%s): after a crash, retried batches may "
            "wait up to a minute for the database to expire this process's transactions",
            directory,
            exc,
        )
        return None
