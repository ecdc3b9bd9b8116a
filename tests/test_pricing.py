"""The price table: its fast path agrees with genai-prices' own calculation, and events of
any transport that carry no cost are priced at ingest."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import grpc
import httpx
import pytest
from genai_prices import Usage, calc_price

from collector.ingest.pricing import PriceTable
from tests.conftest import ApiClient, assert_error, create_client, ingest, llm_event, read
from tests.procs import Stack
from tests.test_tail import WITHIN_S, _ws_subscribed

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-4o-mini", "openai"),
        ("claude-3-5-haiku-latest", "anthropic"),
        ("claude-sonnet-4-20250514", ""),
        ("gemini-1.5-pro", "google"),  # tiered by prompt size
        ("gemini-2.5-pro", "gcp.vertex_ai"),  # an OTel provider name the table does not use
    ],
)
@pytest.mark.parametrize(("input_tokens", "output_tokens"), [(0, 0), (1000, 500), (250_000, 3)])
def test_costs_match_the_library(
    model: str, provider: str, input_tokens: int, output_tokens: int
) -> None:
    table = PriceTable()
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    expected = float(calc_price(usage, model, genai_request_timestamp=AT).total_price)
    for _ in range(2):  # computed, then cached
        cost = table.cost(model, provider, input_tokens, output_tokens, AT)
        assert cost == pytest.approx(expected, rel=1e-9, abs=1e-12)


# Models whose cached input has its own price (cache-read below the input price; Anthropic's
# cache writes above it), and one that is tiered by prompt size.
CACHED = [
    ("claude-sonnet-4-20250514", "anthropic"),
    ("gpt-4o", "openai"),
    ("gemini-2.5-pro", "google"),
]


@pytest.mark.parametrize(("model", "provider"), CACHED)
@pytest.mark.parametrize(
    ("input_tokens", "cache_read", "cache_write", "output_tokens"),
    [(10_000, 8_000, 0, 500), (10_000, 2_000, 6_000, 500), (300_000, 250_000, 0, 10)],
)
def test_cached_input_costs_what_the_library_says(
    model: str,
    provider: str,
    input_tokens: int,
    cache_read: int,
    cache_write: int,
    output_tokens: int,
) -> None:
    """input_tokens counts the cached tokens (GenAI conventions), as genai-prices' Usage does."""
    table = PriceTable()
    usage = Usage(
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write or None,
        output_tokens=output_tokens,
    )
    calc = calc_price(usage, model, provider_id=provider, genai_request_timestamp=AT)
    expected = float(calc.total_price)
    uncached = table.cost(model, provider, input_tokens, output_tokens, AT)
    assert uncached is not None and expected < uncached  # the cache is cheaper to read
    for _ in range(2):  # computed, then cached
        cost = table.cost(
            model,
            provider,
            input_tokens,
            output_tokens,
            AT,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
        assert cost == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_cached_tokens_counted_apart_from_input_are_added_to_it() -> None:
    """More cached tokens than input_tokens: the caller counted them apart (as Anthropic's API
    reports usage), so they are priced as input_tokens + cached."""
    model, provider = CACHED[0]
    usage = Usage(input_tokens=1500, cache_read_tokens=1000, cache_write_tokens=300)
    calc = calc_price(usage, model, provider_id=provider, genai_request_timestamp=AT)
    cost = PriceTable().cost(
        model, provider, 200, 0, AT, cache_read_tokens=1000, cache_write_tokens=300
    )
    assert cost == pytest.approx(float(calc.total_price), rel=1e-9)


async def test_ingest_prices_cached_tokens_at_their_own_rates(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    model, provider = CACHED[0]
    counts = {"input_tokens": 12_000, "cache_read_tokens": 9_000, "cache_write_tokens": 2_000}
    await ingest(
        http,
        tenant_client,
        "llm",
        [
            llm_event(
                model,
                event_id="cached",
                provider=provider,
                output_tokens=700,
                reasoning_tokens=200,
                timestamp=stamp.isoformat().replace("+00:00", "Z"),
                **counts,
            )
        ],
    )
    reply = await http.get("/export/llm", headers=tenant_client.headers)
    (event,) = [json.loads(line) for line in reply.text.splitlines()]
    usage = Usage(output_tokens=700, **counts)
    calc = calc_price(usage, model, provider_id=provider, genai_request_timestamp=stamp)
    assert event["cost"] == pytest.approx(float(calc.total_price), rel=1e-9)
    assert event["cost_source"] == "price_table"
    assert {k: event[k] for k in counts} == counts and event["reasoning_tokens"] == 200


def test_an_unknown_model_has_no_price() -> None:
    assert PriceTable().cost("no-such-model-anywhere", "openai", 10, 10, AT) is None


async def test_rest_events_without_a_cost_are_priced_at_ingest(
    http: httpx.AsyncClient, tenant_client: ApiClient
) -> None:
    """Any transport: an event with a model and token counts but no cost gets the table's
    price; one with a cost keeps it; an unknown model's cost is not known (it adds 0 to the
    totals)."""
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    when = stamp.isoformat().replace("+00:00", "Z")
    await ingest(
        http,
        tenant_client,
        "llm",
        [
            llm_event(
                "gpt-4o", provider="openai", input_tokens=1000, output_tokens=500, timestamp=when
            ),
            llm_event("gpt-4o-mini", input_tokens=1000, output_tokens=500, cost=0.5),
            llm_event("house-model-7", input_tokens=10, output_tokens=5),
            llm_event("gpt-4o", tokens_used=99),  # no split: nothing to price by
        ],
    )
    models = {
        m["model_name"]: m
        for m in (await read(http, tenant_client, "/dashboard/llm-metrics"))["models"]
    }
    usage = Usage(input_tokens=1000, output_tokens=500)
    expected = float(calc_price(usage, "gpt-4o", genai_request_timestamp=stamp).total_price)
    assert models["gpt-4o"]["cost"] == pytest.approx(expected, rel=1e-9)
    assert models["gpt-4o-mini"]["cost"] == pytest.approx(0.5)
    assert models["house-model-7"]["cost"] == 0
    overview = await read(http, tenant_client, "/dashboard/overview")
    sources = sorted((r["model"], r["data"]["cost_source"]) for r in overview["recent_events"])
    assert sources == [
        ("gpt-4o", "price_table"),
        ("gpt-4o", "unknown"),
        ("gpt-4o-mini", "client"),
        ("house-model-7", "unknown"),
    ]


async def test_a_price_override_changes_the_cost_of_later_events_only(
    http: httpx.AsyncClient, admin: ApiClient
) -> None:
    tenant = f"t-prices-{uuid.uuid4().hex[:12]}"
    owner = await create_client(http, admin, tenant, scopes=["ingest", "read", "admin"])
    reader = await create_client(http, admin, tenant, scopes=["read"])
    tokens = {"input_tokens": 1000, "output_tokens": 500}

    async def cost() -> float:
        metrics = await read(http, owner, "/dashboard/llm-metrics")
        return float(metrics["total_cost"])

    await ingest(http, owner, "llm", [llm_event("gpt-4o", provider="openai", **tokens)])
    table = await cost()
    assert table > 0

    reply = await http.put(
        "/admin/prices/gpt-4o",
        json={"input_per_mtok": 10, "output_per_mtok": 20},
        headers=owner.headers,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "gpt-4o"
    listed = await http.get("/admin/prices", headers=owner.headers)
    assert [
        (p["model"], p["input_per_mtok"], p["output_per_mtok"]) for p in listed.json()["prices"]
    ] == [("gpt-4o", 10, 20)]
    await ingest(http, owner, "llm", [llm_event("gpt-4o", provider="openai", **tokens)])
    # The earlier event keeps its cost; the new one costs 1000*10/1e6 + 500*20/1e6.
    assert await cost() == pytest.approx(table + 0.02, rel=1e-9)

    # OTLP-, SDK- and REST-ingested events all take the same path; other tenants are untouched.
    other = await create_client(http, admin, f"t-prices-{uuid.uuid4().hex[:12]}")
    await ingest(http, other, "llm", [llm_event("gpt-4o", provider="openai", **tokens)])
    assert (await read(http, other, "/dashboard/llm-metrics"))["total_cost"] == pytest.approx(table)

    deleted = await http.delete("/admin/prices/gpt-4o", headers=owner.headers)
    assert deleted.status_code == 200, deleted.text
    await ingest(http, owner, "llm", [llm_event("gpt-4o", provider="openai", **tokens)])
    assert await cost() == pytest.approx(2 * table + 0.02, rel=1e-9)

    assert_error(
        await http.delete("/admin/prices/gpt-4o", headers=owner.headers),
        404,
        grpc.StatusCode.NOT_FOUND,
    )
    assert_error(
        await http.get("/admin/prices", headers=reader.headers),
        403,
        grpc.StatusCode.PERMISSION_DENIED,
    )
    message = assert_error(
        await http.put(
            "/admin/prices/gpt-4o",
            json={"input_per_mtok": -1, "output_per_mtok": 1},
            headers=owner.headers,
        ),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "input_per_mtok" in message
    # The model rule is the documented pattern: no control characters, anything else goes.
    message = assert_error(
        await http.put("/admin/prices/a%09b", json={}, headers=owner.headers),
        400,
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "model" in message
    assert (await http.get("/admin/prices", headers=owner.headers)).json() == {"prices": []}
    spaced = await http.put("/admin/prices/a%C2%A0b", json={}, headers=owner.headers)
    assert spaced.status_code == 200, spaced.text
    assert spaced.json()["model"] == "a\u00a0b"


async def test_an_unknown_cost_is_null_and_an_override_is_named_in_every_answer(
    stack: Stack, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    """The overview's recent events, the NDJSON and CSV exports and the live tail show the
    same cost and cost_source per event: null and "unknown" when no price is known (never a
    0 that would claim the call was free), "override" when the tenant's own price was used."""
    tenant = f"t-cost-{uuid.uuid4().hex[:12]}"
    owner = await create_client(http, admin, tenant, scopes=["ingest", "read", "admin"])
    reply = await http.put(
        "/admin/prices/house-model-7",
        json={"input_per_mtok": 10, "output_per_mtok": 20},
        headers=owner.headers,
    )
    assert reply.status_code == 200, reply.text
    events = [
        llm_event("house-model-7", event_id="override", input_tokens=1000, output_tokens=500),
        llm_event("no-such-model-anywhere", event_id="unknown", input_tokens=10),
        llm_event("gpt-4o", event_id="no-split", tokens_used=99),
        llm_event("gpt-4o", event_id="client", cost=0.25, provider="openai"),
    ]
    expected: dict[str, tuple[Any, str]] = {
        "override": (pytest.approx(0.02, rel=1e-9), "override"),
        "unknown": (None, "unknown"),
        "no-split": (None, "unknown"),
        "client": (0.25, "client"),
    }
    tailed: dict[str, dict[str, Any]] = {}
    async for ws in _ws_subscribed(stack, owner, "?kind=llm"):
        await ingest(http, owner, "llm", events)
        while len(tailed) < len(events):
            item = json.loads(await asyncio.wait_for(ws.recv(), WITHIN_S))
            tailed[item["event"]["event_id"]] = item["event"]

    overview = await read(http, owner, "/dashboard/overview")
    recent = {r["event_id"]: r["data"] for r in overview["recent_events"]}
    ndjson = await http.get("/export/llm", headers=owner.headers)
    exported = {d["event_id"]: d for d in map(json.loads, ndjson.text.splitlines())}
    table = await http.get("/export/llm", params={"format": "csv"}, headers=owner.headers)
    rows = {r["event_id"]: r for r in csv.DictReader(io.StringIO(table.text))}
    for event_id, (cost, source) in expected.items():
        for answer in (recent, exported, tailed):
            data = answer[event_id]
            assert (data["cost"], data["cost_source"]) == (cost, source), (event_id, data)
        row = rows[event_id]
        assert row["cost_source"] == source
        assert row["cost"] == "" if cost is None else float(row["cost"]) == cost
    assert rows["client"]["provider"] == "openai"
    # Totals add up the known costs.
    assert overview["total_cost"] == pytest.approx(0.27, rel=1e-9)
