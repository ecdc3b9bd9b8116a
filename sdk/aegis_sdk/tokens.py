"""Client-credentials login and the bearer token, refreshed before it runs out.

The secret and the token live only here and in request headers: never in a log line, an
exception message or a repr.
"""

from __future__ import annotations

import time
from typing import Protocol

# Log in again once this share of the token's lifetime has passed.
REFRESH_AT = 0.8


class Login(Protocol):
    async def login(self, client_id: str, client_secret: str) -> tuple[str, float]:
        """(access token, lifetime in seconds); raises retry.TransportError."""
        ...


class TokenSource:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self._token: str | None = None
        self._refresh_at = 0.0
        self.logins = 0

    def __repr__(self) -> str:
        return f"TokenSource(client_id={self.client_id!r})"

    async def get(self, via: Login) -> str:
        if self._token is None or time.monotonic() >= self._refresh_at:
            started = time.monotonic()
            token, lifetime = await via.login(self.client_id, self._secret)
            # Counted from before the request: the server's clock started no later than that.
            self._refresh_at = started + lifetime * REFRESH_AT
            self._token = token
            self.logins += 1
        return self._token

    @property
    def refresh_at(self) -> float:
        """time.monotonic() at which the current token should be replaced."""
        return self._refresh_at

    def invalidate(self) -> None:
        """The server refused the token: the next get() logs in again."""
        self._token = None
