"""GET /sessions/{id}: a session's events of both kinds, oldest first, with content, and exact
totals, compared with the events sent; before and after the explore job folds the directory
notes (collector.explore.directory), and across a fold that happens between pages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from collector.explore.fold import ROUND_WRITES, fold_notes
from collector.store.storage import Storage, open_storage
from tests.conftest import ApiClient, assert_error, create_client, ingest, read
from tests.procs import Stack, stack_mongodb_url

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
async def storage(stack: Stack) -> AsyncIterator[Storage]:
    async with open_storage(stack_mongodb_url(stack), "aegisai", 10_000) as opened:
        yield opened


def llm(event_id: str, when: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "model_name": "gpt-4o-mini",
        "tokens_used": 10,
        "cost": 0.25,
        "timestamp": iso(when),
        **fields,
    }


def ml(event_id: str, when: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "model_type": "rf",
        "model_id": "ranker",
        "prediction_count": 1,
        "timestamp": iso(when),
        **fields,
    }


async def walk(
    http: httpx.AsyncClient, client: ApiClient, session_id: str, limit: int
) -> list[dict[str, Any]]:
    pages = []
    cursor = ""
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = await read(http, client, f"/sessions/{session_id}", **params)
        assert len(page["events"]) <= limit
        pages.append(page)
        if page["next_cursor"] is None:
            return pages
        cursor = page["next_cursor"]


async def test_a_session_is_read_whole_oldest_first_with_exact_totals(
    http: httpx.AsyncClient, tenant_client: ApiClient, storage: Storage
) -> None:
    sid, other = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    t0 = NOW - dt.timedelta(days=2, hours=3)
    # Across three hours and two days, in three batches, both kinds, one other session mixed in.
    first = [
        llm("a1", t0, session_id=sid, user_id="u-1", input="hi", output="hello"),
        llm("a2", t0 + dt.timedelta(minutes=70), session_id=sid, error="timeout", cost=1.5),
        llm("x1", t0 + dt.timedelta(minutes=71), session_id=other, user_id="u-9"),
    ]
    second = [
        llm("a3", t0 + dt.timedelta(days=1), session_id=sid, user_id="u-2", tokens_used=7),
        llm("a0", t0 + dt.timedelta(days=1), session_id=sid),  # the same millisecond as a3
    ]
    await ingest(http, tenant_client, "llm", first)
    await ingest(http, tenant_client, "llm", second)
    await ingest(
        http, tenant_client, "ml", [ml("m1", t0 + dt.timedelta(minutes=5), session_id=sid)]
    )
    await ingest(http, tenant_client, "llm", first)  # a retry: nothing twice

    expected = [("a1", "llm"), ("m1", "ml"), ("a2", "llm"), ("a0", "llm"), ("a3", "llm")]

    async def check() -> None:
        whole = await read(http, tenant_client, f"/sessions/{sid}")
        assert [(e["event_id"], e["kind"]) for e in whole["events"]] == expected
        assert whole["events"][0]["input"] == "hi" and whole["events"][0]["output"] == "hello"
        assert whole["user_id"] == "u-2"  # the newest event naming a user
        # m1 has no tokens or cost; a2's cost is its own.
        assert whole["totals"] == {"requests": 5, "tokens": 37, "cost": 2.25, "errors": 1}
        assert whole["next_cursor"] is None
        pages = await walk(http, tenant_client, sid, 2)
        assert [len(p["events"]) for p in pages] == [2, 2, 1]
        walked = [(e["event_id"], e["kind"]) for p in pages for e in p["events"]]
        assert walked == expected
        assert all(p["totals"] == whole["totals"] for p in pages)

    await check()  # from pending notes alone
    await fold_notes(storage)  # (the stack's own explore job may have folded some already)
    assert await storage.explore_pending.count_documents({"tenant": tenant_client.tenant}) == 0
    await check()  # from the directory

    # A fold between two pages: the walk still sees each event once.
    page = await read(http, tenant_client, f"/sessions/{sid}", limit="3")
    late = llm("a9", t0 + dt.timedelta(days=1, hours=1), session_id=sid)
    await ingest(http, tenant_client, "llm", [late])
    await fold_notes(storage)
    rest = await read(
        http, tenant_client, f"/sessions/{sid}", limit="3", cursor=page["next_cursor"]
    )
    walked = [e["event_id"] for e in page["events"] + rest["events"]]
    assert walked == ["a1", "m1", "a2", "a0", "a3", "a9"]
    assert rest["totals"]["requests"] == 6


async def test_sessions_are_per_tenant_and_errors_are_named(
    http: httpx.AsyncClient, tenant_client: ApiClient, admin: ApiClient
) -> None:
    sid = f"s-{uuid.uuid4().hex[:8]}"
    await ingest(http, tenant_client, "llm", [llm("only", NOW, session_id=sid)])
    stranger = await create_client(http, admin, f"t-{uuid.uuid4().hex[:12]}")
    reply = await http.get(f"/sessions/{sid}", headers=stranger.headers)
    assert_error(reply, 404, grpc.StatusCode.NOT_FOUND)
    reply = await http.get(
        f"/sessions/{sid}", params={"cursor": "nope"}, headers=tenant_client.headers
    )
    assert "cursor" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    reply = await http.get(
        f"/sessions/{sid}", params={"limit": "1001"}, headers=tenant_client.headers
    )
    assert "limit" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)


async def test_a_fold_of_many_keys_spreads_over_rounds_and_loses_none(
    http: httpx.AsyncClient, tenant_client: ApiClient, storage: Storage
) -> None:
    """Five batches of 60 sessions each, each batch over its own three days, touch more
    directory and hour summary groups together than one round writes (ROUND_WRITES): the fold
    takes several rounds, and every session is found afterwards, in every hour it has events."""
    run = uuid.uuid4().hex[:6]
    start = NOW - dt.timedelta(days=16)
    sessions: dict[str, list[str]] = {}
    for batch in range(5):
        t0 = start + dt.timedelta(days=3 * batch)
        events = []
        for i in range(60):
            sid = f"{run}-{batch}-{i}"
            ids = [f"{sid}-e{j}" for j in range(2)]
            sessions[sid] = ids
            events += [
                llm(ids[j], t0 + dt.timedelta(days=j, hours=i % 24), session_id=sid)
                for j in range(2)
            ]
        await ingest(http, tenant_client, "llm", events)
    await fold_notes(storage)
    assert await storage.explore_pending.count_documents({"tenant": tenant_client.tenant}) == 0
    # The groups the fold wrote parts of: more than one round may write, whatever parts the
    # job has merged since (merging keeps a group's documents in their group).
    mine = {"tenant": tenant_client.tenant, "dim": "session"}
    groups = set(await storage.explore_directory.distinct("group", mine))
    groups |= set(await storage.explore_summaries.distinct("group", mine | {"period": "hour"}))
    assert len(groups) > ROUND_WRITES
    for sid, ids in sessions.items():
        found = await read(http, tenant_client, f"/sessions/{sid}")
        assert [e["event_id"] for e in found["events"]] == ids


async def test_a_batch_naming_no_user_session_or_trace_is_folded_too(
    http: httpx.AsyncClient, tenant_client: ApiClient, storage: Storage
) -> None:
    """Events without attribution get rows and a note like any others; their note adds no
    summary, and folding it must not stop the job (an empty bulk write failed the round, and
    so every later run of the job at the same note: nothing was folded again)."""
    await fold_notes(storage)  # what earlier tests left
    await ingest(http, tenant_client, "ml", [ml("plain-1", NOW), ml("plain-2", NOW)])
    await fold_notes(storage)
    assert await storage.explore_pending.count_documents({"tenant": tenant_client.tenant}) == 0
