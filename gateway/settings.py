"""The gateway's own small configuration."""

from __future__ import annotations

import pathlib

import grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aegis_shared.logs import LogFormat
from aegis_shared.ports import Listen


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    http_host: str = Field(
        "127.0.0.1",
        description="Address the REST gateway listens on: loopback unless told otherwise, as "
        "uvicorn's own default. `0.0.0.0` exposes it, behind a TLS proxy (SECURITY.md).",
    )
    http_port: int = Field(8000, ge=0, le=65535, description="REST port (`0`: any free port).")
    grpc_port: int = Field(
        50051,
        description="The collector's port on this host, dialled when `COLLECTOR_ADDR` is unset.",
    )
    collector_addr: str | None = Field(
        None,
        description="Where the gateway dials the collector (`host:port`); defaults to "
        "`127.0.0.1:$GRPC_PORT`. `make run` sets it.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the REST API from a browser; "
        "empty: no CORS headers.",
    )
    log_level: str = Field("INFO", description="Log level (`DEBUG`, `INFO`, `WARNING`, …).")
    log_format: LogFormat = Field(
        "text",
        description="`text`, or `json`: one JSON object per line, with the request id.",
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        description="Largest request body (413 past it), and largest gRPC message to or from "
        "the collector.",
    )
    rpc_timeout_s: float = Field(
        30.0,
        description="Deadline of each unary call to the collector (REST routes, OTLP/HTTP); "
        "the export and live-tail streams have none.",
    )
    grpc_tls_cert: pathlib.Path | None = Field(
        None,
        description="The collector's certificate when it serves TLS (the collector's own "
        "variable): the gateway then dials it over TLS, trusting `COLLECTOR_TLS_CA`, or else "
        "this certificate itself (a self-signed one).",
    )
    collector_tls_ca: str | None = Field(
        None,
        description="PEM roots to verify the collector's certificate with, or `system` for "
        "the system's roots.",
    )
    collector_tls_server_name: str | None = Field(
        None,
        description="The name the collector's certificate must carry, when not the host of "
        "`COLLECTOR_ADDR` (`make run` dials `127.0.0.1`).",
    )
    forwarding_secret: str | None = Field(
        None,
        description="Signs the caller's address the gateway forwards to the collector (for "
        "the sign-in limits): the same `FORWARDING_SECRET` as the collector's, or else the file "
        "the collector keeps in `DATA_DIR`.",
    )
    data_dir: pathlib.Path = Field(
        pathlib.Path("./data"),
        description="Where the gateway finds the collector's forwarding secret file when "
        "`FORWARDING_SECRET` is unset (the collector's `DATA_DIR`).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies (comma-separated addresses or networks, as uvicorn's) whose "
        "`X-Forwarded-For` names the caller; anyone else is its connection's peer. By default a "
        "proxy on this host (SECURITY.md: TLS in front); empty: believe no one.",
    )

    @property
    def http_listen(self) -> Listen:
        return Listen(self.http_host, self.http_port, "HTTP_PORT", "HTTP_HOST")

    @property
    def collector_target(self) -> str:
        return self.collector_addr or f"127.0.0.1:{self.grpc_port}"

    def collector_credentials(self) -> grpc.ChannelCredentials | None:
        """None: plaintext (the collector has no TLS)."""
        if self.collector_tls_ca == "system":
            return grpc.ssl_channel_credentials()
        roots = self.collector_tls_ca or self.grpc_tls_cert
        if roots is None:
            return None
        return grpc.ssl_channel_credentials(root_certificates=pathlib.Path(roots).read_bytes())

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
