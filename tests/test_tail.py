"""Live tail: TailEvents over gRPC and GET /ws/events over a WebSocket."""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aegis.v1 import tail_pb2, tail_pb2_grpc
from tests.conftest import ApiClient, create_client, ingest, issue_token, llm_event, ml_event
from tests.metrics_text import scrape, value
from tests.procs import Stack, start_stack

WITHIN_S = 30.0  # generous: a loaded 2-core machine


async def _started(call: Any) -> None:
    first = await asyncio.wait_for(call.read(), WITHIN_S)
    assert first.started and not first.events, first


_pending: dict[int, list[tail_pb2.TailEvent]] = {}


async def _next_event(call: Any) -> tail_pb2.TailEvent:
    """The call's next event, whether it came alone or with others in one reply."""
    pending = _pending.setdefault(id(call), [])
    if not pending:
        reply = await asyncio.wait_for(call.read(), WITHIN_S)
        assert reply is not grpc.aio.EOF and not reply.started and reply.events, reply
        pending.extend(reply.events)
    return pending.pop(0)


def _tail(channel: grpc.aio.Channel, who: ApiClient, kind: str = "") -> Any:
    return tail_pb2_grpc.TailServiceStub(channel).TailEvents(
        tail_pb2.TailEventsRequest(kind=kind), metadata=who.metadata
    )


async def _tail_metric(stack: Stack, name: str) -> float:
    return value((await scrape(stack.metrics_url))[1], name)


async def _until(check: Any, what: str) -> None:
    """Poll a real condition (another process's metric) until it holds."""
    try:
        async with asyncio.timeout(WITHIN_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {WITHIN_S} s: {what}") from None


async def test_grpc_tail_gets_new_events_of_its_tenant_only(
    stack: Stack, http: httpx.AsyncClient, channel: grpc.aio.Channel, admin: ApiClient
) -> None:
    mine = await create_client(http, admin, f"tail-{uuid.uuid4().hex[:8]}")
    other = await create_client(http, admin, f"tail-{uuid.uuid4().hex[:8]}")
    await ingest(http, mine, "ml", [ml_event(event_id="before")])  # before the tail: not sent
    call = _tail(channel, mine)
    llm_only = _tail(channel, mine, "llm")
    await _started(call)
    await _started(llm_only)
    # Two subscribers in this process share one change stream.
    assert await _tail_metric(stack, "aegis_tail_change_streams") == 1
    await ingest(http, other, "ml", [ml_event(event_id="theirs")])
    await ingest(http, mine, "ml", [ml_event(event_id=f"m{i}", latency_ms=5.0) for i in range(3)])
    await ingest(http, other, "llm", [llm_event(event_id="theirs-2")])
    await ingest(http, mine, "llm", [llm_event(event_id="last", cost=0.5)])
    got = [await _next_event(call) for _ in range(4)]
    # In storage order; the other tenant's (stored in between) never arrive.
    assert [(e.kind, e.event["event_id"]) for e in got] == [
        ("ml", "m0"),
        ("ml", "m1"),
        ("ml", "m2"),
        ("llm", "last"),
    ]
    assert got[0].event["latency_ms"] == 5.0 and got[0].event["model_id"] == "model-a"
    assert "tenant" not in got[0].event and "received_at" in got[0].event
    only = await _next_event(llm_only)
    assert (only.kind, only.event["event_id"], only.event["cost"]) == ("llm", "last", 0.5)
    call.cancel()
    llm_only.cancel()
    # The last subscriber gone, the change stream closes.
    await _until(lambda: _closed(stack), "the change stream closes once nobody is subscribed")


async def _closed(stack: Stack) -> bool:
    return await _tail_metric(stack, "aegis_tail_change_streams") == 0


async def test_tail_needs_the_read_scope(
    http: httpx.AsyncClient, channel: grpc.aio.Channel, admin: ApiClient
) -> None:
    writer = await create_client(http, admin, "tail-writer", ["ingest"])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _started(_tail(channel, writer))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reader = await create_client(http, admin, "tail-reader", ["read"])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _started(_tail(channel, reader, "traces"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _ws_url(stack: Stack, query: str = "") -> str:
    return f"ws://127.0.0.1:{stack.http_port}/ws/events{query}"


async def _ws_subscribed(
    stack: Stack, who: ApiClient, query: str = ""
) -> AsyncIterator[ClientConnection]:
    """A WebSocket tail, returned once the collector counts its subscription."""
    before = await _tail_metric(stack, "aegis_tail_subscribers")
    async with connect(_ws_url(stack, query)) as ws:
        await ws.send(json.dumps({"token": who.token}))

        async def counted() -> bool:
            return await _tail_metric(stack, "aegis_tail_subscribers") > before

        await _until(counted, "the WebSocket's subscription is live")
        yield ws


async def test_websocket_relays_the_tail(
    stack: Stack, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    mine = await create_client(http, admin, f"ws-{uuid.uuid4().hex[:8]}")
    other = await create_client(http, admin, f"ws-{uuid.uuid4().hex[:8]}")
    async for ws in _ws_subscribed(stack, mine):
        await ingest(http, other, "llm", [llm_event(event_id="theirs")])
        await ingest(http, mine, "llm", [llm_event(event_id="a1", tokens_used=7)])
        await ingest(http, mine, "ml", [ml_event(event_id="b1", metadata={"k": [1, "x"]})])
        first = json.loads(await asyncio.wait_for(ws.recv(), WITHIN_S))
        second = json.loads(await asyncio.wait_for(ws.recv(), WITHIN_S))
        assert set(first) == {"kind", "event"}
        assert (first["kind"], first["event"]["event_id"]) == ("llm", "a1")
        assert first["event"]["tokens_used"] == 7 and first["event"]["model_name"] == "llm-a"
        assert (second["kind"], second["event"]["event_id"]) == ("ml", "b1")
        assert second["event"]["metadata"] == {"k": [1, "x"]}
        assert second["event"]["timestamp"].endswith("Z")


async def _close_code(stack: Stack, first_message: str | None) -> tuple[int | None, str]:
    async with connect(_ws_url(stack)) as ws:
        if first_message is not None:
            await ws.send(first_message)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WITHIN_S)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def test_websocket_bad_or_missing_token_closes_1008(
    stack: Stack, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    code, reason = await _close_code(stack, json.dumps({"token": "not-a-jwt"}))
    assert code == 1008 and reason
    code, _ = await _close_code(stack, "hello")
    assert code == 1008
    code, _ = await _close_code(stack, json.dumps({"tok": "x"}))
    assert code == 1008
    code, reason = await _close_code(stack, None)  # nothing within 5 s
    assert code == 1008 and "token" in reason
    writer = await create_client(http, admin, "ws-writer", ["ingest"])
    code, _ = await _close_code(stack, json.dumps({"token": writer.token}))
    assert code == 1008


@pytest.fixture(scope="module")
def small_buffer_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: pathlib.Path = tmp_path_factory.mktemp("tail-stack")
    running = start_stack(data_dir, TAIL_BUFFER="20", ROLLUP_INTERVAL_S="0")
    yield running
    assert running.child.stop() == 0


async def test_a_stalled_subscriber_is_dropped_and_ingest_goes_on(
    small_buffer_stack: Stack,
) -> None:
    stack = small_buffer_stack
    async with httpx.AsyncClient(base_url=stack.http, timeout=60) as http:
        admin_token = await issue_token(http, "test-admin", "test-admin-secret-0123456789")
        admin = ApiClient("test-admin", "", "default", admin_token)
        who = await create_client(http, admin, "stalled")
        async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
            stalled = _tail(channel, who)
            await _started(stalled)
            # Never read again. Ingest goes on, every batch acknowledged, until the collector
            # has dropped the subscriber (its buffer is 20 events; gRPC buffers some more).
            batches = 0
            while await _tail_metric(stack, "aegis_tail_dropped_subscribers_total") < 1:
                assert batches < 200, "the stalled subscriber was never dropped"
                events = [ml_event(metadata={"pad": "x" * 2000}) for _ in range(200)]
                assert (await ingest(http, who, "ml", events))["accepted"] == 200
                batches += 1
            # What it reads now: what was in flight, then the reason it was dropped.
            with pytest.raises(grpc.aio.AioRpcError) as info:
                while True:
                    assert (await asyncio.wait_for(stalled.read(), WITHIN_S)) is not grpc.aio.EOF
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "behind" in (info.value.details() or "")
            # Ingest still works, and a new subscriber is served.
            fresh = _tail(channel, who)
            await _started(fresh)
            await ingest(http, who, "ml", [ml_event(event_id="after")])
            assert (await _next_event(fresh)).event["event_id"] == "after"
            fresh.cancel()
