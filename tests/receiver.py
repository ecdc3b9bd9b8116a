"""A local webhook receiver for alert tests: records every POST, answers scripted statuses.

A real HTTP server on 127.0.0.1 in a thread of the test process (a true process boundary for
the collector that posts to it); nothing in the delivery path is faked.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float = field(default_factory=time.monotonic)  # when the request had arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: str) -> bool:
        timestamp = self.headers["x-aegis-timestamp"]
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256)
        return hmac.compare_digest(f"sha256={mac.hexdigest()}", self.headers["x-aegis-signature"])


class WebhookReceiver:
    def __init__(self, statuses: Iterable[int] = (), *, hold_s: float = 0.0) -> None:
        """Answer the given statuses in order, then 200 to everything; each reply `hold_s`
        seconds after its request has arrived (a slow receiver)."""
        self._script = list(statuses)
        self._hold_s = hold_s
        self._lock = threading.Lock()
        self.received: list[Received] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver._script.pop(0) if receiver._script else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body, status))
                time.sleep(receiver._hold_s)  # the slow receiver itself, not synchronisation
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    @property
    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx."""
        return [r for r in self.received if 200 <= r.answered < 300]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class DripReceiver:
    """A hostile receiver: it reads the request, then answers one byte every `every_s` seconds
    for ever (a status line, then a header that never ends), so no read ever times out.

    Each connection is recorded when it is accepted and when it ends (the sender hung up,
    seen as a failed write; or the receiver stops), on the test process's monotonic clock.
    """

    def __init__(self, every_s: float = 0.2) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.opened: list[float] = []
        self.closed: list[float] = []
        self.accepted = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/drip"

    def _accept(self) -> None:
        # Closing a socket does not wake a thread blocked in accept(): wake up now and then.
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _drip(self, conn: socket.socket) -> None:
        with self._lock:
            self.opened.append(time.monotonic())
        self.accepted.set()
        with conn:
            try:
                conn.recv(65536)  # the request, or its start: what it says does not matter
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not self._stop.wait(self._every_s):
                    conn.sendall(b"a")
            except OSError:
                pass  # the sender hung up
            finally:
                with self._lock:
                    self.closed.append(time.monotonic())

    def __enter__(self) -> DripReceiver:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
