"""The Basic-credential cache in front of argon2 (collector.basic_auth). The argon2 check is
stood in for by a counting function: the cache's contract is about when it is called."""

from __future__ import annotations

import asyncio
import base64

import pytest

from collector.basic_auth import MAX_TTL_S, BasicCredentials
from collector.errors import Unauthenticated
from collector.tokens import Principal

SECRET = "s3cret-value-of-the-client"


def encoded(client_id: str = "cl_a", secret: str = SECRET) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Registry:
    """Knows one client; counts the (expensive) checks and can revoke it."""

    def __init__(self) -> None:
        self.checks = 0
        self.revoked = False
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def authenticate(self, client_id: str, secret: str) -> Principal:
        self.checks += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.revoked or (client_id, secret) != ("cl_a", SECRET):
            raise Unauthenticated("invalid client credentials")
        return Principal(client_id, "tenant-a", frozenset({"ingest"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_verified_secret_is_remembered_for_at_most_the_ttl() -> None:
    registry, clock = Registry(), Clock()
    basic = BasicCredentials(registry.authenticate, ttl_s=MAX_TTL_S, clock=clock)
    for _ in range(5):
        assert (await basic.verify(encoded())).tenant == "tenant-a"
    assert registry.checks == 1
    clock.now += MAX_TTL_S - 0.001
    await basic.verify(encoded())
    assert registry.checks == 1
    # Revoked meanwhile: refused as soon as the entry expires.
    registry.revoked = True
    clock.now += 0.002
    with pytest.raises(Unauthenticated):
        await basic.verify(encoded())
    assert registry.checks == 2


async def test_failures_are_not_remembered_and_keys_hold_no_secret() -> None:
    registry = Registry()
    basic = BasicCredentials(registry.authenticate)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await basic.verify(encoded(secret="wrong"))
    assert registry.checks == 2
    assert len(basic) == 0
    await basic.verify(encoded())
    assert len(basic) == 1
    (key,) = basic._entries
    assert SECRET.encode() not in key and len(key) == 32  # an HMAC-SHA256, not the secret


async def test_concurrent_checks_of_the_same_credentials_share_one() -> None:
    registry = Registry()
    registry.gate = asyncio.Event()
    basic = BasicCredentials(registry.authenticate)
    calls = [asyncio.ensure_future(basic.verify(encoded())) for _ in range(8)]
    await registry.entered.wait()
    registry.gate.set()
    principals = await asyncio.gather(*calls)
    assert {p.client_id for p in principals} == {"cl_a"}
    assert registry.checks == 1


async def test_the_cache_is_bounded_and_forgets_a_client() -> None:
    registry = Registry()
    basic = BasicCredentials(registry.authenticate, max_entries=1)

    async def other(client_id: str, secret: str) -> Principal:
        return Principal(client_id, "t", frozenset({"ingest"}))

    basic._authenticate = other
    await basic.verify(encoded("cl_b"))
    await basic.verify(encoded("cl_c"))
    assert len(basic) == 1
    basic.forget("cl_c")
    assert len(basic) == 0


@pytest.mark.parametrize("value", ["", "!!", base64.b64encode(b"no-colon").decode(), "x" * 2000])
async def test_malformed_credentials_are_unauthenticated(value: str) -> None:
    registry = Registry()
    with pytest.raises(Unauthenticated):
        await BasicCredentials(registry.authenticate).verify(value)
    assert registry.checks == 0


def test_entries_cannot_outlive_a_minute() -> None:
    with pytest.raises(ValueError):
        BasicCredentials(Registry().authenticate, ttl_s=61)
