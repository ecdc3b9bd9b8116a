"""The gateway's own small configuration."""

from __future__ import annotations

import pathlib

import grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.logs import LogFormat
from collector.ports import Listen


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Loopback unless told otherwise, as uvicorn's own default; see SECURITY.md to expose it.
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    grpc_port: int = 50051
    # Where the collector listens; defaults to this host's GRPC_PORT.
    collector_addr: str | None = None
    # Comma-separated origins allowed by CORS; empty → no CORS headers.
    cors_origins: str = ""
    log_level: str = "INFO"
    log_format: LogFormat = "text"  # or "json" (collector.logs)
    max_body_bytes: int = 4 * 1024 * 1024
    rpc_timeout_s: float = 30.0
    # The collector serves TLS when GRPC_TLS_CERT is set (the same variable as the collector's):
    # then the channel uses TLS and trusts COLLECTOR_TLS_CA, or that certificate itself (a
    # self-signed one), or, with COLLECTOR_TLS_CA=system, the system's roots.
    grpc_tls_cert: pathlib.Path | None = None
    collector_tls_ca: str | None = None
    # The name the collector's certificate must carry, when not the host of COLLECTOR_ADDR
    # (`make run` dials 127.0.0.1).
    collector_tls_server_name: str | None = None
    # Signs the caller's address the gateway forwards (collector.caller_address): the same
    # FORWARDING_SECRET as the collector's, or else the file the collector keeps in DATA_DIR.
    forwarding_secret: str | None = None
    data_dir: pathlib.Path = pathlib.Path("./data")
    # Proxies (comma-separated addresses or networks, as uvicorn's FORWARDED_ALLOW_IPS) whose
    # X-Forwarded-For names the caller; anyone else is its connection's peer. By default a
    # proxy on this host (SECURITY.md: TLS in front); empty: believe no one.
    forwarded_allow_ips: str = "127.0.0.1,::1"

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
