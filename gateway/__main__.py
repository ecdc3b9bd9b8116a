"""`python -m gateway`: serve the REST gateway with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m gateway",
        description="AegisAI REST gateway: the seed's JSON API, forwarded to the collector.",
        epilog="environment: HTTP_PORT (8000; 0 = any free port), COLLECTOR_ADDR "
        "(127.0.0.1:$GRPC_PORT), CORS_ORIGINS (comma-separated), LOG_LEVEL",
    ).parse_args(argv)
    settings = GatewaySettings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    # Bind ourselves so HTTP_PORT=0 works and the real port can be announced.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.http_host, settings.http_port))
    sock.listen(1024)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level=settings.log_level.lower(), timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"READY http={port}", flush=True)
        await serving

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
