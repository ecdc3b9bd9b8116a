"""The gateway's Prometheus metrics: requests by method, route template and status.

Every label takes its value from a fixed set, because each new value is a new time series
and the endpoints are open to anyone: the route label is the template the request matched
(`/alerts/rules/{id}`), never the path itself, and `unmatched` for a path that matched no
route; the method label is one of METHODS (any other token a client sends is `other`); the
status is a three-digit HTTP status.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "aegis_gateway_requests",
    "HTTP requests (WebSocket sessions: status 101), by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "aegis_gateway_request_seconds",
    "Time from request to the end of the response (of the session, for WebSockets), by "
    "method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
UNMATCHED = "unmatched"
# HTTP's standard methods (RFC 9110) that any route here may answer, plus WS for WebSocket
# sessions. A method is any token a client likes (`X0001`): all others count as OTHER.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(scope: Scope) -> str:
    if scope["type"] == "websocket":
        return "WS"
    method = scope.get("method")
    return method if method in METHODS else OTHER


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request and WebSocket session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status = "500"  # what the client gets if the app fails before it answers
        method = method_label(scope)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "websocket.accept":
                status = "101"
            elif message["type"] == "websocket.close" and status == "500":
                status = "403"  # closed before accepting: the handshake is refused
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            # The router records the matched route in the scope it was given (this one).
            labels = (method, _route(scope), status)
            REQUESTS.labels(*labels).inc()
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    """The gateway's metrics as Prometheus text."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
