"""A TCP relay in front of the database that can lose the answer to a commit, or the commit.

A fake at a true process boundary (the collector talks to it as to any MongoDB): every byte is
relayed both ways, unless `lose_next_commit_reply()` was called. Then the connection that next
sends `commitTransaction` still delivers it — the database commits — but nothing more that the
database sends on that connection reaches the collector. That is exactly "the write landed and
its acknowledgement was lost", which a frozen database cannot produce on demand.

After `drop_next_commit()`, the next `commitTransaction` never reaches the database, and nothing
answers it: the transaction stays open with what it wrote, as when a busy database makes a
request's deadline run out between its writes and its commit.

After `hold_next_insert(collection)`, the next `insert` into it is held back and nothing
answers it, until `deliver_held_insert()` hands it to the database (and waits for its answer,
which the collector, long gone, never sees): a command that a stalled database read only after
the request had given up on it. `kills_answered` counts the answers to `killSessions`.

`close_idle(idle_s)` closes the connections of operations (not the client's monitoring ones,
which send only `hello`) that carried nothing for `idle_s`, as a database does with its idle
timeout (SecantusDB's: 300 s), a firewall or a load balancer with theirs.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import bson

OP_MSG = 2013


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _command(message: bytes) -> tuple[str, object] | None:
    """The command an OP_MSG carries and its value (a collection's name for a write): the
    first key of its body section (kind 0)."""
    (op_code,) = struct.unpack_from("<i", message, 12)
    if op_code != OP_MSG or message[20] != 0:
        return None
    (size,) = struct.unpack_from("<i", message, 21)
    document = bson.decode(message[21 : 21 + size])
    return next(iter(document.items()), None)


class WireProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._lose_commit = False
        self.commits_lost = 0
        self._drop_commit = False
        self.commits_dropped = 0
        self._hold_insert: str | None = None  # into this collection
        self._held: tuple[bytes, socket.socket] | None = None  # the insert, its connection
        self._held_answered = threading.Event()
        self._kills: set[socket.socket] = set()  # server connections awaiting a kill's answer
        self.kills_answered = 0
        self._sockets: list[socket.socket] = []
        # The connections that carried an operation (a command but `hello`): when they last
        # carried anything, by their client-side socket.
        self._active: dict[socket.socket, float] = {}
        self.idle_closed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close_idle(self, idle_s: float) -> None:
        with self._lock:
            now = time.monotonic()
            idle = [client for client, last in self._active.items() if now - last > idle_s]
            for client in idle:
                del self._active[client]
            self.idle_closed += len(idle)
        for client in idle:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def lose_next_commit_reply(self) -> None:
        with self._lock:
            self._lose_commit = True

    def drop_next_commit(self) -> None:
        with self._lock:
            self._drop_commit = True

    def hold_next_insert(self, collection: str) -> None:
        with self._lock:
            self._hold_insert = collection

    @property
    def holding(self) -> bool:
        with self._lock:
            return self._held is not None

    def deliver_held_insert(self, timeout_s: float = 30) -> None:
        with self._lock:
            assert self._held is not None, "no insert is held"
            message, server = self._held
        server.sendall(message)
        assert self._held_answered.wait(timeout_s), "the database did not answer the insert"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._upstream))
            self._sockets += [client, server]
            muted = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, server, muted), daemon=True
            ).start()
            threading.Thread(
                target=self._replies, args=(server, client, muted), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, server: socket.socket, muted: threading.Event
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                header = _read_exactly(client, 4)
                (length,) = struct.unpack("<i", header)
                message = header + _read_exactly(client, length - 4)
                name, target = _command(message) or (None, None)
                with self._lock:
                    if (
                        name not in (None, "hello", "isMaster", "ismaster")
                        or client in self._active
                    ):
                        self._active[client] = time.monotonic()
                if name == "insert":
                    with self._lock:
                        if self._hold_insert == target:
                            self._hold_insert = None
                            muted.set()
                            self._held = (message, server)
                            # Its connection stays open for it, whatever the client does.
                            return
                if name == "killSessions":
                    with self._lock:
                        self._kills.add(server)
                if name == "commitTransaction":
                    with self._lock:
                        if self._drop_commit:
                            self._drop_commit = False
                            self.commits_dropped += 1
                            muted.set()
                            continue
                        if self._lose_commit:
                            self._lose_commit = False
                            self.commits_lost += 1
                            muted.set()
                server.sendall(message)
        _close(client, server)

    def _replies(
        self, server: socket.socket, client: socket.socket, muted: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while chunk := server.recv(65536):
                with self._lock:
                    if server in self._kills:
                        self._kills.discard(server)
                        self.kills_answered += 1
                with self._lock:
                    if client in self._active:
                        self._active[client] = time.monotonic()
                if not muted.is_set():
                    client.sendall(chunk)
                elif self._held is not None and self._held[1] is server:
                    self._held_answered.set()
        _close(client, server)

    def close(self) -> None:
        self._listener.close()
        _close(*self._sockets)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


@contextlib.contextmanager
def wire_proxy(upstream_port: int) -> Iterator[WireProxy]:
    proxy = WireProxy(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()
