"""The Alerts page and anomaly rules in a real browser (the fixtures of test_ui.py): the form
offers the comparison "anomaly" with its hint and its shorter window (the bound read from the
served OpenAPI document), a rule created through it is stored as one, and the rules table
states its condition as a z-score."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from collector.alerts.anomaly import MAX_WINDOW_MINUTES
from tests import test_ui  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, create_client, read
from tests.test_ui import Watched, sign_in
from tests.test_ui_narrow import WIDTH, assert_fits

browser = test_ui.browser
ui = test_ui.ui


async def test_create_an_anomaly_rule_in_the_form(
    ui: Watched, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    client = await create_client(
        http, admin, f"ui-anomaly-{uuid.uuid4().hex[:8]}", scopes=["read", "alerts"]
    )
    doc = (await http.get("/openapi.json")).json()
    body = doc["paths"]["/alerts/rules"]["post"]["requestBody"]["content"]["application/json"]
    longest = body["schema"]["properties"]["window_minutes"]["maximum"]
    assert longest > MAX_WINDOW_MINUTES
    page = ui.page
    await sign_in(ui, client, "/#/alerts")
    comparison = page.get_by_label("Comparison")
    window = page.get_by_label("Window (minutes)")
    hint = page.locator("#comparison-hint")
    await expect(comparison.locator("option[value=anomaly]")).to_have_text("anomaly (z-score)")
    await expect(hint).to_be_hidden()
    await expect(comparison).not_to_have_attribute("aria-describedby", "comparison-hint")
    await expect(window).to_have_attribute("max", f"{longest:g}")

    await page.get_by_label("Name").fill("unusual latency")
    await page.get_by_label("Metric").select_option("latency_p95")
    await comparison.select_option("anomaly")
    await expect(hint).to_be_visible()
    await expect(hint).to_contain_text("z-score")
    await expect(hint).to_contain_text(f"at most {MAX_WINDOW_MINUTES} minutes")
    await expect(window).to_have_attribute("max", str(MAX_WINDOW_MINUTES))
    for described in (comparison, page.get_by_label("Threshold")):
        await expect(described).to_have_attribute("aria-describedby", "comparison-hint")
    await page.get_by_label("Threshold").fill("3")
    await page.get_by_label("Webhook URL").fill("https://93.184.215.14/aegis")
    await page.get_by_label("Webhook secret").fill("a-webhook-secret-of-enough-length")

    # Longer than an anomaly rule may look: the browser holds the form back, nothing is sent.
    await window.fill(str(MAX_WINDOW_MINUTES + 1))
    await page.get_by_role("button", name="Create rule").click()
    assert await window.evaluate("el => el.validity.rangeOverflow") is True
    await expect(page.get_by_text("No alert rules yet.")).to_be_visible()
    assert (await read(http, client, "/alerts/rules"))["rules"] == []

    await window.fill("15")
    await page.get_by_role("button", name="Create rule").click()
    await expect(page.locator("#rules tbody tr")).to_have_count(1)
    rules = (await read(http, client, "/alerts/rules"))["rules"]
    assert [
        (r["name"], r["metric"], r["comparison"], r["threshold"], r["window_minutes"])
        for r in rules
    ] == [("unusual latency", "latency_p95", "anomaly", 3, 15)]
    row = page.locator(f'#rules tr[data-key="{rules[0]["id"]}"]')
    await expect(row.locator("td[data-label=Condition]")).to_have_text(
        "latency_p95 anomaly, |z| > 3 over 15 min"
    )
    # The form is reset: back to "gt", its hint gone and the window's bound the general one.
    await expect(comparison).to_have_value("gt")
    await expect(hint).to_be_hidden()
    await expect(window).to_have_attribute("max", f"{longest:g}")
    await ui.screenshot("alerts-anomaly")

    await page.set_viewport_size({"width": WIDTH, "height": 800})
    await comparison.select_option("anomaly")
    await expect(hint).to_be_visible()
    await assert_fits(ui, "alerts-anomaly")


async def test_the_rules_table_states_each_comparison(
    ui: Watched, http: httpx.AsyncClient, admin: ApiClient
) -> None:
    """Rules made through the API, one per comparison: each condition in its own words."""
    client = await create_client(
        http, admin, f"ui-conditions-{uuid.uuid4().hex[:8]}", scopes=["read", "alerts"]
    )
    common = {
        "window_minutes": 60,
        "webhook_url": "https://93.184.215.14/aegis",
        "webhook_secret": "a-webhook-secret-of-enough-length",
    }
    want = {}
    for name, rule, condition in (
        ("above", {"metric": "cost", "comparison": "gt", "threshold": 5}, "cost > 5 over 60 min"),
        (
            "below",
            {"metric": "no_data", "comparison": "lt", "threshold": 1},
            "no_data < 1 over 60 min",
        ),
        (
            "unusual",
            {"metric": "error_rate", "comparison": "anomaly", "threshold": 2.5, "model": "m-1"},
            "error_rate anomaly, |z| > 2.5 over 60 min (m-1)",
        ),
    ):
        reply = await http.post(
            "/alerts/rules", json={"name": name, **rule, **common}, headers=client.headers
        )
        assert reply.status_code == 201, reply.text
        want[reply.json()["id"]] = condition
    page = ui.page
    await sign_in(ui, client, "/#/alerts")
    for rule_id, condition in want.items():
        cell = page.locator(f'#rules tr[data-key="{rule_id}"] td[data-label=Condition]')
        await expect(cell).to_have_text(condition)
