"""LLM content (input, output, system) at ingest, on collectors of their own sharing one
database: MAX_CONTENT_BYTES cuts it as documented (collector.ingest.content) and marks the
event; STORE_CONTENT=false stores none; and content stays on the stored event: a sentinel in
it never reaches the collector's or the gateway's log at LOG_LEVEL=DEBUG, the metrics, the
overview's recent events or the live tail, while export returns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from pymongo import MongoClient

from aegis.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    tail_pb2,
    tail_pb2_grpc,
)
from aegis_shared import child_process
from collector.ingest.content import ContentPolicy
from stack import supervision
from tests.metrics_text import scrape
from tests.procs import START_TIMEOUT_S, Database, collector_env, grpc_client_for

CAP = 120
WITHIN_S = 30.0


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("content-db")).start()
    yield db
    db.stop()


@dataclass
class Child:
    """A server of ours whose output (its log included) is kept in memory."""

    process: supervision.ReadyChild
    ports: dict[str, int]
    lines: list[str]
    name: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    def stop_and_read_log(self) -> str:
        """Stop it; its whole output, once the pipe is drained (the thread that reads it ends
        at end of file)."""
        self.process.stop()  # the gateway ends by its SIGTERM, the collector with 0: either will do
        for thread in threading.enumerate():
            if thread.name == f"{self.name}-stdout":
                thread.join(WITHIN_S)
                assert not thread.is_alive(), f"the output of {self.name} did not end"
        return "\n".join(self.lines)


@contextlib.contextmanager
def child(module: str, env: dict[str, str], *args: str) -> Iterator[Child]:
    name = f"{module}-{uuid.uuid4().hex[:8]}"  # names its output's reader thread
    lines: list[str] = []
    process = supervision.ReadyChild(
        name,
        child_process.python_module(module, *args),
        env,
        echo=lines.append,
        stderr=subprocess.STDOUT,  # the log goes to `lines` too
    )
    try:
        yield Child(process, process.wait_ready(START_TIMEOUT_S), lines, name)
    finally:
        process.stop()


def collector(database: Database, data_dir: pathlib.Path, **settings: str) -> Any:
    """A collector of its own on the shared database."""
    env = collector_env(database.url, data_dir)
    env.update(settings)
    return child("collector", env, "serve")


def token_for(target: str, tenant: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata with the token of a new ingest+read client of `tenant`."""
    client_id, secret = grpc_client_for(target, tenant)
    with grpc.insecure_channel(target) as channel:
        token = (
            auth_pb2_grpc.AuthServiceStub(channel)
            .IssueToken(
                auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret), timeout=30
            )
            .access_token
        )
    return (("authorization", f"Bearer {token}"),)


def ingest_llm(
    target: str, metadata: tuple[tuple[str, str], ...], events: list[dict[str, Any]]
) -> ingest_pb2.IngestResponse:
    with grpc.insecure_channel(target) as channel:
        messages = [json_format.ParseDict(e, events_pb2.LLMEvent()) for e in events]
        return ingest_pb2_grpc.IngestServiceStub(channel).IngestLLM(
            ingest_pb2.IngestLLMRequest(events=messages), metadata=metadata, timeout=30
        )


def stored(database: Database, tenant: str) -> dict[str, dict[str, Any]]:
    with MongoClient(database.url, serverSelectionTimeoutMS=5000) as client:
        return {d["event_id"]: d for d in client["aegisai"]["llm_events"].find({"tenant": tenant})}


def utf8(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    return sum(len(m["role"].encode()) + len(m["content"].encode()) for m in value)


def message(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


def test_content_over_max_content_bytes_is_cut_as_documented_and_marked(
    database: Database, tmp_path: pathlib.Path
) -> None:
    users = [message("user", f"m{i}" + "x" * 22) for i in range(5)]  # 4 + 24 bytes each
    answers = [message("assistant", f"a{i}" + "y" * 17) for i in range(5)]  # 9 + 19 bytes
    events = {
        "at-the-cap": {"input": "a" * 60, "output": "b" * 50, "system": "s" * 10},
        "fair-shares": {"input": "a" * 200, "output": "b" * 200, "system": "s" * 10},
        "multibyte": {"input": "€" * 50, "system": "s"},  # 3 bytes a character
        "last-message-cut": {"input": users, "output": "ok"},
        "messages-dropped": {"input": answers, "output": "ok"},
        "messages-only-output": {"output": users},
    }
    expected: dict[str, dict[str, Any]] = {
        "at-the-cap": events["at-the-cap"],
        # system keeps its 10 bytes, input and output share the other 110.
        "fair-shares": {"input": "a" * 55, "output": "b" * 55, "system": "s" * 10},
        # 119 bytes for the input: 39 whole characters, never half of one.
        "multibyte": {"input": "€" * 39, "system": "s"},
        # 118 bytes for the input: 4 messages (112), then the 5th's role and 2 of its bytes.
        "last-message-cut": {"input": [*users[:4], message("user", "m4")], "output": "ok"},
        # 118 bytes: 4 messages (112); the 5th's role (9 bytes) does not fit: dropped.
        "messages-dropped": {"input": answers[:4], "output": "ok"},
        # 120 bytes: 4 messages (112), then the 5th's role and 4 of its bytes.
        "messages-only-output": {"output": [*users[:4], message("user", "m4xx")]},
    }
    with collector(database, tmp_path, MAX_CONTENT_BYTES=str(CAP)) as running:
        tenant = f"cut-{uuid.uuid4().hex[:8]}"
        metadata = token_for(running.target, tenant)
        sent = [{"event_id": k, "model_name": "m", **v} for k, v in events.items()]
        assert ingest_llm(running.target, metadata, sent).accepted == len(sent)
        docs = stored(database, tenant)
    for event_id, want in expected.items():
        doc = docs[event_id]
        got = {k: doc[k] for k in ("input", "output", "system") if k in doc}
        assert got == want, event_id
        assert sum(utf8(v) for v in got.values()) <= CAP, event_id
        assert doc.get("content_truncated", False) is (event_id != "at-the-cap"), event_id


@pytest.mark.parametrize(
    "content",
    [
        {"input": "a" * 1000},
        {"input": [message("u", "é" * 300), message("v", "x")], "output": "z" * 7, "system": "s"},
        {"output": [message("u" * 64, "€" * 90)] * 3, "system": "€" * 200},
        {"input": "", "output": "𝄞" * 100},
    ],
)
def test_what_a_cut_keeps_is_a_prefix_within_the_cap(content: dict[str, Any]) -> None:
    event = dict(content)
    ContentPolicy(max_bytes=CAP).apply(event)
    assert event["content_truncated"] is True
    assert sum(utf8(event.get(k)) for k in ("input", "output", "system")) <= CAP
    for key, kept in event.items():
        if key == "content_truncated":
            continue
        original = content[key]
        if isinstance(original, str):
            assert original.startswith(kept)
        elif kept:  # whole messages from the first, the last of them perhaps cut
            last = len(kept) - 1
            assert kept[:last] == original[:last]
            assert kept[last]["role"] == original[last]["role"]
            assert original[last]["content"].startswith(kept[last]["content"])


def test_store_content_false_stores_none_of_it(database: Database, tmp_path: pathlib.Path) -> None:
    with collector(database, tmp_path, STORE_CONTENT="false") as running:
        tenant = f"nocontent-{uuid.uuid4().hex[:8]}"
        metadata = token_for(running.target, tenant)
        sent = [
            {"event_id": "e1", "model_name": "m", "input": "a" * 500, "output": "b" * 500,
             "system": "s", "user_id": "u-1", "tokens_used": 9},
            {"event_id": "e2", "model_name": "m", "input": [message("user", "hi")]},
        ]  # fmt: skip
        assert ingest_llm(running.target, metadata, sent).accepted == 2
        docs = stored(database, tenant)
    for doc in docs.values():
        assert not {"input", "output", "system", "content_truncated"} & set(doc), doc
    assert (docs["e1"]["user_id"], docs["e1"]["tokens_used"]) == ("u-1", 9)


SENTINEL = "SENTINEL-7f3a9c-never-leaves-the-event"


async def _tail_events(call: Any, count: int) -> list[tail_pb2.TailEvent]:
    events: list[tail_pb2.TailEvent] = []
    while len(events) < count:
        reply = await asyncio.wait_for(call.read(), WITHIN_S)
        assert reply is not grpc.aio.EOF, "the tail ended"
        events.extend(reply.events)
    return events


@contextlib.asynccontextmanager
async def _channel(target: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(target) as channel:
        yield channel


async def test_content_never_reaches_logs_metrics_recent_events_or_the_tail(
    database: Database, tmp_path: pathlib.Path
) -> None:
    gateway_env = supervision.child_env(HTTP_PORT="0", HTTP_HOST="127.0.0.1", LOG_LEVEL="DEBUG")
    with collector(database, tmp_path, LOG_LEVEL="DEBUG") as running:
        gateway_env["COLLECTOR_ADDR"] = running.target
        with child("gateway", gateway_env) as gateway:
            http_port = gateway.ports["http"]
            tenant = f"sentinel-{uuid.uuid4().hex[:8]}"
            metadata = token_for(running.target, tenant)
            headers = {"Authorization": metadata[0][1]}
            async with (
                _channel(running.target) as channel,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http,
            ):
                tail = tail_pb2_grpc.TailServiceStub(channel).TailEvents(
                    tail_pb2.TailEventsRequest(), metadata=metadata
                )
                first = await asyncio.wait_for(tail.read(), WITHIN_S)
                assert first.started
                rest_event = {
                    "event_id": "over-rest",
                    "model_name": "m",
                    "user_id": "u-1",
                    "input": [message("user", f"tell me {SENTINEL}")],
                    "output": f"here: {SENTINEL}",
                    "system": SENTINEL,
                }
                reply = await http.post(
                    "/ingest/llm", json={"events": [rest_event]}, headers=headers
                )
                assert reply.status_code == 200 and reply.json()["accepted"] == 1, reply.text
                grpc_event = events_pb2.LLMEvent(
                    event_id="over-grpc",
                    model_name="m",
                    user_id="u-2",
                    input_json=json.dumps([message("user", SENTINEL)]).encode(),
                    system=SENTINEL,
                )
                result = await ingest_pb2_grpc.IngestServiceStub(channel).IngestLLM(
                    ingest_pb2.IngestLLMRequest(events=[grpc_event]), metadata=metadata
                )
                assert result.accepted == 1, result
                tailed = await _tail_events(tail, 2)
                tail.cancel()
                shown = [json_format.MessageToDict(e.event) for e in tailed]
                assert {e["event_id"] for e in shown} == {"over-rest", "over-grpc"}
                assert {e["user_id"] for e in shown} == {"u-1", "u-2"}
                assert SENTINEL not in json.dumps(shown)

                overview = await http.get("/dashboard/overview", headers=headers)
                recent = overview.json()["recent_events"]
                assert {r["event_id"] for r in recent} == {"over-rest", "over-grpc"}
                assert SENTINEL not in overview.text
                for url in (
                    f"http://127.0.0.1:{running.ports['metrics']}/metrics",
                    f"http://127.0.0.1:{http_port}/metrics",
                ):
                    text, _ = await scrape(url)
                    assert "aegis_" in text and SENTINEL not in text, url
                exported = await http.get("/export/llm", headers=headers)
                assert exported.text.count(SENTINEL) == 5  # the tenant's own data: all there
            gateway_log = gateway.stop_and_read_log()
        collector_log = running.stop_and_read_log()
    for log in (collector_log, gateway_log):
        assert " - DEBUG - " in log  # the level took effect
        assert SENTINEL not in log
