"""`aegis import FILE`: send the NDJSON that `aegis export` writes to a running collector.

A client like any other: it gets a token (IssueToken) and sends the events through the ingest
API (IngestMLJson / IngestLLMJson) in batches, with a progress bar on stderr. Every exported
event carries its `event_id`, and (tenant, event_id) is stored at most once, so re-running an
interrupted import stores only what is missing: the rest comes back as duplicates. The tenant
is the importing client's, whatever the file says.

Only the fields of the ingest API are sent: what the server sets itself (`received_at`,
`client_id`, `cost_source`) is set anew by the server that stores it. The cost is sent as
exported, so the new deployment's dashboards show the same numbers.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import struct_pb2
from tqdm import tqdm

from aegis.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from aegis_sdk.status import retry_info_delay
from collector.app.remote import (
    CommandFailed,
    add_connection_args,
    failure,
    require_credentials,
    token,
)

BATCH = 500
ATTEMPTS = 8
RETRIED = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)
FIELDS = {
    "ml": frozenset(f.name for f in events_pb2.MLEvent.DESCRIPTOR.fields),
    "llm": frozenset(f.name for f in events_pb2.LLMEvent.DESCRIPTOR.fields),
}


@dataclass
class ImportSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self, path: pathlib.Path) -> str:
        return (
            f"imported {path}: {self.accepted} stored, {self.duplicates} already stored, "
            f"{self.rejected} rejected"
        )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="send events exported as NDJSON to a running collector (exactly once by event_id)",
        description="Send the NDJSON that `export` writes to a running collector (gRPC), with "
        "the credentials of an API client that has the `ingest` scope; the events go to that "
        "client's tenant. Safe to re-run: events already stored count as duplicates.",
    )
    p.add_argument("file", type=pathlib.Path, help="NDJSON file, one event a line")
    p.add_argument(
        "--kind",
        choices=["ml", "llm"],
        help="the events' kind (default: each line's own: model_name → llm, model_id → ml)",
    )
    add_connection_args(p)


def _kind_of(event: dict[str, Any], forced: str | None, where: str) -> str:
    if forced:
        return forced
    if "model_name" in event:
        return "llm"
    if "model_id" in event:
        return "ml"
    raise CommandFailed(f"{where}: neither model_name nor model_id; pass --kind", 2)


def _batches(path: pathlib.Path, forced: str | None) -> Iterator[tuple[str, list[Any]]]:
    """(kind, events) in file order, at most BATCH a batch, each batch of one kind."""
    pending: list[Any] = []
    pending_kind = ""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CommandFailed(f"{where}: not JSON ({exc.msg})", 2) from None
            if not isinstance(event, dict):
                raise CommandFailed(f"{where}: expected a JSON object, one event a line", 2)
            if not event.get("event_id"):
                raise CommandFailed(f"{where}: no event_id, so a re-run could store it twice", 2)
            kind = _kind_of(event, forced, where)
            if pending and (kind != pending_kind or len(pending) == BATCH):
                yield pending_kind, pending
                pending = []
            pending_kind = kind
            pending.append({k: v for k, v in event.items() if k in FIELDS[kind]})
    if pending:
        yield pending_kind, pending


def _retry_delay(exc: grpc.RpcError, attempt: int) -> float:
    """The server's RetryInfo delay, else exponential backoff."""
    delay = retry_info_delay(exc.trailing_metadata())
    return delay if delay is not None else float(min(0.25 * 2**attempt, 10.0))


def _send(
    stub: ingest_pb2_grpc.IngestServiceStub, kind: str, events: list[Any], bearer: str
) -> ingest_pb2.IngestResponse:
    values = [struct_pb2.Value() for _ in events]
    for value, event in zip(values, events, strict=True):
        value.struct_value.update(event)
    call = stub.IngestLLMJson if kind == "llm" else stub.IngestMLJson
    request_type = (
        ingest_pb2.IngestLLMJsonRequest if kind == "llm" else ingest_pb2.IngestMLJsonRequest
    )
    for attempt in range(ATTEMPTS):
        try:
            reply: ingest_pb2.IngestResponse = call(
                request_type(events=values),
                metadata=(("authorization", f"Bearer {bearer}"),),
                timeout=60,
            )
            return reply
        except grpc.RpcError as exc:
            if exc.code() not in RETRIED or attempt == ATTEMPTS - 1:
                raise
            time.sleep(_retry_delay(exc, attempt))
    raise AssertionError("unreachable")


def run_import(args: argparse.Namespace) -> ImportSummary:
    require_credentials(args)
    path: pathlib.Path = args.file
    if not path.is_file():
        raise CommandFailed(f"{path}: no such file", 2)
    summary = ImportSummary()
    try:
        with (
            grpc.insecure_channel(args.target) as channel,
            tqdm(unit=" events", disable=args.quiet, file=sys.stderr) as bar,
        ):
            bearer = token(channel, args.client_id, args.client_secret)
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            for kind, events in _batches(path, args.kind):
                reply = _send(stub, kind, events, bearer)
                summary.accepted += reply.accepted
                summary.duplicates += reply.duplicates
                summary.rejected += reply.rejected
                for error in reply.errors:
                    event_id = events[error.index].get("event_id")
                    message = f"event {event_id}: {error.field}: {error.reason}"
                    print(message, file=sys.stderr)
                    summary.errors.append(message)
                bar.update(len(events))
    except grpc.RpcError as exc:
        raise failure(exc) from None
    return summary
