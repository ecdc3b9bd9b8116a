"""Composition root: every long-lived resource is entered once, in order, on one AsyncExitStack."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from aegis.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    dashboard_pb2,
    dashboard_pb2_grpc,
    explore_pb2,
    explore_pb2_grpc,
    export_pb2,
    export_pb2_grpc,
    ingest_pb2,
    prices_pb2,
    prices_pb2_grpc,
    tail_pb2,
    tail_pb2_grpc,
)
from aegis_shared.caller_address import CallerAddresses, ForwardingKey
from aegis_shared.ports import PortUnavailable, bind_problem, check_free, unavailable
from collector.alerts.delivery import Deliverer, open_deliverer
from collector.alerts.job import alerts_job
from collector.alerts.rules import RuleService
from collector.alerts.webhooks import DeliveryPolicy
from collector.api.alert_service import AlertServicer
from collector.api.auth_service import AuthServicer
from collector.api.dashboard_service import DashboardServicer
from collector.api.explore_service import ExploreServicer
from collector.api.export_service import ExportServicer
from collector.api.ingest_service import IngestServicer, add_ingest_servicer
from collector.api.interceptor import AuthInterceptor
from collector.api.price_service import PriceServicer
from collector.api.tail_service import TailServicer, tail_event
from collector.app.compiled import hot_path
from collector.app.settings import Settings
from collector.auth.audit import Auditor
from collector.auth.basic import BasicCredentials
from collector.auth.bearer import TokenService
from collector.auth.client_status import ClientStatusCache
from collector.auth.clients import ClientRegistry
from collector.auth.ratelimit import Limits
from collector.auth.service import AuthService
from collector.drift.fold import run_drift
from collector.drift.report import MLDrift
from collector.explore.fold import run_explore
from collector.ingest.batch import IngestService
from collector.ingest.content import ContentPolicy
from collector.ingest.pipeline import Admission
from collector.ingest.price_overrides import PriceOverrides
from collector.jobs.retention import apply_retention
from collector.jobs.runner import JobRunner
from collector.otlp import servicer as otlp_servicer
from collector.otlp.service import OtlpIngest
from collector.prometheus import serve_metrics
from collector.query.dashboards import Dashboards
from collector.query.export import Exporter
from collector.query.tail import TailHub
from collector.rollups.fold import Pace, run_rollups
from collector.store.embedded import embedded_database
from collector.store.health import monitor_database
from collector.store.storage import Storage, open_storage

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Under DATA_DIR: which database sessions each collector uses (collector.store.session_ledger).
SESSION_LEDGERS = "sessions"
SERVICE_NAMES = [
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    dashboard_pb2.DESCRIPTOR.services_by_name["DashboardService"].full_name,
    alerts_pb2.DESCRIPTOR.services_by_name["AlertService"].full_name,
    prices_pb2.DESCRIPTOR.services_by_name["PriceService"].full_name,
    otlp_servicer.SERVICE_NAME,
    export_pb2.DESCRIPTOR.services_by_name["ExportService"].full_name,
    tail_pb2.DESCRIPTOR.services_by_name["TailService"].full_name,
    explore_pb2.DESCRIPTOR.services_by_name["ExploreService"].full_name,
]


@contextlib.asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """MONGODB_URL as given, or an embedded database started for the duration."""
    if settings.mongodb_url:
        yield settings.mongodb_url
        return
    async with embedded_database(settings.data_dir) as url:
        yield url


async def bootstrap_admin(settings: Settings, clients: ClientRegistry) -> None:
    created = await clients.ensure_bootstrap_admin(
        settings.bootstrap_client_id, settings.bootstrap_client_secret
    )
    if created is not None:
        # Printed once, to the terminal, never logged: it is not stored anywhere in clear.
        print(
            "\nNo admin client existed, so one was created. Its secret is shown only now:\n"
            f"  BOOTSTRAP_CLIENT_ID={created.client_id}\n"
            f"  BOOTSTRAP_CLIENT_SECRET={created.client_secret}\n",
            flush=True,
        )


@contextlib.asynccontextmanager
async def grpc_server(
    settings: Settings, storage: Storage, tokens: TokenService, clients: ClientRegistry
) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port."""
    shutdown = asyncio.Event()
    audit = Auditor(storage)
    status = ClientStatusCache(storage.users)
    limits = Limits.per_client(
        ingest_per_s=settings.rate_limit_ingest_per_s,
        read_per_s=settings.rate_limit_read_per_s,
        auth_attempts_per_min=settings.auth_attempts_per_min,
        alert_rule_writes_per_min=settings.alert_rule_writes_per_min,
        audit=audit,
    )
    auth = AuthService(clients, tokens, status, audit, limits.auth)
    forwarding = settings.resolved_forwarding_secret()
    addresses = CallerAddresses(ForwardingKey(forwarding) if forwarding else None)
    basic = BasicCredentials(auth.authenticate_basic)
    server = grpc.aio.server(
        interceptors=[AuthInterceptor(tokens, status, limits.read, basic, addresses)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(auth, audit, addresses), server)
    overrides = PriceOverrides(storage)
    ingest = IngestService(
        storage,
        limits.ingest,
        overrides=overrides,
        content=ContentPolicy(settings.store_content, settings.max_content_bytes),
    )
    admission = Admission(settings.max_inflight_batches)
    add_ingest_servicer(
        IngestServicer(
            ingest, admission, window=settings.max_inflight_per_stream, shutdown=shutdown
        ),
        server,
    )
    prices_pb2_grpc.add_PriceServiceServicer_to_server(PriceServicer(overrides), server)
    otlp_servicer.add_trace_servicer(
        otlp_servicer.TraceServicer(
            OtlpIngest(ingest, store_content=settings.store_content), admission
        ),
        server,
    )
    dashboard_pb2_grpc.add_DashboardServiceServicer_to_server(
        DashboardServicer(
            Dashboards(storage, minute_retention_days=settings.rollup_retention_days),
            MLDrift(storage, retention_days=settings.rollup_retention_days),
        ),
        server,
    )
    alerts_pb2_grpc.add_AlertServiceServicer_to_server(
        AlertServicer(
            RuleService(
                storage,
                allow_private_webhooks=settings.allow_private_webhooks,
                audit=audit,
                writes=limits.alert_writes,
            )
        ),
        server,
    )
    export_pb2_grpc.add_ExportServiceServicer_to_server(ExportServicer(Exporter(storage)), server)
    explore_pb2_grpc.add_ExploreServiceServicer_to_server(ExploreServicer(storage), server)
    tail_pb2_grpc.add_TailServiceServicer_to_server(
        TailServicer(TailHub(storage, buffer=settings.tail_buffer, render=tail_event)),
        server,
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    key_pair = settings.tls_key_pair()
    try:
        if key_pair is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, grpc.ssl_server_credentials([key_pair]))
    except RuntimeError:  # grpc says only "Failed to bind": find out why, to say so
        raise bind_problem(settings.grpc_listen) or PortUnavailable(
            f"cannot listen on {address}: check GRPC_HOST and GRPC_PORT"
        ) from None
    await server.start()
    try:
        async with monitor_database(storage, health, SERVICE_NAMES, settings.health_interval_s):
            yield port
    finally:
        # Streams stop reading and ack what they hold; health tells balancers to go elsewhere;
        # then new RPCs are refused and running ones get the grace period to finish.
        shutdown.set()
        await health.enter_graceful_shutdown()
        await server.stop(grace=settings.shutdown_grace_s)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    # Retries wait for at most half an evaluation interval; later ones, the next evaluation.
    return DeliveryPolicy(
        timeout_s=settings.webhook_timeout_s, horizon_s=min(30.0, settings.alerts_interval_s / 2)
    )


def background_jobs(settings: Settings, storage: Storage, deliverer: Deliverer) -> JobRunner:
    """Every background job, one line each: plain async functions with their dependencies."""
    runner = JobRunner(
        storage, lease_s=settings.job_lease_s, stop_grace_s=settings.shutdown_grace_s
    )
    runner.add(
        "rollups",
        settings.rollup_interval_s,
        functools.partial(
            run_rollups,
            storage,
            minute_retention_days=settings.rollup_retention_days,
            pace=Pace(),  # one for every run: how large a round the database can take
        ),
    )
    runner.add("explore", settings.rollup_interval_s, functools.partial(run_explore, storage))
    runner.add("drift", settings.rollup_interval_s, functools.partial(run_drift, storage))
    runner.add(
        "alerts",
        settings.alerts_interval_s,
        functools.partial(
            alerts_job, storage, deliverer, minute_retention_days=settings.rollup_retention_days
        ),
    )
    runner.add(
        "retention",
        settings.retention_interval_s,
        functools.partial(
            apply_retention,
            storage,
            retention_days=settings.retention_days,
            rollup_retention_days=settings.rollup_retention_days,
            audit_retention_days=settings.audit_retention_days,
            alert_history_retention_days=settings.alert_history_retention_days,
        ),
    )
    return runner


def tune_garbage_collector() -> None:
    """Ingest allocates many short-lived dicts; the default gen-0 threshold (700) collects
    far too often for that. Measured on the bench's events: ~43 → ~41 µs CPU per event."""
    gc.freeze()  # start-up objects live for the whole run: never scan them again
    gc.set_threshold(20_000, 50, 50)


def report_hot_path() -> None:
    """Whether ingest runs compiled (collector.app.compiled): a module older than its source runs
    old code, so it is a warning."""
    found = hot_path()
    if found.stale:
        log.warning(
            "compiled modules older than their source, running their old code (run `make`): %s",
            ", ".join(found.stale),
        )
    if found.python:
        log.info("ingest hot path: %d modules run as Python, not compiled", len(found.python))
    else:
        log.info("ingest hot path: %d modules compiled", len(found.compiled))


async def serve(settings: Settings) -> None:
    # A port clash or a TLS mistake stops start-up before anything else starts.
    check_free([settings.grpc_listen, settings.metrics_listen])
    settings.tls_key_pair()
    tokens = TokenService(
        settings.resolved_jwt_secret(),
        algorithm=settings.jwt_algorithm,
        lifetime_s=settings.jwt_expiration,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(database_url(settings))
        storage = await stack.enter_async_context(
            open_storage(
                url,
                settings.database_name,
                settings.mongodb_timeout_ms,
                settings.mongodb_request_timeout_ms,
                ledger_dir=settings.data_dir / SESSION_LEDGERS,
            )
        )
        clients = ClientRegistry(storage)
        # Entered before the jobs, so left after them: no run wakes a closed deliverer.
        deliverer = await stack.enter_async_context(
            open_deliverer(
                storage,
                allow_private=settings.allow_private_webhooks,
                policy=delivery_policy(settings),
                grace_s=settings.shutdown_grace_s,
            )
        )
        await stack.enter_async_context(background_jobs(settings, storage, deliverer).running())
        port = await stack.enter_async_context(grpc_server(settings, storage, tokens, clients))
        try:
            metrics_port = stack.enter_context(
                serve_metrics(settings.grpc_host, settings.metrics_port_or_off)
            )
        except OSError as exc:
            raise unavailable(settings.metrics_listen, exc) from None
        # Only once every port is ours: a start that fails must not have shown a one-time
        # secret (it would be stored, hashed, and never shown again).
        await bootstrap_admin(settings, clients)
        tune_garbage_collector()
        report_hot_path()
        log.info(
            "collector serving gRPC%s on %s:%d",
            " over TLS" if settings.grpc_tls_cert else "",
            settings.grpc_host,
            port,
        )
        ready = f"READY grpc={port}"
        if metrics_port is not None:
            log.info("metrics at http://%s:%d/metrics", settings.grpc_host, metrics_port)
            ready += f" metrics={metrics_port}"
        # The one line on stdout that supervisors and tests wait for.
        print(ready, flush=True)
        await stop.wait()
        log.info("shutting down (grace %.0f s)", settings.shutdown_grace_s)
