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

from aegis.v1 import auth_pb2, auth_pb2_grpc, export_pb2, export_pb2_grpc

# Errors the caller can fix (exit 2) rather than a collector that cannot be reached (exit 1).
USAGE_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


class ExportFailed(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
    p.add_argument(
        "--target",
        default=os.environ.get("AEGIS_TARGET", f"127.0.0.1:{os.environ.get('GRPC_PORT', 50051)}"),
        help="collector address (env AEGIS_TARGET; default 127.0.0.1:$GRPC_PORT)",
    )
    p.add_argument(
        "--client-id",
        default=os.environ.get("AEGIS_CLIENT_ID"),
        help="API client id (env AEGIS_CLIENT_ID)",
    )
    p.add_argument(
        "--client-secret",
        default=os.environ.get("AEGIS_CLIENT_SECRET"),
        help="its secret (env AEGIS_CLIENT_SECRET; prefer the environment to the command line)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _token(channel: grpc.Channel, client_id: str, secret: str) -> str:
    reply = auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
        auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret), timeout=30
    )
    return str(reply.access_token)


def run_export(args: argparse.Namespace) -> int:
    """Write the export to args.output; returns how many events it holds."""
    if not args.client_id or not args.client_secret:
        raise ExportFailed("--client-id and --client-secret (or AEGIS_CLIENT_*) are required", 2)
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
            token = _token(channel, args.client_id, args.client_secret)
            call = export_pb2_grpc.ExportServiceStub(channel).ExportEvents(
                request, metadata=(("authorization", f"Bearer {token}"),)
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
        code = exc.code()
        details = exc.details()
        raise ExportFailed(f"{code.name}: {details}", 2 if code in USAGE_ERRORS else 1) from None
    return events
