"""JWT issue and verify. The algorithm is pinned and every claim we rely on is required."""

from __future__ import annotations

import time
import uuid

import jwt

from collector.domain import Principal
from collector.errors import Unauthenticated

SYMMETRIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
REQUIRED_CLAIMS = ["sub", "tenant", "scopes", "iat", "exp", "iss", "aud", "jti"]
# Clock skew allowed between the issuing and the verifying replica (and for a stream's end).
LEEWAY_S = 5


class TokenService:
    def __init__(
        self, secret: str, *, algorithm: str, lifetime_s: int, issuer: str, audience: str
    ) -> None:
        if algorithm not in SYMMETRIC_ALGORITHMS:
            raise ValueError(f"JWT_ALGORITHM must be one of {sorted(SYMMETRIC_ALGORITHMS)}")
        self._secret = secret
        self._algorithm = algorithm
        self.lifetime_s = lifetime_s
        self._issuer = issuer
        self._audience = audience

    def issue(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "sub": principal.client_id,
            "tenant": principal.tenant,
            "scopes": sorted(principal.scopes),
            "iat": now,
            "exp": now + self.lifetime_s,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
            "sv": principal.secret_version,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        scopes = claims["scopes"]
        version = claims.get("sv", 0)
        if not isinstance(claims["sub"], str) or not isinstance(claims["tenant"], str):
            raise Unauthenticated("invalid token")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise Unauthenticated("invalid token")
        if not isinstance(version, int) or isinstance(version, bool):
            raise Unauthenticated("invalid token")
        return Principal(
            claims["sub"],
            claims["tenant"],
            frozenset(scopes),
            secret_version=version,
            expires_at=float(claims["exp"]),
            token_id=str(claims["jti"]),
        )
