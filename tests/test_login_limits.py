"""Sign-in limits (collector.auth.ratelimit.LoginLimits): failures count per client id and source
address, so a stranger cannot lock a client out; HTTP Basic (OTLP) counts like /auth/token;
and a caller cannot choose the address it is counted by.

Source addresses are real: Linux routes all of 127/8 to the loopback interface, so an HTTP
client bound to 127.0.0.N reaches the gateway from that address. The limit policy itself, with
its timing, is tested on a fake clock at the end.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc
from aegis_shared.caller_address import ADDRESS_KEY, SIGNATURE_KEY, ForwardingKey, source_key
from collector.auth.ratelimit import CLIENT_FACTOR, SOURCE_FACTOR, LoginLimits
from collector.errors import ResourceExhausted
from tests.conftest import assert_oauth_error, error_reason, retry_delay_s, rpc_error
from tests.procs import ADMIN_ID, ADMIN_SECRET, Stack, start_stack

# AUTH_ATTEMPTS_PER_MIN of this module's stack: a bucket of 2 failures that gains one more every
# 30 s, far longer than a test's few attempts take even on a loaded machine (an argon2 check
# there can take a second), so a bucket a test empties stays empty while it asserts.
LIMIT = 2
EMPTY_EXPORT = {"resourceSpans": []}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("login-limits"), AUTH_ATTEMPTS_PER_MIN=str(LIMIT))
    yield running
    assert running.child.stop() == 0


def _from(stack: Stack, address: str) -> httpx.AsyncClient:
    """An HTTP client of the gateway whose connections come from `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=stack.http, timeout=30, transport=transport)


@pytest.fixture(scope="module")
async def admin_http(limited: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with _from(limited, "127.0.0.1") as client:
        yield client


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    tenant: str
    admin: dict[str, str]  # the global admin's Authorization header


async def _new_client(http: httpx.AsyncClient) -> Client:
    """A fresh client (ingest, read) of a fresh tenant, so every test has its own counters."""
    token = await http.post(
        "/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
    )
    assert token.status_code == 200, token.text
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    reply = await http.post(
        "/admin/clients",
        json={"name": "app", "tenant": f"t-{uuid.uuid4().hex[:12]}"},
        headers=admin,
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    return Client(data["clientId"], data["clientSecret"], data["tenant"], admin)


async def _sign_in(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})


async def _fail(http: httpx.AsyncClient, client_id: str, times: int) -> None:
    for guess in range(times):
        reply = await _sign_in(http, client_id, f"wrong-{guess}-{uuid.uuid4().hex}")
        assert_oauth_error(reply, 401, "invalid_client")


def _grpc_sign_in(
    stack: Stack, client_id: str, secret: str, metadata: tuple[tuple[str, str], ...] = ()
) -> Any:
    async def call() -> auth_pb2.IssueTokenResponse:
        async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
            request = auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret)
            reply: auth_pb2.IssueTokenResponse = await auth_pb2_grpc.AuthServiceStub(
                channel
            ).IssueToken(request, metadata=metadata, timeout=30)
            return reply

    return call()


async def _audit(http: httpx.AsyncClient, client: Client) -> list[dict[str, Any]]:
    """The client's own entries in its tenant's audit log, read by an admin of that tenant
    (an admin reads its own tenant's log)."""
    reply = await http.post(
        "/admin/clients",
        json={"name": "auditor", "tenant": client.tenant, "scopes": ["admin"]},
        headers=client.admin,
    )
    assert reply.status_code == 200, reply.text
    auditor = reply.json()
    token = await _sign_in(http, auditor["clientId"], auditor["clientSecret"])
    logs = await http.get(
        "/admin/audit-logs",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert logs.status_code == 200, logs.text
    entries: list[dict[str, Any]] = logs.json()["entries"]
    return [e for e in entries if e["client_id"] == client.client_id]


# -- Lock-out (issue 16, item 5) ------------------------------------------------------------


async def test_a_stranger_cannot_lock_a_client_out(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    client = await _new_client(admin_http)
    async with _from(limited, "127.0.0.2") as stranger, _from(limited, "127.0.0.3") as owner:
        await _fail(stranger, client.client_id, LIMIT)
        # The stranger is past its limit for this client id: refused even with the right
        # secret, unchecked, and told when to come back.
        refused = await _sign_in(stranger, client.client_id, client.client_secret)
        assert_oauth_error(refused, 429, "slow_down")
        assert 1 <= int(refused.headers["retry-after"]) <= 60 / LIMIT
        # The client itself, from its own address, is not: over REST and over gRPC.
        reply = await _sign_in(owner, client.client_id, client.client_secret)
        assert reply.status_code == 200, reply.text
    issued = await _grpc_sign_in(limited, client.client_id, client.client_secret)
    assert issued.access_token
    entries = await _audit(admin_http, client)
    refusals = [e for e in entries if e["action"] == "token_refused"]
    assert len(refusals) == LIMIT
    assert {e["details"]["source"] for e in refusals} == {"127.0.0.2"}
    assert any(e["action"] == "auth_rate_limited" for e in entries)


async def test_a_direct_grpc_caller_cannot_choose_its_address(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    """Forwarded-address metadata counts only with the gateway's signature: a caller that
    sets it itself (unsigned, or signed with a key of its own) is counted as its real peer."""
    client = await _new_client(admin_http)
    victim = "127.0.0.4"
    forged_sets = [
        ((ADDRESS_KEY, victim),),
        ((ADDRESS_KEY, victim), (SIGNATURE_KEY, "1.00")),
        ForwardingKey(b"not the collector's secret, guessed" * 2).metadata(victim),
    ]
    for guess in range(LIMIT):
        error = await rpc_error(
            _grpc_sign_in(
                limited,
                client.client_id,
                f"wrong-{guess}",
                tuple(forged_sets[guess % len(forged_sets)]),
            )
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    # Booked against the caller's own address (127.0.0.1): refused now, whatever it claims.
    error = await rpc_error(
        _grpc_sign_in(limited, client.client_id, client.client_secret, tuple(forged_sets[0]))
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(error) == "slow_down"
    delay = retry_delay_s(error)
    assert delay is not None and 0 < delay <= 60 / LIMIT
    # ... and not against the address it named.
    async with _from(limited, victim) as http:
        reply = await _sign_in(http, client.client_id, client.client_secret)
        assert reply.status_code == 200, reply.text


async def test_a_caller_cannot_choose_its_address_with_x_forwarded_for(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    """The gateway counts a REST caller as its connection's peer: X-Forwarded-For is believed
    only from FORWARDED_ALLOW_IPS (by default a proxy on the gateway's host, 127.0.0.1)."""
    client = await _new_client(admin_http)
    async with _from(limited, "127.0.0.5") as stranger, _from(limited, "127.0.0.6") as owner:
        for guess in range(LIMIT):
            reply = await stranger.post(
                "/auth/token",
                json={"clientId": client.client_id, "clientSecret": f"wrong-{guess}"},
                headers={"X-Forwarded-For": f"198.51.100.{guess}, 127.0.0.6"},
            )
            assert_oauth_error(reply, 401, "invalid_client")
        refused = await stranger.post(
            "/auth/token",
            json={"clientId": client.client_id, "clientSecret": client.client_secret},
            headers={"X-Forwarded-For": "198.51.100.200"},
        )
        assert_oauth_error(refused, 429, "slow_down")
        reply = await _sign_in(owner, client.client_id, client.client_secret)
        assert reply.status_code == 200, reply.text


# -- HTTP Basic over OTLP (issue 16, item 4) ------------------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


async def _export(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/v1/traces", json=EMPTY_EXPORT, headers=_basic(client_id, secret))


async def test_failed_basic_credentials_count_against_the_sign_in_limit(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    client = await _new_client(admin_http)
    async with _from(limited, "127.0.0.7") as guesser, _from(limited, "127.0.0.8") as exporter:
        for guess in range(LIMIT):
            reply = await _export(guesser, client.client_id, f"wrong-{guess}")
            assert reply.status_code == 401, reply.text
        refused = await _export(guesser, client.client_id, "wrong-again")
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60 / LIMIT
        # The same limit as /auth/token's: the guesser's right secret is refused there too.
        assert_oauth_error(
            await _sign_in(guesser, client.client_id, client.client_secret), 429, "slow_down"
        )
        # The exporter, from its own address, keeps exporting.
        reply = await _export(exporter, client.client_id, client.client_secret)
        assert reply.status_code == 200, reply.text
    entries = await _audit(admin_http, client)
    refusals = [e for e in entries if e["action"] == "basic_auth_refused"]
    assert len(refusals) == LIMIT
    assert {e["details"]["source"] for e in refusals} == {"127.0.0.7"}
    assert any(e["action"] == "auth_rate_limited" for e in entries)


async def test_a_repeated_wrong_basic_header_neither_counts_again_nor_locks_out(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    """An exporter left with a stale secret sends the same header on every export: one
    failure is remembered briefly (collector.auth.basic), so its repeats are refused without
    argon2 and without spending the address's limit on one and the same guess."""
    client = await _new_client(admin_http)
    async with _from(limited, "127.0.0.9") as exporter:
        for _ in range(5 * LIMIT):
            reply = await _export(exporter, client.client_id, "stale-secret")
            assert reply.status_code == 401, reply.text
        reply = await _export(exporter, client.client_id, client.client_secret)
        assert reply.status_code == 200, reply.text
    entries = await _audit(admin_http, client)
    assert 1 <= sum(e["action"] == "basic_auth_refused" for e in entries) < LIMIT


async def test_basic_failures_over_grpc_are_counted_per_peer(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    client = await _new_client(admin_http)
    path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    async with grpc.aio.insecure_channel(limited.grpc_target) as channel:
        export = channel.unary_unary(
            path, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        codes = []
        for guess in range(LIMIT + 1):
            (header,) = _basic(client.client_id, f"w{guess}").values()
            metadata = (("authorization", header),)
            codes.append((await rpc_error(export(b"", metadata=metadata, timeout=30))).code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * LIMIT + [grpc.StatusCode.RESOURCE_EXHAUSTED]


# -- The policy, on a fake clock -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refused(limits: LoginLimits, client_id: str, source: str) -> bool:
    try:
        limits.reserve(client_id, source)
    except ResourceExhausted:
        return True
    return False


def test_only_failures_count_and_a_pair_refills() -> None:
    clock = Clock()
    limits = LoginLimits(LIMIT, clock=clock)
    for _ in range(3 * LIMIT):  # successes give their attempt back
        limits.succeeded(limits.reserve("app", "10.0.0.1"))
    for _ in range(LIMIT):
        limits.reserve("app", "10.0.0.1")  # failures keep it
    assert _refused(limits, "app", "10.0.0.1")
    assert not _refused(limits, "app", "10.0.0.2")  # another address
    assert not _refused(limits, "other", "10.0.0.1")  # another client id
    clock.now += 60 / LIMIT
    assert not _refused(limits, "app", "10.0.0.1")


def test_an_address_spraying_client_ids_is_cut_off() -> None:
    limits = LoginLimits(LIMIT, clock=Clock())
    for n in range(SOURCE_FACTOR * LIMIT):
        limits.reserve(f"id-{n}", "10.0.0.1")
    assert _refused(limits, "fresh-id", "10.0.0.1")
    assert not _refused(limits, "fresh-id", "10.0.0.2")


def test_guessing_spread_over_addresses_slows_new_ones_but_not_known_ones() -> None:
    """A distributed guesser, each address within its own limit, empties the client id's
    cap for new addresses; sources the client signed in from keep signing in."""
    clock = Clock()
    limits = LoginLimits(LIMIT, clock=clock)
    limits.succeeded(limits.reserve("app", "10.0.0.1"))  # the client's own host
    for n in range(CLIENT_FACTOR * LIMIT):
        limits.reserve("app", f"198.51.{n // 200}.{n % 200}")
    assert _refused(limits, "app", "203.0.113.9")  # a new address: slowed down
    assert not _refused(limits, "app", "10.0.0.1")  # a known one: not
    clock.now += 60 / (CLIENT_FACTOR * LIMIT)  # the cap refills: new addresses pass again
    assert not _refused(limits, "app", "203.0.113.9")


def test_ipv6_addresses_count_per_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"


async def test_concurrent_guesses_cannot_overrun_a_pair(
    limited: Stack, admin_http: httpx.AsyncClient
) -> None:
    client = await _new_client(admin_http)
    async with _from(limited, "127.0.0.10") as stranger:
        replies = await asyncio.gather(
            *(_sign_in(stranger, client.client_id, f"guess-{i}") for i in range(2 * LIMIT))
        )
    assert sorted(r.status_code for r in replies) == [401] * LIMIT + [429] * LIMIT
