"""Export: ExportEvents over gRPC, GET /export/{kind} on the gateway, `python -m collector
export`; complete, in order, the caller's tenant only."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from typing import Any

import grpc
import httpx
import pytest

from aegis.v1 import export_pb2, export_pb2_grpc
from tests.conftest import ApiClient, assert_error, create_client, ingest, llm_event, ml_event
from tests.procs import Stack

N = 10_000
BATCH = 1000
DAY1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def _time(i: int) -> str:
    # Half the events on 1 March, half on 2 March; not in id order within a batch.
    moment = DAY1 + dt.timedelta(days=i * 2 // N, seconds=(i * 7) % 3600)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
async def exported(http: httpx.AsyncClient, admin: ApiClient) -> tuple[ApiClient, list[str]]:
    """A tenant with N LLM events (stored in this order) and a neighbour with a few."""
    owner = await create_client(http, admin, "export-owner")
    neighbour = await create_client(http, admin, "export-neighbour")
    order = [f"e{(i * 7919) % N:05d}" for i in range(N)]  # storage order != id order
    for start in range(0, N, BATCH):
        events = [
            llm_event(
                model_name="big" if i % 2 else "small",
                event_id=order[i],
                timestamp=_time(i),
                metadata={"i": i, "note": 'quote " and, comma'},
                tokens_used=i,
            )
            for i in range(start, start + BATCH)
        ]
        assert (await ingest(http, owner, "llm", events))["accepted"] == BATCH
    others = [llm_event(event_id=f"other-{i}", timestamp=_time(i)) for i in range(5)]
    await ingest(http, neighbour, "llm", others)
    return owner, order


async def test_ndjson_is_complete_in_order_and_own_tenant_only(
    http: httpx.AsyncClient, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, order = exported
    reply = await http.get("/export/llm", params={"format": "ndjson"}, headers=owner.headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-ndjson"
    lines = reply.text.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event_id"] for e in events] == order
    first = events[0]
    assert "tenant" not in first and "_id" not in first
    assert first["metadata"] == {"i": 0, "note": 'quote " and, comma'}
    assert first["timestamp"] == _time(0)
    assert first["model_name"] == "small" and first["tokens_used"] == 0


async def test_csv_has_a_header_and_metadata_as_json(
    http: httpx.AsyncClient, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, order = exported
    reply = await http.get("/export/llm", params={"format": "csv"}, headers=owner.headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [r["event_id"] for r in rows] == order
    assert json.loads(rows[3]["metadata"]) == {"i": 3, "note": 'quote " and, comma'}
    assert rows[3]["model_name"] == "big" and rows[3]["tokens_used"] == "3"
    assert rows[3]["timestamp"] == _time(3)


async def test_csv_has_every_field_that_ndjson_has(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    """With every field of an event set, the CSV header names exactly the NDJSON keys (LLM:
    provider, cost_source and content_truncated too), and the cells hold the same values."""
    attribution = {
        "user_id": "u-1",
        "session_id": "s-1",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": "b7ad6b7169203331",
        "environment": "production",
        "release": "2.3.1",
        "tags": ["a", "b"],
    }
    full: dict[str, dict[str, Any]] = {
        "ml": ml_event(
            event_id="ml-1",
            input_shape=[100, 10],
            prediction_count=5,
            timestamp="2024-03-01T10:00:00Z",
            metadata={"k": 1},
            latency_ms=12.5,
            error="Timeout",
            **attribution,
        ),
        "llm": llm_event(
            event_id="llm-1",
            provider="openai",
            prompt_length=10,
            response_length=20,
            tokens_used=30,
            input_tokens=12,
            output_tokens=18,
            cache_read_tokens=4,
            cache_write_tokens=2,
            reasoning_tokens=6,
            cost=0.5,
            timestamp="2024-03-01T10:00:00Z",
            metadata={"k": 1},
            latency_ms=12.5,
            error="Timeout",
            **attribution,
            system="s" * 40_000,  # over MAX_CONTENT_BYTES: cut, and content_truncated
            input=[{"role": "user", "content": 'quote " and, comma'}],
            output="plain text",
        ),
    }
    for kind, event in full.items():
        await ingest(http, tenant_client, kind, [event])
        ndjson = await http.get(f"/export/{kind}", headers=tenant_client.headers)
        (data,) = [json.loads(line) for line in ndjson.text.splitlines()]
        table = await http.get(
            f"/export/{kind}", params={"format": "csv"}, headers=tenant_client.headers
        )
        (row,) = list(csv.DictReader(io.StringIO(table.text)))
        assert sorted(row) == sorted(data), kind
        for key, value in data.items():
            cell = (
                json.dumps(value, separators=(",", ":"))
                if isinstance(value, dict | list | bool)
                else str(value)
            )
            assert row[key] == cell, (kind, key)
    assert (row["provider"], row["cost_source"]) == ("openai", "client")
    assert row["content_truncated"] == "true" and row["output"] == "plain text"


async def test_date_range_and_model_filters(
    http: httpx.AsyncClient, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, order = exported
    params = {"start_date": "2024-03-02", "end_date": "2024-03-02", "model": "big"}
    reply = await http.get("/export/llm", params=params, headers=owner.headers)
    assert reply.status_code == 200, reply.text
    ids = [json.loads(line)["event_id"] for line in reply.text.splitlines()]
    assert ids == [order[i] for i in range(N // 2, N) if i % 2]


async def test_grpc_chunks_name_the_type_and_count_the_events(
    stack: Stack, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, _ = exported
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        call = export_pb2_grpc.ExportServiceStub(channel).ExportEvents(
            export_pb2.ExportEventsRequest(kind="llm", format="csv"), metadata=owner.metadata
        )
        chunks = [chunk async for chunk in call]
    assert chunks[0].content_type == "text/csv"
    assert all(c.content_type == "" for c in chunks[1:])
    assert sum(c.events for c in chunks) == N
    assert b"".join(c.data for c in chunks).count(b"\n") >= N + 1


async def test_bad_requests(
    http: httpx.AsyncClient, admin: ApiClient, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, _ = exported
    reply = await http.get("/export/llm", params={"format": "xml"}, headers=owner.headers)
    assert "format" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    reply = await http.get("/export/traces", headers=owner.headers)
    assert "kind" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    reply = await http.get("/export/ml", params={"start_date": "soon"}, headers=owner.headers)
    assert "start_date" in assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert_error(await http.get("/export/ml"), 401, grpc.StatusCode.UNAUTHENTICATED)
    writer = await create_client(http, admin, "export-owner", ["ingest"])
    reply = await http.get("/export/ml", headers=writer.headers)
    assert_error(reply, 403, grpc.StatusCode.PERMISSION_DENIED)


async def test_empty_export(http: httpx.AsyncClient, tenant_client: ApiClient) -> None:
    await ingest(http, tenant_client, "llm", [llm_event()])  # another kind
    reply = await http.get("/export/ml", params={"format": "csv"}, headers=tenant_client.headers)
    assert reply.status_code == 200
    assert reply.text.splitlines() == [
        "event_id,timestamp,model_type,model_id,input_shape,prediction_count,latency_ms,"
        "error,metadata,client_id,received_at,user_id,session_id,trace_id,span_id,"
        "parent_span_id,environment,release,tags"
    ]
    await ingest(http, tenant_client, "ml", [ml_event(input_shape=[2, 3])])
    reply = await http.get("/export/ml", headers=tenant_client.headers)
    (line,) = reply.text.splitlines()
    assert json.loads(line)["input_shape"] == [2, 3]


def _cli(stack: Stack, who: ApiClient, *args: str) -> subprocess.CompletedProcess[str]:
    env: dict[str, Any] = {
        "AEGIS_CLIENT_ID": who.client_id,
        "AEGIS_CLIENT_SECRET": who.client_secret,
        "AEGIS_TARGET": stack.grpc_target,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "collector", "export", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_cli_writes_the_export_with_a_progress_bar(
    stack: Stack, tmp_path: Any, exported: tuple[ApiClient, list[str]]
) -> None:
    owner, order = exported
    out = tmp_path / "llm.csv"
    done = _cli(
        stack, owner, "--kind", "llm", "--start-date", "2024-03-01", "--end-date",
        "2024-03-01", "--format", "csv", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["event_id"] for r in rows] == order[: N // 2]
    assert "events" in done.stderr and f"exported {N // 2} events" in done.stderr
    bad = _cli(stack, owner, "--kind", "llm", "--start-date", "nope", "-o", str(out))
    assert bad.returncode == 2 and "start_date" in bad.stderr
    wrong = ApiClient(owner.client_id, "wrong-secret", owner.tenant, "")
    denied = _cli(stack, wrong, "--kind", "llm", "-o", str(tmp_path / "x.csv"))
    assert denied.returncode == 2 and "UNAUTHENTICATED" in denied.stderr
    assert not (tmp_path / "x.csv").exists()
