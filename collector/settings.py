"""The collector's configuration: one typed object, built once at start-up and passed in."""

from __future__ import annotations

import logging
import pathlib

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.caller_address import ensure_secret
from collector.logs import LogFormat
from collector.ports import Listen
from collector.secret_file import SecretFileError, read_or_create

MIN_SECRET_BYTES = 32

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Start-up cannot go on with this configuration; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mongodb_url: str | None = Field(None, description="unset → start the embedded database")
    database_name: str = "aegisai"
    jwt_secret: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_expiration: int = Field(3600, gt=0, description="token lifetime in seconds")
    jwt_issuer: str = "aegisai"
    jwt_audience: str = "aegisai"
    log_level: str = "INFO"
    # "text", or "json": one JSON object per line (collector.logs).
    log_format: LogFormat = "text"
    # Loopback unless told otherwise; expose with 0.0.0.0 behind TLS or a proxy (SECURITY.md).
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    # PEM files: with both, gRPC is served over TLS only.
    grpc_tls_cert: pathlib.Path | None = None
    grpc_tls_key: pathlib.Path | None = None
    # Per client, per replica (token buckets; 0 = no limit): events/s ingested (burst of the
    # same size), read calls/s (same), and failed token requests per minute per client id.
    rate_limit_ingest_per_s: float = Field(0, ge=0)
    rate_limit_read_per_s: float = Field(20, ge=0)
    auth_attempts_per_min: float = Field(10, ge=0)
    # Prometheus text at http://GRPC_HOST:METRICS_PORT/metrics; 0 = any free port (announced
    # on the READY line), -1 = no metrics endpoint.
    metrics_port: int = Field(9464, ge=-1, le=65535)
    data_dir: pathlib.Path = pathlib.Path("./data")
    # Shared with the gateway, which signs with it the caller's address it forwards (for the
    # sign-in limits, collector.caller_address). Unset: a file in DATA_DIR, created at start,
    # that a gateway with the same DATA_DIR reads; set it on both when they do not share one.
    forwarding_secret: str | None = None
    bootstrap_client_id: str | None = None
    bootstrap_client_secret: str | None = None
    # Bounded so a dead database answers UNAVAILABLE within 2 s instead of hanging callers.
    mongodb_timeout_ms: int = Field(1500, gt=0)
    # Each database operation of a request, and each batch write as a whole, must finish
    # within this (PyMongo's client-side operation timeout), so a database that is frozen
    # rather than down still answers UNAVAILABLE within 2 s. Background jobs have minutes.
    mongodb_request_timeout_ms: int = Field(1500, gt=0)
    health_interval_s: float = Field(1.0, gt=0)
    # Backpressure: batches written at once per stream, and in the whole process.
    max_inflight_per_stream: int = Field(8, ge=1)
    max_inflight_batches: int = Field(64, ge=1)
    # SIGTERM: streams stop reading, finish and ack what they hold; then we exit.
    shutdown_grace_s: float = Field(10.0, ge=0)
    # Live tail: events a subscriber may fall behind before it is dropped.
    tail_buffer: int = Field(10_000, ge=1)
    # Background jobs (collector.jobs): how often each runs (0 = never, on this replica), and
    # how long a replica's claim on a job lasts unless renewed (a dead holder's is taken over).
    # Partials wait this long at most to be folded; dashboards read them meanwhile.
    rollup_interval_s: float = Field(10.0, ge=0)
    alerts_interval_s: float = Field(60.0, ge=0)
    retention_interval_s: float = Field(3600.0, ge=0)
    job_lease_s: float = Field(30.0, gt=0)
    # Retention (collector.jobs.retention), in days, 0 = keep forever: raw events; minute
    # rollup buckets (hour and day buckets stay); audit logs; alert events and their webhook
    # attempts (an event whose webhook is still pending is kept).
    retention_days: float = Field(0, ge=0)
    rollup_retention_days: float = Field(7, ge=0)
    audit_retention_days: float = Field(365, ge=0)
    alert_history_retention_days: float = Field(90, ge=0)
    # Alert webhooks to loopback, private and link-local addresses are refused unless true.
    allow_private_webhooks: bool = False
    # One webhook attempt as a whole (look-up, connect, send, status and headers) must end
    # within this; a receiver that is slower has failed that attempt, and it is retried.
    webhook_timeout_s: float = Field(10.0, gt=0, le=300)
    # Alert rule creates, updates and deletes per client per minute (per replica; 0 = no
    # limit): each write may look up a host name, and a flood of them must not crowd others.
    alert_rule_writes_per_min: float = Field(60, ge=0)

    def tls_key_pair(self) -> tuple[bytes, bytes] | None:
        """(private key, certificate chain) PEM bytes when TLS is configured, else None."""
        if self.grpc_tls_cert is None and self.grpc_tls_key is None:
            return None
        if self.grpc_tls_cert is None or self.grpc_tls_key is None:
            raise ConfigError("GRPC_TLS_CERT and GRPC_TLS_KEY must be given together")
        try:
            return self.grpc_tls_key.read_bytes(), self.grpc_tls_cert.read_bytes()
        except OSError as exc:
            raise ConfigError(f"GRPC_TLS_CERT / GRPC_TLS_KEY cannot be read: {exc}") from None

    @property
    def grpc_listen(self) -> Listen:
        return Listen(self.grpc_host, self.grpc_port, "GRPC_PORT", "GRPC_HOST")

    @property
    def metrics_listen(self) -> Listen:
        return Listen(self.grpc_host, self.metrics_port, "METRICS_PORT", "GRPC_HOST")

    @property
    def metrics_port_or_off(self) -> int | None:
        return None if self.metrics_port < 0 else self.metrics_port

    @property
    def embedded(self) -> bool:
        return not self.mongodb_url

    def resolved_forwarding_secret(self) -> bytes | None:
        """FORWARDING_SECRET, or the one kept in DATA_DIR (created when missing); None when
        DATA_DIR cannot be written (e.g. a read-only container): then no gateway can vouch
        for its callers, which is worth a warning but not a refusal to start."""
        if self.forwarding_secret and len(self.forwarding_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"FORWARDING_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        try:
            return ensure_secret(self.forwarding_secret, self.data_dir)
        except OSError as exc:
            log.warning(
                "FORWARDING_SECRET is unset and DATA_DIR cannot hold one (%s): every REST "
                "caller counts as the gateway's address for the sign-in limits",
                exc,
            )
            return None

    def resolved_jwt_secret(self) -> str:
        """The signing secret; in embedded mode one is generated once and kept in DATA_DIR."""
        if self.jwt_secret:
            if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
            return self.jwt_secret
        if not self.embedded:
            raise ConfigError(
                "JWT_SECRET is required when MONGODB_URL is set "
                f"(at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`)"
            )
        try:
            return read_or_create(
                self.data_dir / "jwt_secret", min_bytes=MIN_SECRET_BYTES, variable="JWT_SECRET"
            )
        except SecretFileError as exc:
            raise ConfigError(str(exc)) from None
