"""The dashboard on a narrow screen (360 px wide) in a real browser (the fixtures of
test_ui.py): on every page, with its data shown, no element reaches past the viewport's right
edge and the document is not wider than the viewport (nothing scrolls sideways)."""

from __future__ import annotations

import time
import uuid

import httpx
from playwright.async_api import expect

from tests import test_ui, test_ui_explore  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, ingest, llm_event
from tests.test_ui import Watched, sign_in
from tests.test_ui_explore import Agent

# test_ui's fixtures: the browser, a watched page in a fresh context, a tenant with a month of
# LLM and ML events.
browser = test_ui.browser
ui = test_ui.ui
viewer = test_ui.viewer
# test_ui_explore's tenant: an agent's trace (OTLP), its user's session and calls (the SDK).
agent = test_ui_explore.agent

WIDTH = 360
# Every element's right edge and the document's width, against the viewport's.
OVERFLOW = """() => {
    const wide = [];
    for (const el of document.querySelectorAll("body *")) {
        const box = el.getBoundingClientRect();
        if (box.width > 0 && box.right > innerWidth + 0.5) {
            wide.push(`${el.tagName.toLowerCase()}.${el.className}#${el.id}: ${box.right}`);
        }
    }
    return { wide, scrollWidth: document.documentElement.scrollWidth, innerWidth };
}"""


async def assert_fits(ui: Watched, name: str) -> None:
    await ui.screenshot(f"narrow-{name}")
    seen = await ui.page.evaluate(OVERFLOW)
    assert seen["innerWidth"] == WIDTH
    assert seen["wide"] == [], f"{name}: wider than {WIDTH} px: {seen['wide'][:10]}"
    assert seen["scrollWidth"] <= WIDTH, f"{name}: the page is {seen['scrollWidth']} px wide"


async def test_no_page_is_wider_than_a_360_px_screen(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    rule = {
        "name": f"narrow {uuid.uuid4().hex[:6]}",
        "metric": "cost",
        "comparison": "gt",
        "threshold": 1000000,
        "window_minutes": 60,
        "webhook_url": "https://93.184.215.14/aegis",
        "webhook_secret": "a-webhook-secret-of-enough-length",
    }
    created = await http.post("/alerts/rules", json=rule, headers=viewer.headers)
    assert created.status_code == 201, created.text
    page = ui.page
    await page.set_viewport_size({"width": WIDTH, "height": 800})
    try:
        await sign_in(ui, viewer)
        await expect(page.locator("#recent tbody tr").first).to_be_visible()
        await expect(page.locator("#over-time figure[data-x-max]")).to_have_count(2)
        await assert_fits(ui, "overview")
        for name, path, ready in (
            ("llm", "#/llm?start=2024-01-01&end=2024-01-31&interval=day", "#llm-data"),
            (
                "llm-per-model",
                "#/llm?start=2024-01-01&end=2024-01-31&interval=day&lines=model",
                "#llm-data",
            ),
            ("ml", "#/ml?start=2024-01-01&end=2024-01-31&interval=day", "#ml-data"),
        ):
            await page.goto(f"/{path}")
            await expect(page.locator(f"{ready} figure[data-x-max]").first).to_be_visible()
            if name == "ml":  # and its drift section (tests/test_ui_drift.py: with features)
                await expect(page.locator("#drift-data [data-state=ready]")).to_be_visible()
            await assert_fits(ui, name)
        await page.goto("/#/alerts")
        await expect(page.locator(f'#rules tr[data-key="{created.json()["id"]}"]')).to_be_visible()
        await expect(page.get_by_role("button", name="Create rule")).to_be_visible()
        await assert_fits(ui, "alerts")
        await page.goto("/#/live")
        await expect(page.locator("section[data-live=open]")).to_be_visible()
        # With an event shown: the tail starts once the socket has sent its token (see
        # test_ui), so one event at a time until one shows up.
        rows = page.locator("#live-events li")
        deadline = time.monotonic() + 10
        while await rows.count() == 0:
            assert time.monotonic() < deadline, "no ingested event appeared within 10 s"
            error = "a long error message without spaces: " + "x" * 300
            await ingest(http, viewer, "llm", [llm_event("narrow-live-model", error=error)])
            try:
                await rows.first.wait_for(timeout=1000)
            except Exception:
                continue
        await assert_fits(ui, "live")
    finally:
        deleted = await http.delete(f"/alerts/rules/{created.json()['id']}", headers=viewer.headers)
        assert deleted.status_code == 200, deleted.text


async def test_the_explore_pages_fit_a_360_px_screen(ui: Watched, agent: Agent) -> None:
    page = ui.page
    await page.set_viewport_size({"width": WIDTH, "height": 800})
    await sign_in(ui, agent.client)
    event = agent.sdk_event_ids[0]
    for name, path, ready in (
        ("events", "#/events?kind=llm", "#events-data tbody tr"),
        ("event", "#/events?kind=llm&model=gpt-4o", "#events-data tbody tr"),
        ("sdk-event", f"#/event?kind=llm&id={event}", ".conversation .message"),
        ("traces", "#/traces", "#traces-data tbody tr"),
        ("trace", f"#/trace?id={agent.trace_id}", ".wf-spans li"),
        ("sessions", "#/sessions", "#sessions-data tbody tr"),
        ("session", f"#/session?id={agent.session}", "#session-turns > li"),
        ("users", "#/users", "#users-table tbody tr"),
        ("user", f"#/user?id={agent.user}", "#user-events tbody tr"),
    ):
        await page.goto(f"/{path}")
        await expect(page.locator(ready).first).to_be_visible()
        if name == "event":  # the OTLP call with hostile content, opened from the list
            await page.locator("#events-data tbody tr").last.locator("th a").click()
            await expect(page.locator(".conversation .message").first).to_be_visible()
        await assert_fits(ui, name)
