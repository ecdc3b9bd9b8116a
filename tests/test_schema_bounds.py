"""The OpenAPI document and the server cannot disagree on a bound: for a handful of
representative fields, the bound the running gateway documents is the one the collector
enforces over REST (at the bound: accepted; one past it: 400 naming the field). Both read it
from the same proto option (aegis_shared.json_schema); this proves the wiring, end to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from tests.conftest import ApiClient, assert_error, create_client

RULE: dict[str, Any] = {
    "name": "bounds",
    "metric": "cost",
    "comparison": "gt",
    "threshold": 0.5,  # within every metric's values, and not at the top of error_rate's
    "window_minutes": 60,
    "webhook_url": "https://93.184.215.14/aegis",
    "webhook_secret": "a-webhook-secret-of-enough-length",
}


@dataclass
class Callers:
    http: httpx.AsyncClient
    admin: ApiClient  # the global admin: clients and secret rotation
    owner: ApiClient  # alerts and admin scopes on a tenant of its own: rules and prices


@pytest.fixture(scope="module")
async def doc(http: httpx.AsyncClient) -> dict[str, Any]:
    reply = await http.get("/openapi.json")
    assert reply.status_code == 200
    return dict(reply.json())


@pytest.fixture(scope="module")
async def callers(http: httpx.AsyncClient, admin: ApiClient) -> Callers:
    owner = await create_client(
        http, admin, f"bounds-{uuid.uuid4().hex[:8]}", scopes=["read", "alerts", "admin"]
    )
    return Callers(http, admin, owner)


def documented(doc: dict[str, Any], method: str, path: str, field: str) -> dict[str, Any]:
    """A body field's schema in the document (an optional field's non-null branch)."""
    body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = body["properties"][field]
    if "anyOf" in schema and {"type": "null"} in schema["anyOf"]:
        schema = next(s for s in schema["anyOf"] if s != {"type": "null"})
    return schema


Send = Callable[[Callers, Any], Awaitable[httpx.Response]]


async def _rule(c: Callers, **fields: Any) -> httpx.Response:
    return await c.http.post("/alerts/rules", json={**RULE, **fields}, headers=c.owner.headers)


async def _client(c: Callers, name: str) -> httpx.Response:
    body = {"name": name, "tenant": f"b-{uuid.uuid4().hex[:8]}", "scopes": ["read"]}
    return await c.http.post("/admin/clients", json=body, headers=c.admin.headers)


async def _rotate(c: Callers, grace_seconds: int) -> httpx.Response:
    target = await _client(c, "rotated")
    assert target.status_code == 200, target.text
    path = f"/admin/clients/{target.json()['clientId']}/rotate"
    return await c.http.post(path, json={"grace_seconds": grace_seconds}, headers=c.admin.headers)


async def _price(c: Callers, model: str, per_mtok: float = 1.0) -> httpx.Response:
    body = {"input_per_mtok": per_mtok, "output_per_mtok": 0}
    return await c.http.put(f"/admin/prices/{model}", json=body, headers=c.owner.headers)


@dataclass(frozen=True)
class Bound:
    """A field's documented bound (`keyword` of the body schema of `method path`), and how to
    send a value at it: `send(callers, n)` with n the length or number."""

    method: str
    path: str
    field: str
    keyword: str
    send: Send
    ok: int = 200


BOUNDS = {
    "alert name": Bound(
        "post", "/alerts/rules", "name", "maxLength", lambda c, n: _rule(c, name="n" * n), 201
    ),
    "alert window_minutes": Bound(
        "post",
        "/alerts/rules",
        "window_minutes",
        "maximum",
        lambda c, n: _rule(c, window_minutes=n),
        201,
    ),
    "client name": Bound(
        "post", "/admin/clients", "name", "maxLength", lambda c, n: _client(c, "c" * n)
    ),
    "grace_seconds": Bound(
        "post", "/admin/clients/{clientId}/rotate", "grace_seconds", "maximum", _rotate
    ),
    "price per million tokens": Bound(
        "put",
        "/admin/prices/{model}",
        "input_per_mtok",
        "maximum",
        lambda c, n: _price(c, "gpt-bounds", n),
    ),
}


@pytest.mark.parametrize("bound", BOUNDS.values(), ids=BOUNDS.keys())
async def test_a_documented_bound_is_the_enforced_one(
    bound: Bound, doc: dict[str, Any], callers: Callers
) -> None:
    limit = documented(doc, bound.method, bound.path, bound.field)[bound.keyword]
    limit = int(limit)  # the document prints 10080 as 10080.0
    at = await bound.send(callers, limit)
    assert at.status_code == bound.ok, at.text
    past = await bound.send(callers, limit + 1)
    message = assert_error(past, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith(f"{bound.field}:"), message


async def test_the_price_models_documented_length_is_the_enforced_one(
    doc: dict[str, Any], callers: Callers
) -> None:
    """The model is a path parameter of PUT /admin/prices/{model}."""
    put = doc["paths"]["/admin/prices/{model}"]["put"]
    (model,) = [p for p in put["parameters"] if p["name"] == "model"]
    limit = model["schema"]["maxLength"]
    assert (await _price(callers, "m" * limit)).status_code == 200
    message = assert_error(
        await _price(callers, "m" * (limit + 1)), 400, grpc.StatusCode.INVALID_ARGUMENT
    )
    assert message.startswith("model:"), message


async def test_every_documented_metric_is_accepted_and_no_other(
    doc: dict[str, Any], callers: Callers
) -> None:
    metrics = documented(doc, "post", "/alerts/rules", "metric")["enum"]
    assert metrics == documented(doc, "put", "/alerts/rules/{id}", "metric")["enum"]
    for metric in metrics:
        # A drift rule judges one ML model's features: it needs `model`.
        model = {"model": "churn"} if metric.endswith("_drift") else {}
        reply = await _rule(callers, metric=metric, **model)
        assert reply.status_code == 201, reply.text
    message = assert_error(
        await _rule(callers, metric="cpu"), 400, grpc.StatusCode.INVALID_ARGUMENT
    )
    assert message == f"metric: must be one of {', '.join(metrics)}"


async def test_a_tenant_the_pattern_refuses_is_refused(
    doc: dict[str, Any], callers: Callers
) -> None:
    """The documented pattern ends in $, which in JSON Schema (ECMA-262) matches only at the
    very end: a tenant with a trailing newline is refused, as documented (Python's $ would
    have let it through)."""
    assert documented(doc, "post", "/admin/clients", "tenant")["pattern"].endswith("$")
    body = {"name": "newline", "tenant": "t-newline\n"}
    reply = await callers.http.post("/admin/clients", json=body, headers=callers.admin.headers)
    message = assert_error(reply, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith("tenant:"), message
