"""What the `export` and `import` commands share as clients of a running collector: where it
is, whose credentials (flags or AEGIS_* environment variables), and the token they get."""

from __future__ import annotations

import argparse
import os

import grpc

from aegis.v1 import auth_pb2, auth_pb2_grpc

# Errors the caller can fix (exit 2) rather than a collector that cannot be reached (exit 1).
USAGE_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


class CommandFailed(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def add_connection_args(p: argparse.ArgumentParser) -> None:
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


def require_credentials(args: argparse.Namespace) -> None:
    if not args.client_id or not args.client_secret:
        raise CommandFailed("--client-id and --client-secret (or AEGIS_CLIENT_*) are required", 2)


def token(channel: grpc.Channel, client_id: str, secret: str) -> str:
    reply = auth_pb2_grpc.AuthServiceStub(channel).IssueToken(
        auth_pb2.IssueTokenRequest(clientId=client_id, clientSecret=secret), timeout=30
    )
    return str(reply.access_token)


def failure(exc: grpc.RpcError) -> CommandFailed:
    code = exc.code()
    details = exc.details()
    return CommandFailed(f"{code.name}: {details}", 2 if code in USAGE_ERRORS else 1)
