"""Command line: `python -m collector [serve]` and `python -m collector clients create`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from collector.clients import DEFAULT_SCOPES, SCOPES, ClientRegistry
from collector.embedded import embedded_database, wait_for_ping
from collector.errors import AegisError
from collector.server import EMBEDDED_URL_FILE, serve
from collector.settings import ConfigError, Settings
from collector.storage import open_storage

ENV_HELP = """environment (see README for all):
  MONGODB_URL      MongoDB to use; unset → start the embedded SecantusDB under DATA_DIR
  DATABASE_NAME    database name (aegisai)
  JWT_SECRET       HMAC secret, >= 32 bytes; required with MONGODB_URL
  JWT_EXPIRATION   token lifetime in seconds (3600)
  GRPC_PORT        gRPC port (50051; 0 = any free port)
  DATA_DIR         embedded DB files and generated secret (./data)
  BOOTSTRAP_CLIENT_ID / BOOTSTRAP_CLIENT_SECRET   global admin created or updated at start
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m collector",
        description="AegisAI collector: gRPC ingest, auth and dashboards over MongoDB.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gRPC collector (the default)")
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
    return p


@contextlib.asynccontextmanager
async def reach_database(settings: Settings) -> AsyncIterator[str]:
    """MONGODB_URL, else the embedded database of a running collector, else a fresh one."""
    if settings.mongodb_url:
        yield settings.mongodb_url
        return
    url_file = settings.data_dir / EMBEDDED_URL_FILE
    if url_file.exists():
        url = url_file.read_text().strip()
        with contextlib.suppress(Exception):
            await wait_for_ping(url, None, 2.0)
            yield url
            return
    async with embedded_database(settings.data_dir) as url:
        yield url


async def create_client(settings: Settings, name: str, tenant: str, scopes: list[str]) -> None:
    async with (
        reach_database(settings) as url,
        open_storage(url, settings.database_name, settings.mongodb_timeout_ms) as storage,
    ):
        created = await ClientRegistry(storage).create(name=name, tenant=tenant, scopes=scopes)
    print(f"clientId={created.client_id}")
    print(f"clientSecret={created.client_secret}")
    print(f"tenant={created.tenant}")
    print(f"scopes={','.join(created.scopes)}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s - %(name)s - %(levelname)s - %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "clients":
            asyncio.run(create_client(settings, args.name, args.tenant, args.scopes))
        else:
            asyncio.run(serve(settings))
    except (ConfigError, AegisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
