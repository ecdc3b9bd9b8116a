"""The Basic-credential cache in front of argon2 (collector.auth.basic). The argon2 check (with
the sign-in limits, AuthService.authenticate_basic) is stood in for by a counting function:
the cache's contract is about when it is called. End to end: tests/test_login_limits.py."""

from __future__ import annotations

import asyncio
import base64

import pytest

from collector.auth.basic import FAILURE_TTL_S, MAX_TTL_S, BasicCredentials
from collector.domain import Principal
from collector.errors import ResourceExhausted, Unauthenticated

SECRET = "s3cret-value-of-the-client"
SOURCE = "192.0.2.1"


def encoded(client_id: str = "cl_a", secret: str = SECRET) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Registry:
    """Knows one client; counts the (expensive) checks and can revoke it."""

    def __init__(self) -> None:
        self.checks = 0
        self.revoked = False
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.sources: list[str] = []

    async def authenticate(self, client_id: str, secret: str, source: str) -> Principal:
        self.checks += 1
        self.sources.append(source)
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
        assert (await basic.verify(encoded(), SOURCE)).tenant == "tenant-a"
    assert registry.checks == 1
    clock.now += MAX_TTL_S - 0.001
    await basic.verify(encoded(), SOURCE)
    assert registry.checks == 1
    # Revoked meanwhile: refused as soon as the entry expires.
    registry.revoked = True
    clock.now += 0.002
    with pytest.raises(Unauthenticated):
        await basic.verify(encoded(), SOURCE)
    assert registry.checks == 2


async def test_a_failure_is_remembered_briefly_and_keys_hold_no_secret() -> None:
    """An exporter left with a wrong header repeats it on every export: the repeats neither
    run argon2 nor count against the sign-in limits again, until FAILURE_TTL_S has passed."""
    registry, clock = Registry(), Clock()
    basic = BasicCredentials(registry.authenticate, clock=clock)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await basic.verify(encoded(secret="wrong"), SOURCE)
    assert registry.checks == 1
    assert registry.sources == [SOURCE]  # the check is told where the call came from
    assert basic.failures == 1 and len(basic) == 0
    clock.now += FAILURE_TTL_S
    with pytest.raises(Unauthenticated):
        await basic.verify(encoded(secret="wrong"), SOURCE)
    assert registry.checks == 2
    # Another guess is another check; the right secret is not held up by a failure.
    with pytest.raises(Unauthenticated):
        await basic.verify(encoded(secret="wrong-2"), SOURCE)
    assert registry.checks == 3
    await basic.verify(encoded(), SOURCE)
    assert len(basic) == 1
    for key in (*basic._entries, *basic._failures):
        assert SECRET.encode() not in key and b"wrong" not in key
        assert len(key) == 32  # an HMAC-SHA256, not the secret


async def test_failures_are_bounded() -> None:
    registry = Registry()
    basic = BasicCredentials(registry.authenticate, max_entries=2)
    for guess in range(5):
        with pytest.raises(Unauthenticated):
            await basic.verify(encoded(secret=f"wrong-{guess}"), SOURCE)
    assert basic.failures == 2


async def test_a_refusal_by_the_limits_is_not_remembered() -> None:
    """Past the sign-in limits the check says RESOURCE_EXHAUSTED: that is about the caller,
    not the credentials, so the same credentials are checked again next time."""
    calls = 0

    async def limited(client_id: str, secret: str, source: str) -> Principal:
        nonlocal calls
        calls += 1
        raise ResourceExhausted("too many failed sign-ins", retry_after=5)

    basic = BasicCredentials(limited)
    for _ in range(2):
        with pytest.raises(ResourceExhausted):
            await basic.verify(encoded(), SOURCE)
    assert calls == 2 and basic.failures == 0


async def test_concurrent_checks_of_the_same_credentials_share_one() -> None:
    registry = Registry()
    registry.gate = asyncio.Event()
    basic = BasicCredentials(registry.authenticate)
    calls = [asyncio.ensure_future(basic.verify(encoded(), SOURCE)) for _ in range(8)]
    await registry.entered.wait()
    registry.gate.set()
    principals = await asyncio.gather(*calls)
    assert {p.client_id for p in principals} == {"cl_a"}
    assert registry.checks == 1


async def test_the_cache_is_bounded_and_forgets_a_client() -> None:
    registry = Registry()
    basic = BasicCredentials(registry.authenticate, max_entries=1)

    async def other(client_id: str, secret: str, source: str) -> Principal:
        return Principal(client_id, "t", frozenset({"ingest"}))

    basic._authenticate = other
    await basic.verify(encoded("cl_b"), SOURCE)
    await basic.verify(encoded("cl_c"), SOURCE)
    assert len(basic) == 1
    basic.forget("cl_c")
    assert len(basic) == 0


@pytest.mark.parametrize("value", ["", "!!", base64.b64encode(b"no-colon").decode(), "x" * 2000])
async def test_malformed_credentials_are_unauthenticated(value: str) -> None:
    registry = Registry()
    with pytest.raises(Unauthenticated):
        await BasicCredentials(registry.authenticate).verify(value, SOURCE)
    assert registry.checks == 0


def test_entries_cannot_outlive_a_minute() -> None:
    with pytest.raises(ValueError):
        BasicCredentials(Registry().authenticate, ttl_s=61)
