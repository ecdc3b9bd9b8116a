"""The FastAPI app: annotated routes, /health, CORS, body limit, one long-lived gRPC channel."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from gateway import metrics, oauth2, openapi, otlp, streams, ui
from gateway.forwarding import Forwarder
from gateway.limits import BodySizeLimit, IdentityEncodingOnly
from gateway.request_ids import RequestIds
from gateway.routes import annotated_routes, make_endpoint
from gateway.settings import GatewaySettings
from gateway.status import error_body, routing_error_code

HEALTH_TIMEOUT_S = 2.0
HEALTH_SCHEMA = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]}},
    "required": ["status"],
}


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (several routes may share one path)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, BaseRoute) and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def create_app(settings: GatewaySettings) -> FastAPI:
    channel: grpc.aio.Channel | None = None
    forwarder = Forwarder(settings.forwarding_secret, settings.data_dir)

    def get_channel() -> grpc.aio.Channel:
        assert channel is not None, "the channel opens with the app's lifespan"
        return channel

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal channel
        options: list[tuple[str, str | int]] = [
            ("grpc.max_send_message_length", settings.max_body_bytes),
            ("grpc.max_receive_message_length", settings.max_body_bytes),
        ]
        credentials = settings.collector_credentials()
        if credentials is not None and settings.collector_tls_server_name:
            options.append(("grpc.ssl_target_name_override", settings.collector_tls_server_name))
        if credentials is None:
            channel = grpc.aio.insecure_channel(settings.collector_target, options=options)
        else:
            channel = grpc.aio.secure_channel(settings.collector_target, credentials, options)
        forwarder.warn_if_missing()
        try:
            yield
        finally:
            await channel.close()

    app = FastAPI(
        title="AegisAI",
        description="Observability backend for ML and LLM applications (REST gateway).",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by gateway.ui with vendored assets
        redoc_url=None,
    )
    for route in annotated_routes():
        operation = openapi.operation(route.path, route.body, route.method, route.success_status)
        if oauth2.is_token_endpoint(route.method):
            operation = oauth2.document(operation)
        app.add_api_route(
            route.path,
            make_endpoint(route, get_channel, settings.rpc_timeout_s, forwarder),
            methods=[route.verb],
            status_code=route.success_status,
            tags=[route.method.containing_service.name],
            openapi_extra=operation,
        )

    otlp.add_otlp_routes(
        app, get_channel, settings.max_body_bytes, settings.rpc_timeout_s, forwarder
    )

    # Hand-written relays of the server-streaming RPCs (gateway.streams), and metrics.
    app.add_api_route(
        "/export/{kind}",
        streams.export_endpoint(get_channel),
        methods=["GET"],
        tags=["export"],
        response_class=StreamingResponse,  # no JSON 200: the content comes from the extra
        openapi_extra=streams.export_operation("/export/{kind}"),
    )
    app.add_api_websocket_route("/ws/events", streams.tail_endpoint(get_channel))
    app.add_api_route(
        "/metrics", metrics.metrics_endpoint, methods=["GET"], include_in_schema=False
    )

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = openapi.security_schemes()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]

    @app.get(
        "/health",
        tags=["health"],
        responses={
            200: {"content": {"application/json": {"schema": HEALTH_SCHEMA}}},
            503: {
                "description": "The collector or its database is unavailable.",
                "content": {"application/json": {"schema": HEALTH_SCHEMA}},
            },
        },
    )
    async def health() -> JSONResponse:
        """`{"status": "ok"}` while the collector reports SERVING, else 503."""
        try:
            reply = await health_pb2_grpc.HealthStub(get_channel()).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_S
            )
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.aio.AioRpcError:
            serving = False
        if serving:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    ui.mount(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown paths and methods get the same error shape as every other error."""
        code = routing_error_code(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)

    if origins := settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(IdentityEncodingOnly, exempt=frozenset({otlp.PATH}))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.RequestMetrics)  # it sees every answer
    app.add_middleware(RequestIds)  # outermost: uvicorn's access log line is inside it
    return app
