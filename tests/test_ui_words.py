"""The dashboard's words in a real browser (the fixtures of test_ui.py): counts agree with their
nouns ("1 prediction", "1 error (50%)", "(1 attempt)", "at most 1 day"), each list has one
heading, Live says how many events came, deleting a rule asks first, and a cost that is not
known shows "—"."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, expect
from pymongo import AsyncMongoClient

from bench.stack import DATABASE_NAME
from tests import test_ui  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, create_client, ingest, llm_event, ml_event, read
from tests.procs import Stack, stack_mongodb_url
from tests.test_ui import Watched, sign_in

# test_ui's fixtures: the browser, and a watched page in a fresh context.
browser = test_ui.browser
ui = test_ui.ui

DAY = "2024-02-01"
RANGE = f"start={DAY}&end={DAY}&interval=day"


@pytest.fixture(scope="module")
async def one_of_each(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """A tenant with one ML event of one prediction, and two LLM calls: one of one token with
    an error, one with no cost and no token counts (its cost is not known)."""
    client = await create_client(
        http, admin, f"ui-words-{uuid.uuid4().hex[:10]}", scopes=["ingest", "read", "alerts"]
    )
    await ingest(
        http,
        client,
        "ml",
        [
            ml_event(
                "one-model", event_id="ml-one", prediction_count=1, timestamp=f"{DAY}T10:00:00Z"
            )
        ],
    )
    await ingest(
        http,
        client,
        "llm",
        [
            llm_event(
                "words-llm",
                event_id="priced",
                tokens_used=1,
                cost=0.5,
                error="Boom",
                timestamp=f"{DAY}T10:01:00Z",
            ),
            llm_event("words-llm", event_id="unpriced", timestamp=f"{DAY}T10:02:00Z"),
        ],
    )
    return client


@pytest.fixture
async def firing_rule(
    http: httpx.AsyncClient, one_of_each: ApiClient, stack: Stack
) -> AsyncIterator[dict[str, Any]]:
    """A rule of the tenant that is firing, with its one state change, delivered in 1 attempt:
    created through the API, then moved as the alerts job moves it (written to the database,
    as the job writes it; its condition, cost below a million, is what the job finds too)."""
    body = {
        "name": f"cheap {uuid.uuid4().hex[:6]}",
        "metric": "cost",
        "comparison": "lt",
        "threshold": 1_000_000,
        "window_minutes": 60,
        "webhook_url": "https://93.184.215.14/aegis",
        "webhook_secret": "a-webhook-secret-of-enough-length",
    }
    created = await http.post("/alerts/rules", json=body, headers=one_of_each.headers)
    assert created.status_code == 201, created.text
    rule = created.json()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_mongodb_url(stack))
    try:
        db = mongo[DATABASE_NAME]
        stored = await db.alert_rules.find_one_and_update(
            {"_id": rule["id"]},
            {
                "$set": {
                    "state": "firing",
                    "previous_state": "ok",
                    "state_since": now,
                    "state_value": 0.0,
                }
            },
        )
        assert stored is not None
        # Replaced, not inserted: the job may have recorded this change itself meanwhile.
        await db.alert_events.replace_one(
            {"_id": f"{rule['id']}:1"},
            {
                "_id": f"{rule['id']}:1",
                "tenant": stored["tenant"],
                "rule_id": rule["id"],
                "rule_name": rule["name"],
                "metric": "cost",
                "model": None,
                "seq": 1,
                "previous_state": "ok",
                "state": "firing",
                "value": 0.0,
                "comparison": "lt",
                "threshold": 1_000_000.0,
                "window_minutes": 60,
                "time": now,
                "delivery_status": "delivered",
                "delivery_attempts": 1,
                "next_attempt_at": now,
                "claim_until": None,
                "delivered_at": now,
                "last_error": None,
            },
            upsert=True,
        )
        yield rule
    finally:
        await http.delete(f"/alerts/rules/{rule['id']}", headers=one_of_each.headers)
        await mongo.close()


async def test_counts_agree_with_their_nouns_and_each_list_has_one_heading(
    ui: Watched, one_of_each: ApiClient
) -> None:
    page = ui.page
    ui.allow_console_error(r"status of 400 .*\(.*/dashboard/llm-metrics")
    await sign_in(ui, one_of_each)
    recent = page.get_by_role("table", name="Recent events")
    await expect(recent.locator("tbody tr")).to_have_count(3)
    await expect(recent.locator('tr[data-key="ml-one"]')).to_contain_text("1 prediction")
    await expect(recent).not_to_contain_text("1 predictions")
    await expect(recent.locator('tr[data-key="priced"]')).to_contain_text("1 token ·")
    await expect(page.get_by_text("The newest events")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Recent events")).to_have_count(1)

    await page.goto(f"/#/ml?{RANGE}")
    await expect(page.locator("#ml-totals")).to_have_text("1 event · 1 prediction · 0 errors (0%)")
    await page.goto(f"/#/llm?{RANGE}")
    await expect(page.locator("#llm-totals")).to_have_text(
        re.compile(r"^2 requests · 1 token · \$0\.50 · 1 error \(50%\)$")
    )
    # The API's limit, from the collector: a minute series over three days.
    await page.get_by_label("To").fill("2024-02-03")
    await page.get_by_label("Interval").select_option("minute")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("alert")).to_contain_text("covers at most 1 day;")


async def test_a_transition_counts_its_attempts_under_one_heading(
    ui: Watched, one_of_each: ApiClient, firing_rule: dict[str, Any]
) -> None:
    page = ui.page
    await sign_in(ui, one_of_each, "/#/alerts")
    transitions = page.get_by_role("table", name="Recent transitions")
    await expect(transitions.locator("tbody tr")).to_have_count(1)
    await expect(transitions.locator("tbody tr")).to_contain_text("delivered (1 attempt)")
    await expect(page.get_by_text("Recent transitions, newest first")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Recent transitions")).to_have_count(1)


async def test_live_says_how_many_events_came(
    ui: Watched, one_of_each: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, one_of_each, "/#/live")
    await expect(page.locator("section[data-live=open]")).to_be_visible()
    status = page.locator("#live-status")
    await expect(status).to_have_text("Connected: waiting for events.")
    # The tail starts once the socket has sent its token (see test_ui): one event at a time
    # until one shows up.
    rows = page.locator("#live-events li")
    deadline = time.monotonic() + 10
    while await rows.count() == 0:
        assert time.monotonic() < deadline, "no ingested event appeared within 10 s"
        await ingest(http, one_of_each, "llm", [llm_event("live-words")])
        try:
            await rows.first.wait_for(timeout=1000)
        except Exception:
            continue
    shown = await rows.count()
    noun = "event" if shown == 1 else "events"
    await expect(status).to_have_text(f"Connected: {shown} {noun} received.")
    await ingest(http, one_of_each, "llm", [llm_event("live-words")])
    await expect(rows).to_have_count(shown + 1)
    await expect(status).to_have_text(f"Connected: {shown + 1} events received.")


async def test_deleting_a_firing_rule_asks_first_and_says_it_is_firing(
    ui: Watched, one_of_each: ApiClient, firing_rule: dict[str, Any], http: httpx.AsyncClient
) -> None:
    page = ui.page
    dialogs: list[str] = []

    async def refuse(dialog: Dialog) -> None:  # a window.confirm would be one
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", refuse)
    await sign_in(ui, one_of_each, "/#/alerts")
    row = page.locator(f'#rules tr[data-key="{firing_rule["id"]}"]')
    await expect(row).to_contain_text("firing")
    delete = page.get_by_role("button", name=f"Delete rule {firing_rule['name']}")
    await delete.click()
    question = row.get_by_role("group", name=f"Delete rule {firing_rule['name']}?")
    await expect(question).to_contain_text(f"Delete rule “{firing_rule['name']}”?")
    await expect(question).to_contain_text("It is firing now")
    await ui.screenshot("alerts-confirm-delete")
    # One click deleted nothing; Cancel keeps the rule.
    assert (
        await http.get(f"/alerts/rules/{firing_rule['id']}", headers=one_of_each.headers)
    ).status_code == 200
    await question.get_by_role("button", name="Cancel").click()
    await expect(question).to_have_count(0)
    await expect(delete).to_be_focused()
    assert (
        await http.get(f"/alerts/rules/{firing_rule['id']}", headers=one_of_each.headers)
    ).status_code == 200
    await delete.click()
    await question.get_by_role("button", name="Yes, delete").click()
    await expect(row).to_have_count(0)
    assert (
        await http.get(f"/alerts/rules/{firing_rule['id']}", headers=one_of_each.headers)
    ).status_code == 404
    assert dialogs == [], "no browser dialog"


@pytest.fixture
async def unknown_costs(
    http: httpx.AsyncClient, admin: ApiClient, stack: Stack
) -> AsyncIterator[ApiClient]:
    """A tenant with three LLM calls: one priced by its client, one sent without cost or token
    counts (stored with a null cost, `cost_source` "unknown"), and one such call stored as
    they were before unknown costs were null: a 0 with `cost_source` "unknown", written as the
    collector writes (its document and its rollup partial in one transaction)."""
    from bench.events import llm_event as bench_llm_event
    from bench.events import to_document
    from collector.rollups.partials import partial_of
    from collector.store.storage import open_storage

    client = await create_client(http, admin, f"ui-cost-{uuid.uuid4().hex[:10]}")
    await ingest(
        http,
        client,
        "llm",
        [
            llm_event(
                "cost-llm", event_id="priced", tokens_used=1, cost=0.5, timestamp=f"{DAY}T10:01:00Z"
            ),
            llm_event("cost-llm", event_id="unpriced", timestamp=f"{DAY}T10:02:00Z"),
        ],
    )
    now = dt.datetime.now(dt.UTC)
    event = {
        **bench_llm_event("ui-cost", 0, now),
        "event_id": "old-unpriced",
        "model_name": "cost-llm",
        "timestamp": dt.datetime.fromisoformat(f"{DAY}T10:03:00+00:00"),
        **dict.fromkeys(("tokens_used", "input_tokens", "output_tokens", "cost"), 0),
        "error": "",
    }
    doc = to_document(event, client.tenant, client.client_id, now, "llm")
    doc.update(cost=0.0, cost_source="unknown")
    async with open_storage(
        stack_mongodb_url(stack), DATABASE_NAME, 5000, request_timeout_ms=60_000
    ) as storage:
        outcome = await storage.insert_new(
            storage.events("llm"), [doc], functools.partial(partial_of, client.tenant, "llm")
        )
        assert outcome.inserted == 1
    yield client


async def test_a_cost_that_is_not_known_shows_a_dash(
    ui: Watched, unknown_costs: ApiClient, http: httpx.AsyncClient
) -> None:
    recent = (await read(http, unknown_costs, "/dashboard/overview"))["recent_events"]
    data = {e["event_id"]: e["data"] for e in recent}
    assert (data["old-unpriced"]["cost"], data["old-unpriced"]["cost_source"]) == (0, "unknown")
    assert (data["unpriced"]["cost"], data["unpriced"]["cost_source"]) == (None, "unknown")
    page = ui.page
    await sign_in(ui, unknown_costs)
    for event_id in ("unpriced", "old-unpriced"):
        row = page.locator(f'#recent tr[data-key="{event_id}"]')
        await expect(row).to_contain_text("0 tokens · —")
        await expect(row).not_to_contain_text("$")
    await expect(page.locator('#recent tr[data-key="priced"]')).to_contain_text("$0.50")
