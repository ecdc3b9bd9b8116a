"""The gateway's routes are exactly the RPCs' google.api.http annotations.

The annotations are read from the generated descriptors here, independently of
gateway.routes.annotated_routes, so a bug there cannot hide itself.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from google.api import annotations_pb2, http_pb2
from starlette.routing import Mount, Route, WebSocketRoute

import aegis.v1
from gateway.app import create_app
from gateway.settings import GatewaySettings

NOT_RPCS = {
    "/",
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/metrics",
    # Hand-written relays of server-streaming RPCs (gateway.streams): not annotations.
    "/export/{kind}",
    "/ws/events",
}
# OTLP/HTTP forwards to opentelemetry's TraceService/Export, whose .proto is not ours to
# annotate: its one route is written by hand (gateway/otlp.py) and checked here by name.
OTLP_ROUTES = {("POST", "/v1/traces"): "export_traces"}
SEED_ROUTES = {
    ("POST", "/auth/token"),
    ("POST", "/ingest/ml"),
    ("POST", "/ingest/llm"),
    ("GET", "/dashboard/overview"),
    ("GET", "/dashboard/ml-metrics"),
    ("GET", "/dashboard/llm-metrics"),
}
Binding = tuple[str, str]  # (HTTP verb, path)


def _bindings(rule: http_pb2.HttpRule) -> list[Binding]:
    found = []
    for one in (rule, *rule.additional_bindings):
        pattern = one.WhichOneof("pattern")
        if pattern == "custom":
            found.append((one.custom.kind.upper(), one.custom.path))
        elif pattern:
            found.append((pattern.upper(), getattr(one, pattern)))
    return found


def annotated_rpcs() -> dict[Binding, str]:
    """(verb, path) → method name, for every annotated RPC of every generated aegis.v1 file."""
    rpcs: dict[Binding, str] = {}
    for module_info in pkgutil.iter_modules(aegis.v1.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"aegis.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                for binding in _bindings(options.Extensions[annotations_pb2.http]):
                    assert binding not in rpcs, f"{binding} is annotated twice"
                    rpcs[binding] = method.name
    return rpcs


@pytest.fixture(scope="module")
def gateway_routes() -> dict[Binding, Route]:
    app = create_app(GatewaySettings())
    routes: dict[Binding, Route] = {}
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/ui":
            continue  # the dashboard's static files (gateway.ui)
        if isinstance(route, WebSocketRoute):
            assert route.path in NOT_RPCS, route
            continue
        assert isinstance(route, Route), route
        for verb in route.methods or ():
            if verb != "HEAD":
                routes[(verb, route.path)] = route
    return routes


def test_the_seed_routes_are_annotated() -> None:
    assert annotated_rpcs().keys() >= SEED_ROUTES | {("POST", "/admin/clients")}


def test_every_annotated_rpc_has_a_route(gateway_routes: dict[Binding, Route]) -> None:
    missing = set(annotated_rpcs()) - set(gateway_routes)
    assert not missing, f"annotated but not served: {sorted(missing)}"


def test_every_route_maps_to_an_annotated_rpc(gateway_routes: dict[Binding, Route]) -> None:
    rpcs = annotated_rpcs()
    extra = {
        b for b in gateway_routes if b not in rpcs and b[1] not in NOT_RPCS and b not in OTLP_ROUTES
    }
    assert not extra, f"served but not annotated: {sorted(extra)}"
    for binding, name in OTLP_ROUTES.items():
        assert gateway_routes[binding].name == name
    for binding, route in gateway_routes.items():
        if binding in rpcs:
            assert route.name == rpcs[binding], f"{binding} calls the wrong RPC"
