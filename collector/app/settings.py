"""The collector's configuration: one typed object, built once at start-up and passed in."""

from __future__ import annotations

import logging
import pathlib

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aegis_shared.caller_address import ensure_secret
from aegis_shared.logs import LogFormat
from aegis_shared.ports import Listen
from collector.app.secret_file import SecretFileError, read_or_create

MIN_SECRET_BYTES = 32

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Start-up cannot go on with this configuration; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mongodb_url: str | None = Field(
        None,
        description="MongoDB to use: MongoDB ≥ 7 as a replica set (one node is enough) or "
        "Atlas. Unset: the embedded SecantusDB is started under `DATA_DIR`.",
    )
    database_name: str = Field("aegisai", description="Name of the database.")
    jwt_secret: str | None = Field(
        None,
        description="HMAC secret that signs tokens, at least 32 bytes; **required with "
        "`MONGODB_URL`**. Unset with the embedded database: one is generated once into "
        "`DATA_DIR/jwt_secret`, so tokens survive restarts.",
    )
    jwt_algorithm: str = Field(
        "HS256", description="`HS256`, `HS384` or `HS512`; verification accepts only this one."
    )
    jwt_expiration: int = Field(3600, gt=0, description="Token lifetime in seconds.")
    jwt_issuer: str = Field(
        "aegisai", description="The tokens' `iss` claim, set when issued and required when checked."
    )
    jwt_audience: str = Field(
        "aegisai", description="The tokens' `aud` claim, set when issued and required when checked."
    )
    log_level: str = Field("INFO", description="Log level (`DEBUG`, `INFO`, `WARNING`, …).")
    log_format: LogFormat = Field(
        "text",
        description="`text`, or `json`: one JSON object per line (time, level, logger, "
        "message, request id when known).",
    )
    grpc_host: str = Field(
        "127.0.0.1",
        description="Address the collector listens on. Loopback unless told otherwise: "
        "`0.0.0.0` exposes it, with `GRPC_TLS_*` or behind a TLS proxy (SECURITY.md).",
    )
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port (`0`: any free port).")
    grpc_tls_cert: pathlib.Path | None = Field(
        None,
        description="PEM certificate chain; with `GRPC_TLS_KEY` the collector serves gRPC over "
        "TLS only.",
    )
    grpc_tls_key: pathlib.Path | None = Field(
        None, description="PEM private key of `GRPC_TLS_CERT`; the two are given together."
    )
    rate_limit_ingest_per_s: float = Field(
        0,
        ge=0,
        description="Events per second per client and replica (a token bucket with a burst of "
        "the same size; a larger batch passes when it is full). `0`: no limit.",
    )
    rate_limit_read_per_s: float = Field(
        20,
        ge=0,
        description="Read calls per second per client and replica, burst of the same size. "
        "`0`: no limit.",
    )
    auth_attempts_per_min: float = Field(
        10,
        ge=0,
        description="Failed sign-ins (token requests and HTTP Basic credentials) per client id "
        "and source address and minute, per replica; past it that address is refused for that "
        "client id (429 `slow_down`). An address also gets 5 times that over all client ids, and a "
        "client id 10 times that from addresses it has not signed in from. `0`: no limit.",
    )
    metrics_port: int = Field(
        9464,
        ge=-1,
        le=65535,
        description="Port of the Prometheus text at `http://GRPC_HOST:METRICS_PORT/metrics`. "
        "`0`: any free port (announced on the `READY` line); `-1`: no metrics endpoint.",
    )
    data_dir: pathlib.Path = Field(
        pathlib.Path("./data"),
        description="The embedded database's files and logs, the generated JWT and forwarding "
        "secrets, and `sessions/`: the database sessions of each collector, so that one "
        "restarted after a crash ends the transactions the dead one left open at once (keep it "
        "across restarts, with `MONGODB_URL` too).",
    )
    forwarding_secret: str | None = Field(
        None,
        description="Shared by the collector and the gateway, which signs with it the caller's "
        "address it forwards (for the sign-in limits), at least 32 bytes. Unset: a file in "
        "`DATA_DIR`, created at start, that a gateway with the same `DATA_DIR` reads; set it on "
        "both when they do not share one, or every REST caller counts as the gateway's address.",
    )
    bootstrap_client_id: str | None = Field(
        None,
        description="Id of a global admin client created, or updated, at every start. Unset "
        "on a first start: one is created and its id and secret printed once.",
    )
    bootstrap_client_secret: str | None = Field(
        None, description="Secret of `BOOTSTRAP_CLIENT_ID` (given together)."
    )
    mongodb_timeout_ms: int = Field(
        1500,
        gt=0,
        description="Server-selection timeout: bounded so that an unreachable database "
        "answers UNAVAILABLE / 503 within 2 s instead of hanging callers.",
    )
    mongodb_request_timeout_ms: int = Field(
        1500,
        gt=0,
        description="Operation timeout of requests (PyMongo's `timeoutMS`): each database "
        "operation of an RPC, and each batch write as a whole, ends within it, so a database "
        "that hangs rather than dies still answers UNAVAILABLE within 2 s. Background jobs get "
        "300 s per run instead.",
    )
    health_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often the database is pinged to drive gRPC health and fail-fast writes.",
    )
    max_inflight_per_stream: int = Field(
        8,
        ge=1,
        description="Batches of one stream written at once; past that the stream is not read "
        "(HTTP/2 flow control pushes back).",
    )
    max_inflight_batches: int = Field(
        64,
        ge=1,
        description="Batches written at once by the process; past that: RESOURCE_EXHAUSTED "
        "with RetryInfo / 429 with `Retry-After`.",
    )
    shutdown_grace_s: float = Field(
        10.0,
        ge=0,
        description="On SIGTERM, streams stop reading and finish and acknowledge the batches "
        "they hold within this time; then the process exits.",
    )
    store_content: bool = Field(
        True,
        description="`false`: LLM events' content (`input`, `output`, `system`) is dropped at "
        "ingest, never stored; the rest of each event is.",
    )
    max_content_bytes: int = Field(
        32768,
        gt=0,
        description="UTF-8 bytes of one LLM event's content (`input`, `output` and `system` "
        "together) that are stored; larger content is cut to fit, shared fairly among the "
        "three (strings cut on a character boundary, messages dropped from the end), and the "
        "event is marked `content_truncated: true`.",
    )
    tail_buffer: int = Field(
        10_000,
        ge=1,
        description="Events a live-tail subscriber may fall behind before it is dropped.",
    )
    rollup_interval_s: float = Field(
        10.0,
        ge=0,
        description="How often the rollups job folds partials into buckets, the explore "
        "job its notes into summaries and the drift job its partials into hour and day sketches "
        "(`0`: none of them on this replica); reads take what is not folded yet meanwhile.",
    )
    alerts_interval_s: float = Field(
        60.0,
        ge=0,
        description="How often alert rules are evaluated and pending webhooks sent (`0`: not "
        "on this replica).",
    )
    retention_interval_s: float = Field(
        3600.0,
        ge=0,
        description="How often the retention job runs (`0`: not on this replica).",
    )
    job_lease_s: float = Field(
        30.0,
        gt=0,
        description="How long a replica's claim on a job lasts unless renewed: a dead holder's "
        "jobs are taken over after this long.",
    )
    retention_days: float = Field(
        0,
        ge=0,
        description="Raw events, and spans of traces by their start, older than this many days "
        "are deleted (`0`: kept forever).",
    )
    rollup_retention_days: float = Field(
        7,
        ge=0,
        description="Minute rollup buckets and drift's hour sketches older than this many days "
        "are deleted (`0`: kept); hour and day buckets and drift's day sketches stay.",
    )
    audit_retention_days: float = Field(
        365, ge=0, description="Audit log records older than this many days are deleted. `0`: keep."
    )
    alert_history_retention_days: float = Field(
        90,
        ge=0,
        description="Alert events (state changes) and their webhook attempts older than this many "
        "days are deleted; an event whose webhook is still pending is kept. `0`: keep.",
    )
    allow_private_webhooks: bool = Field(
        False,
        description="`true` lets alert webhooks go to loopback, private and link-local "
        "addresses, which are refused otherwise.",
    )
    webhook_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="One webhook attempt as a whole (look-up, connect, send, status and headers) "
        "must end within this many seconds; a slower receiver has failed that attempt, and it "
        "is retried.",
    )
    alert_rule_writes_per_min: float = Field(
        60,
        ge=0,
        description="Alert rule creates, updates and deletes per client and minute, per replica "
        "(each may look up a host name). `0`: no limit.",
    )

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
