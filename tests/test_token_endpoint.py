"""POST /auth/token as RFC 6749 (client credentials) says, and its brute-force limit."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from aegis.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import Stubs, assert_oauth_error, error_reason, retry_delay_s, rpc_error
from tests.procs import ADMIN_ID, ADMIN_SECRET, Stack, start_stack

# AUTH_ATTEMPTS_PER_MIN of the limited stack: one more attempt every 10 s, far longer than
# the attempts below take, so the bucket is still empty when the right secret is tried.
BRUTE_FORCE_LIMIT = 6


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"clientId": ADMIN_ID},
        {"clientSecret": ADMIN_SECRET},
        {"clientId": "", "clientSecret": "x"},
    ],
)
async def test_missing_field_is_400_invalid_request(
    http: httpx.AsyncClient, body: dict[str, str]
) -> None:
    reply = await http.post("/auth/token", json=body)
    description = assert_oauth_error(reply, 400, "invalid_request")
    assert "required" in description


async def test_missing_field_over_grpc_is_invalid_argument_with_reason(stubs: Stubs) -> None:
    error = await rpc_error(stubs.auth.IssueToken(auth_pb2.IssueTokenRequest(clientId=ADMIN_ID)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "invalid_request"


async def test_body_that_is_not_json_is_invalid_request(http: httpx.AsyncClient) -> None:
    reply = await http.post(
        "/auth/token", content=b"clientId=x", headers={"Content-Type": "application/json"}
    )
    assert_oauth_error(reply, 400, "invalid_request")


async def test_issued_token_is_never_cached(http: httpx.AsyncClient) -> None:
    reply = await http.post(
        "/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["pragma"] == "no-cache"
    assert reply.json()["token_type"] == "bearer"


async def _timed_refusal(http: httpx.AsyncClient, client_id: str) -> tuple[float, dict[str, str]]:
    started = time.perf_counter()
    reply = await http.post("/auth/token", json={"clientId": client_id, "clientSecret": "x" * 20})
    elapsed = time.perf_counter() - started
    assert_oauth_error(reply, 401, "invalid_client")
    return elapsed, dict(reply.json())


async def test_unknown_client_and_wrong_secret_look_the_same(http: httpx.AsyncClient) -> None:
    """Same body, same headers, and a comparable cost: an unknown id is verified against a
    dummy argon2 hash. Without it an unknown id answers in about a millisecond, against
    tens of milliseconds for a real verify; the bound below is loose enough for a loaded
    machine and still catches that."""
    unknown: list[float] = []
    wrong: list[float] = []
    bodies = []
    for _ in range(7):  # interleaved, so load affects both alike
        elapsed, body = await _timed_refusal(http, f"nobody-{uuid.uuid4().hex}")
        unknown.append(elapsed)
        bodies.append(body)
        elapsed, body = await _timed_refusal(http, ADMIN_ID)
        wrong.append(elapsed)
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(
        f"token refusal medians: unknown {statistics.median(unknown) * 1000:.1f} ms, "
        f"wrong secret {statistics.median(wrong) * 1000:.1f} ms (ratio {ratio:.2f})"
    )
    assert 0.4 < ratio < 2.5


# -- Brute force: AUTH_ATTEMPTS_PER_MIN -------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("auth-limited"), AUTH_ATTEMPTS_PER_MIN=str(BRUTE_FORCE_LIMIT)
    )
    yield running
    assert running.child.stop() == 0


@pytest.fixture
async def limited_http(limited: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited.http, timeout=30) as client:
        yield client


async def _attempt(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post("/auth/token", json={"clientId": client_id, "clientSecret": secret})


async def test_brute_force_is_cut_off_per_client_id(
    limited: Stack, limited_http: httpx.AsyncClient
) -> None:
    target = ADMIN_ID
    # Concurrent guesses cannot overrun the limit: an attempt is counted before it is checked.
    replies = await asyncio.gather(
        *(_attempt(limited_http, target, f"guess-{i}") for i in range(2 * BRUTE_FORCE_LIMIT))
    )
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [401] * BRUTE_FORCE_LIMIT + [429] * BRUTE_FORCE_LIMIT
    # Past the limit even the right secret is refused, without being checked.
    refused = await _attempt(limited_http, target, ADMIN_SECRET)
    assert_oauth_error(refused, 429, "slow_down")
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60 / BRUTE_FORCE_LIMIT
    # Another client id is not affected.
    other = await _attempt(limited_http, f"nobody-{uuid.uuid4().hex}", "x")
    assert_oauth_error(other, 401, "invalid_client")
    # Over gRPC too, with the delay as RetryInfo.
    async with grpc.aio.insecure_channel(limited.grpc_target) as channel:
        error = await rpc_error(
            auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
                auth_pb2.IssueTokenRequest(clientId=target, clientSecret=ADMIN_SECRET)
            )
        )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay = retry_delay_s(error)
    assert delay is not None and 0 < delay <= retry_after
    # After the advertised delay the right secret works again.
    await asyncio.sleep(retry_after)
    reply = await _attempt(limited_http, target, ADMIN_SECRET)
    assert reply.status_code == 200, reply.text
