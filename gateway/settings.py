"""The gateway's own small configuration."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.logs import LogFormat


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    http_host: str = "0.0.0.0"
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

    @property
    def collector_target(self) -> str:
        return self.collector_addr or f"127.0.0.1:{self.grpc_port}"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
