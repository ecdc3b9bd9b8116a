"""Property-based fuzzing of REST ingest bodies (hypothesis): random shapes, unicode (lone
surrogates included), huge numbers, NaN and Infinity, deep nesting. Every answer is 2xx or 4xx,
never 5xx, and the stack is healthy afterwards. The example count is bounded to stay fast."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient
from tests.procs import ADMIN_ID, ADMIN_SECRET, Stack

ATTRIBUTION_FIELDS = [
    *("user_id", "session_id", "trace_id", "span_id", "parent_span_id", "environment"),
    *("release", "tags"),
]
ML_FIELDS = [
    "event_id",
    "model_type",
    "model_id",
    "input_shape",
    "prediction_count",
    "timestamp",
    "metadata",
    "metadata_json",
    "latency_ms",
    "error",
    *ATTRIBUTION_FIELDS,
]
LLM_FIELDS = [
    "event_id",
    "model_name",
    "prompt_length",
    "response_length",
    "tokens_used",
    "cost",
    "timestamp",
    "metadata",
    "metadata_json",
    "latency_ms",
    "error",
    "input_tokens",
    "output_tokens",
    "provider",
    *ATTRIBUTION_FIELDS,
    *("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
    *("input", "input_json", "output", "output_json", "system"),
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.sampled_from(
        [
            "2024-01-01T12:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "$where",
            "a.b",
            "\x00",
            "NaN",
        ]
    ),
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


def events_of(fields: list[str]) -> st.SearchStrategy[Any]:
    event_like = st.dictionaries(
        st.sampled_from(fields) | st.text(max_size=6),
        json_values | st.integers(0, 60).map(deep),
        max_size=len(fields),
    )
    return st.lists(event_like | json_values, max_size=6)


@pytest.fixture(scope="module")
def fuzz_client(stack: Stack) -> ApiClient:
    """An ingest client of a tenant of its own."""
    with httpx.Client(base_url=stack.http, timeout=30) as http:
        admin = http.post("/auth/token", json={"clientId": ADMIN_ID, "clientSecret": ADMIN_SECRET})
        headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
        created = http.post(
            "/admin/clients", json={"name": "fuzz", "tenant": tenant}, headers=headers
        ).json()
        token = http.post(
            "/auth/token",
            json={"clientId": created["clientId"], "clientSecret": created["clientSecret"]},
        ).json()["access_token"]
    return ApiClient(created["clientId"], created["clientSecret"], tenant, token)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["ml", "llm"]),
    shape=st.sampled_from(["events", "any", "extra"]),
    data=st.data(),
)
def test_fuzzed_ingest_bodies_never_get_a_server_error(
    stack: Stack, fuzz_client: ApiClient, kind: str, shape: str, data: st.DataObject
) -> None:
    events = data.draw(events_of(ML_FIELDS if kind == "ml" else LLM_FIELDS))
    if shape == "events":
        body: Any = {"events": events}
    elif shape == "extra":
        body = {**data.draw(st.dictionaries(st.text(max_size=8), json_values)), "events": events}
    else:
        body = data.draw(json_values)
    content = json.dumps(body, allow_nan=True).encode()
    with httpx.Client(base_url=stack.http, timeout=30) as http:
        reply = http.post(
            f"/ingest/{kind}",
            content=content,
            headers={**fuzz_client.headers, "Content-Type": "application/json"},
        )
    assert reply.status_code < 500, (reply.status_code, reply.text, content[:300])
    if reply.status_code == 200:
        result = reply.json()
        count = len(events) if shape != "any" else None
        total = result["accepted"] + result["rejected"] + result["duplicates"]
        assert count is None or total == count, result


def test_the_stack_is_healthy_after_fuzzing(stack: Stack, fuzz_client: ApiClient) -> None:
    with httpx.Client(base_url=stack.http, timeout=30, headers=fuzz_client.headers) as http:
        assert http.get("/health").json() == {"status": "ok"}
        body = {"events": [{"model_type": "t", "model_id": "after-fuzz"}]}
        assert http.post("/ingest/ml", json=body).json()["accepted"] == 1
