"""The caller's address, vouched for to the collector: signed metadata on every relayed call
(aegis_shared.caller_address), which the sign-in limits count by. Without the secret the
collector sees every REST caller as this gateway's own address."""

from __future__ import annotations

import logging
import pathlib
import time

from fastapi import Request

from aegis_shared.caller_address import ForwardingKey, read_secret

log = logging.getLogger(__name__)

# While the collector has not written its secret yet (the gateway started first), look again
# at most this often.
RETRY_S = 1.0


class Forwarder:
    def __init__(self, configured: str | None, data_dir: pathlib.Path) -> None:
        self._configured = configured
        self._data_dir = data_dir
        self._key: ForwardingKey | None = None
        self._looked = -RETRY_S

    def key(self) -> ForwardingKey | None:
        now = time.monotonic()
        if self._key is None and now - self._looked >= RETRY_S:
            self._looked = now
            if secret := read_secret(self._configured, self._data_dir):
                self._key = ForwardingKey(secret)
        return self._key

    def warn_if_missing(self) -> None:
        if self.key() is None:
            log.warning(
                "no FORWARDING_SECRET and no %s: the collector will count every REST caller's "
                "sign-in failures as this gateway's address (give both the same DATA_DIR or "
                "FORWARDING_SECRET)",
                self._data_dir / "forwarding_secret",
            )

    def metadata(self, request: Request) -> list[tuple[str, str]]:
        key = self.key()
        if key is None or request.client is None:
            return []
        return list(key.metadata(request.client.host))
