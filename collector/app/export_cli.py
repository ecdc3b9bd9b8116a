"""`python -m collector export`: download an export from a running collector over gRPC.

A client like any other: it gets a token with the client's credentials (IssueToken), calls
ExportEvents and writes the chunks as they arrive, with a progress bar on stderr. The file
appears only once the export is complete (written beside it, then renamed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys
import tempfile

import grpc
from tqdm import tqdm

from aegis.v1 import export_pb2, export_pb2_grpc
from collector.app.remote import add_connection_args, failure, require_credentials, token


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export stored events of one kind from a running collector to a file",
        description="Export stored events of one kind from a running collector (gRPC), "
        "with the credentials of an API client that has the `read` scope.",
    )
    p.add_argument("--kind", required=True, choices=["ml", "llm"])
    p.add_argument("--start-date", default="", help="YYYY-MM-DD or RFC 3339 (default: all)")
    p.add_argument("--end-date", default="", help="YYYY-MM-DD (whole day) or RFC 3339")
    p.add_argument("--model", default="", help="only this model_id / model_name")
    p.add_argument("--format", default="ndjson", choices=["ndjson", "csv"])
    p.add_argument("-o", "--output", required=True, type=pathlib.Path, help="file to write")
    add_connection_args(p)


def run_export(args: argparse.Namespace) -> int:
    """Write the export to args.output; returns how many events it holds."""
    require_credentials(args)
    request = export_pb2.ExportEventsRequest(
        kind=args.kind,
        start_date=args.start_date,
        end_date=args.end_date,
        model=args.model,
        format=args.format,
    )
    output: pathlib.Path = args.output
    events = 0
    try:
        with grpc.insecure_channel(args.target) as channel:
            bearer = token(channel, args.client_id, args.client_secret)
            call = export_pb2_grpc.ExportServiceStub(channel).ExportEvents(
                request, metadata=(("authorization", f"Bearer {bearer}"),)
            )
            fd, partial = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent or ".")
            try:
                with (
                    os.fdopen(fd, "wb") as out,
                    tqdm(unit=" events", disable=args.quiet, file=sys.stderr) as bar,
                ):
                    for chunk in call:
                        out.write(chunk.data)
                        events += chunk.events
                        bar.update(chunk.events)
                os.replace(partial, output)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
    except grpc.RpcError as exc:
        raise failure(exc) from None
    return events
