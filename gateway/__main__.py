"""`python -m gateway`: serve the REST gateway with uvicorn."""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn

from aegis_shared import logs
from aegis_shared.ports import unavailable
from gateway.app import create_app
from gateway.settings import GatewaySettings


class AnnouncingServer(uvicorn.Server):
    """Prints `READY http=PORT` once the app has started, for supervisors and tests."""

    def __init__(self, config: uvicorn.Config, port: int) -> None:
        super().__init__(config)
        self._port = port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print(f"READY http={self._port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m gateway",
        description="AegisAI REST gateway: the seed's JSON API, forwarded to the collector.",
        epilog="environment: HTTP_HOST (127.0.0.1), HTTP_PORT (8000; 0 = any free port), "
        "COLLECTOR_ADDR (127.0.0.1:$GRPC_PORT), GRPC_TLS_CERT (the collector serves TLS with "
        "this certificate: trust it), COLLECTOR_TLS_CA (PEM roots, or 'system'), "
        "CORS_ORIGINS (comma-separated), FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-For "
        "is believed; 127.0.0.1,::1), FORWARDING_SECRET or DATA_DIR (shared with the "
        "collector), LOG_LEVEL, LOG_FORMAT (text | json)",
    ).parse_args(argv)
    settings = GatewaySettings()
    logs.configure(settings.log_level, settings.log_format)
    # Bind ourselves so HTTP_PORT=0 works and the real port can be announced.
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and accepted sockets inherit ours. With proto 0 every small answer (the
    # headers, then the body) met the client's delayed ACK: 40 ms added to each REST call.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.http_host, settings.http_port))
    except OSError as exc:
        sock.close()
        print(f"error: {unavailable(settings.http_listen, exc)}", file=sys.stderr)
        return 2
    sock.listen(1024)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
        # The caller's address, which the sign-in limits count by (gateway.forwarding).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # JSON: uvicorn's loggers keep no handlers of their own and go through ours.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    AnnouncingServer(config, port).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
