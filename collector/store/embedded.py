"""The embedded default database: SecantusDB run as a child process on a free loopback port.

SecantusDB is GPL-2.0, so it is never imported: we start `python -m secantus` and talk to it
over the MongoDB wire protocol like any other server.

One DATA_DIR, one server. The process that starts the database holds an exclusive flock on
DATA_DIR/embedded-db.lock, and so does the database itself (it inherits the descriptor): the
lock is free only once no process can be writing the files, even if the collector was killed
outright. While the database answers, its URL is in DATA_DIR/embedded-db.url. Anyone else
(the CLI) uses that server or says why not; nobody starts a second one on the same files,
which WiredTiger would refuse anyway, with a far less helpful message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pathlib
import socket
import subprocess
from collections.abc import AsyncIterator

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from aegis_shared import child_process

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
# How long a database served by another process gets to answer before we give up on it.
ATTACH_TIMEOUT_S = 3.0
LOCK_FILE = "embedded-db.lock"
URL_FILE = "embedded-db.url"


class DataDirInUse(Exception):
    """Another process serves the embedded database of this DATA_DIR; the message says which."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(port: int, db_dir: pathlib.Path) -> list[str]:
    """How SecantusDB is started, here and wherever tests start one of their own."""
    return child_process.python_module(
        "secantus",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(db_dir),
        "--log-level",
        "WARNING",
        # Acks promise durability: fsync the log at every commit. Measured: about 2.5% fewer
        # docs/s for 500-event batches (3,983 → 3,886), so it is worth it. Without it SecantusDB
        # honours j:true on single writes but not on commitTransaction, and ingest commits a
        # transaction per batch: a SIGKILL then lost acknowledged batches (seen in tests).
        "--sync-on-commit",
    )


def mongodb_url(port: int) -> str:
    # directConnection: SecantusDB advertises a one-node replica set named "secantus".
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


async def wait_for_ping(url: str, proc: subprocess.Popen[bytes] | None, within_s: float) -> None:
    """Return once the server at `url` answers ping; fail if `proc` exits or time runs out."""
    client: AsyncMongoClient[dict] = AsyncMongoClient(url, serverSelectionTimeoutMS=500)
    try:
        async with asyncio.timeout(within_s):
            while True:
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"embedded database exited with code {proc.returncode}")
                try:
                    await client.admin.command("ping")
                    return
                except PyMongoError:
                    await asyncio.sleep(0.1)
    except TimeoutError:
        raise TimeoutError(f"database at {url} did not answer ping within {within_s}s") from None
    finally:
        await client.close()


def _claim(data_dir: pathlib.Path) -> int | None:
    """A descriptor holding data_dir's lock, or None when another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # Only for messages to whoever finds the lock taken; the lock itself is what counts.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(data_dir: pathlib.Path) -> str:
    try:
        pid = (data_dir / LOCK_FILE).read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


@contextlib.asynccontextmanager
async def _serve(data_dir: pathlib.Path, lock_fd: int, port: int) -> AsyncIterator[str]:
    """Start SecantusDB under the lock held by lock_fd; publish and yield its URL."""
    url_file = data_dir / URL_FILE
    # Left behind by a server that was killed: nobody must try it while ours starts.
    url_file.unlink(missing_ok=True)
    db_dir = data_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_file = (data_dir / "secantus.log").open("ab")
    try:
        proc = child_process.spawn(
            server_command(port, db_dir),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(lock_fd,),
        )
    except BaseException:
        log_file.close()
        raise
    url = mongodb_url(port)
    try:
        await wait_for_ping(url, proc, START_TIMEOUT_S)
        log.info("embedded database (SecantusDB) up on 127.0.0.1:%d, files in %s", port, db_dir)
        # Written whole or not at all: a reader never sees half a URL.
        partial = url_file.with_suffix(".partial")
        partial.write_text(url)
        partial.replace(url_file)
        yield url
    finally:
        url_file.unlink(missing_ok=True)
        await asyncio.to_thread(child_process.stop, proc, 15.0)
        log_file.close()
        log.info("embedded database stopped")


@contextlib.asynccontextmanager
async def embedded_database(data_dir: pathlib.Path, port: int = 0) -> AsyncIterator[str]:
    """Start SecantusDB with its files under data_dir/db; yield its URL; stop it on exit.

    DataDirInUse when another process serves data_dir.
    """
    lock_fd = _claim(data_dir)
    if lock_fd is None:
        raise DataDirInUse(
            f"DATA_DIR {data_dir} is in use by {_holder(data_dir)} (another collector?): "
            "stop it, or give this one another DATA_DIR"
        )
    try:
        async with _serve(data_dir, lock_fd, port) as url:
            yield url
    finally:
        os.close(lock_fd)


@contextlib.asynccontextmanager
async def shared_embedded_database(data_dir: pathlib.Path) -> AsyncIterator[str]:
    """The database another process serves from data_dir, else one started for the block.

    The lock decides who serves, not the URL file or a ping: a killed collector leaves its URL
    file behind, and a database that is slow to answer is still running on those files.
    """
    lock_fd = _claim(data_dir)
    if lock_fd is not None:
        try:
            async with _serve(data_dir, lock_fd, 0) as url:
                yield url
        finally:
            os.close(lock_fd)
        return
    holder = _holder(data_dir)
    try:
        url = (data_dir / URL_FILE).read_text().strip()
    except FileNotFoundError:
        raise DataDirInUse(
            f"DATA_DIR {data_dir} is in use by {holder}, whose database is not up (starting "
            "or stopping?); not starting a second one on the same files: try again shortly"
        ) from None
    try:
        await wait_for_ping(url, None, ATTACH_TIMEOUT_S)
    except TimeoutError:
        raise DataDirInUse(
            f"a collector ({holder}) is serving DATA_DIR {data_dir}, but its database at {url} "
            f"did not answer within {ATTACH_TIMEOUT_S:.0f}s; not starting a second one on the "
            "same files: check that collector, or try again"
        ) from None
    yield url
