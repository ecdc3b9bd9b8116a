"""The server's command line, as `aegis` (pip's console script) and `python -m collector`:
`run` (the whole stack, what `make run` does), `serve` (the collector alone), `clients
create|list|revoke|rotate` (the admin RPCs' twins, for the operator; audited as "cli"),
`export` and `import` (a tenant's history out of one deployment and into another)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import AsyncIterator

from aegis_shared import logs
from aegis_shared.ports import PortUnavailable, check_free
from collector.app import export_cli, import_cli
from collector.app.remote import CommandFailed
from collector.app.server import serve
from collector.app.settings import ConfigError, Settings
from collector.auth.audit import NO_TENANT, Auditor
from collector.auth.clients import (
    DEFAULT_SCOPES,
    MAX_GRACE_S,
    SCOPES,
    ClientRegistry,
    ClientSpec,
    client_spec,
)
from collector.errors import InvalidArgument, from_exception
from collector.store.embedded import DataDirInUse, shared_embedded_database
from collector.store.storage import open_storage

ENV_HELP = """environment (the main ones; all of them: docs/configuration.md):
  MONGODB_URL      MongoDB to use; unset → start the embedded SecantusDB under DATA_DIR
  DATABASE_NAME    database name (aegisai)
  JWT_SECRET       HMAC secret, >= 32 bytes; required with MONGODB_URL
  JWT_EXPIRATION   token lifetime in seconds (3600)
  GRPC_HOST        address to listen on (127.0.0.1; 0.0.0.0 only behind TLS or a proxy)
  GRPC_PORT        gRPC port (50051; 0 = any free port)
  GRPC_TLS_CERT / GRPC_TLS_KEY   PEM certificate chain and key: serve gRPC over TLS
  RATE_LIMIT_INGEST_PER_S   events per second per client and replica (0 = no limit)
  RATE_LIMIT_READ_PER_S     read calls per second per client and replica (20)
  AUTH_ATTEMPTS_PER_MIN     failed sign-ins per client id and source address and minute (10)
  ALERT_RULE_WRITES_PER_MIN alert rule creates/updates/deletes per client and minute (60)
  METRICS_PORT     Prometheus /metrics port on GRPC_HOST (9464; 0 = any free port; -1 = off)
  LOG_FORMAT       text (default) or json: one JSON object per line
  TAIL_BUFFER      events a live-tail subscriber may fall behind before it is dropped (10000)
  DATA_DIR         embedded DB files and generated secret (./data)
  BOOTSTRAP_CLIENT_ID / BOOTSTRAP_CLIENT_SECRET   global admin created or updated at start
  ROLLUP_INTERVAL_S / ALERTS_INTERVAL_S / RETENTION_INTERVAL_S
                   how often each background job runs (10 / 60 / 3600 s; 0 = not here)
  RETENTION_DAYS   delete raw events older than this (0 = keep forever)
  AUDIT_RETENTION_DAYS / ALERT_HISTORY_RETENTION_DAYS   audit logs, alert history (365 / 90)
  ROLLUP_RETENTION_DAYS   delete minute rollup buckets older than this (7; 0 = keep)
  ALLOW_PRIVATE_WEBHOOKS  let alert webhooks reach loopback/private addresses (false)
  WEBHOOK_TIMEOUT_S       one webhook attempt as a whole, from look-up to headers (10)

`clients ...` uses the database of a collector running on the same DATA_DIR, or starts
the embedded one just for itself; it never starts a second database on a DATA_DIR in use.

exit status: 0 done; 1 the database cannot be reached or started; 2 invalid arguments or
configuration (a port in use included). Errors are one line on stderr, starting with "error: ".
"""


def parser(prog: str = "aegis") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="AegisAI collector: gRPC ingest, auth and dashboards over MongoDB.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser(
        "run",
        help="run the whole stack in the foreground: the embedded database (unless MONGODB_URL "
        "is set), the collector and the REST gateway (what `make run` does)",
    )
    sub.add_parser("serve", help="run the gRPC collector alone (the default)")
    sub.add_parser(
        "check-ports",
        help="exit 0 if the collector's ports (GRPC_PORT, METRICS_PORT) are free now, else 2 "
        "naming the one in use (what `aegis run` checks before starting anything)",
    )
    clients = sub.add_parser("clients", help="manage API clients")
    clients_sub = clients.add_subparsers(dest="clients_command", required=True)
    create = clients_sub.add_parser(
        "create", help="create an API client and print its id and secret (shown once)"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scopes",
        nargs="+",
        choices=sorted(SCOPES),
        default=list(DEFAULT_SCOPES),
        help="default: %(default)s",
    )
    listing = clients_sub.add_parser(
        "list", help="list API clients (never their secrets), one JSON object a line"
    )
    listing.add_argument("--tenant", help="only this tenant's clients")
    revoke = clients_sub.add_parser(
        "revoke", help="revoke a client: no more logins; live tokens stop within a second"
    )
    revoke.add_argument("client_id")
    rotate = clients_sub.add_parser(
        "rotate", help="give a client a new secret (printed once); the old one works for a grace"
    )
    rotate.add_argument("client_id")
    rotate.add_argument(
        "--grace-seconds",
        type=int,
        default=0,
        help=f"how long the old secret keeps working, 0-{MAX_GRACE_S} (default: 0)",
    )
    export_cli.add_parser(sub)
    import_cli.add_parser(sub)
    return p


@contextlib.asynccontextmanager
async def reach_database(settings: Settings) -> AsyncIterator[str]:
    """MONGODB_URL, else the embedded database a running collector serves, else a fresh one."""
    if settings.mongodb_url:
        yield settings.mongodb_url
        return
    async with shared_embedded_database(settings.data_dir) as url:
        yield url


CLI_ACTOR = "cli"


async def create_client(settings: Settings, spec: ClientSpec) -> None:
    async with (
        reach_database(settings) as url,
        open_storage(
            url,
            settings.database_name,
            settings.mongodb_timeout_ms,
            settings.mongodb_request_timeout_ms,
        ) as storage,
    ):
        created = await ClientRegistry(storage).create(spec)
        await Auditor(storage).record(
            "admin",
            created.tenant,
            CLI_ACTOR,
            "client_created",
            {"new_client_id": created.client_id, "scopes": list(created.scopes)},
            actor_tenant=NO_TENANT,
        )
    print(f"clientId={created.client_id}")
    print(f"clientSecret={created.client_secret}")
    print(f"tenant={created.tenant}")
    print(f"scopes={','.join(created.scopes)}")


async def manage_clients(settings: Settings, args: argparse.Namespace) -> None:
    """list / revoke / rotate, as a global admin would over the API."""
    async with (
        reach_database(settings) as url,
        open_storage(url, settings.database_name, settings.mongodb_timeout_ms) as storage,
    ):
        registry, audit = ClientRegistry(storage), Auditor(storage)
        if args.clients_command == "list":
            for client in await registry.list_clients(args.tenant):
                print(json.dumps(dataclasses.asdict(client), default=str), flush=True)
            return
        found = await registry.find(args.client_id)
        if found is None:
            raise InvalidArgument(f"client {args.client_id!r} not found")
        target = {"target_client_id": args.client_id}
        if args.clients_command == "revoke":
            revoked_at = await registry.revoke(args.client_id)
            await audit.record(
                "admin",
                found["tenant"],
                CLI_ACTOR,
                "client_revoked",
                target,
                actor_tenant=NO_TENANT,
            )
            print(f"revoked {args.client_id} at {revoked_at.isoformat()}")
            return
        secret = await registry.rotate(args.client_id, args.grace_seconds)
        await audit.record(
            "admin",
            found["tenant"],
            CLI_ACTOR,
            "client_rotated",
            {**target, "grace_seconds": args.grace_seconds},
            actor_tenant=NO_TENANT,
        )
    print(f"clientId={args.client_id}")
    print(f"clientSecret={secret}")


def fail(exc: BaseException, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def run_stack() -> int:
    """`aegis run`: become `python -m stack`, so signals reach the supervisor directly."""
    os.execv(sys.executable, [sys.executable, "-m", "stack"])


def main(argv: list[str] | None = None, prog: str = "aegis") -> int:
    args = parser(prog).parse_args(argv)
    if args.command == "run":
        return run_stack()
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    # PyMongo's DEBUG logs print whole commands: query values (a secret typed as a client
    # id) and documents. Never, whatever LOG_LEVEL says.
    logging.getLogger("pymongo").setLevel(max(logging.INFO, logging.root.level))
    try:
        if args.command == "check-ports":
            check_free([settings.grpc_listen, settings.metrics_listen])
        elif args.command == "export":
            events = export_cli.run_export(args)
            print(f"exported {events} events to {args.output}", file=sys.stderr)
        elif args.command == "import":
            summary = import_cli.run_import(args)
            print(summary.line(args.file), file=sys.stderr)
            if summary.rejected:
                return 1
        elif args.command == "clients" and args.clients_command == "create":
            # Checked before any database is reached, let alone started.
            spec = client_spec(args.name, args.tenant, args.scopes)
            asyncio.run(create_client(settings, spec))
        elif args.command == "clients":
            asyncio.run(manage_clients(settings, args))
        else:
            asyncio.run(serve(settings))
    except (ConfigError, InvalidArgument, PortUnavailable) as exc:
        return fail(exc, 2)
    except CommandFailed as exc:
        return fail(exc, exc.code)
    except DataDirInUse as exc:
        return fail(exc, 1)
    except Exception as exc:
        known = from_exception(exc)
        if known is None:
            raise
        return fail(known, 1)
    return 0
