"""The web dashboard and the API docs in a real browser: Debian's Chromium driven by Playwright,
against the real stack (the session's, see conftest.py), each test in a fresh browser context.

Every test's page is watched: a request to any other origin or a console error fails it (the
teardown of the `ui` fixture). Screenshots go to test-artifacts/ui/ (gitignored). Without a
Chromium the browser tests are skipped with the reason, except on CI (CI=true), where .ci/run
installs one and a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import json
import os
import pathlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.conftest import ApiClient, create_client, ingest, llm_event, ml_event, read
from tests.procs import Stack, stack_mongodb_url
from tests.test_auth import claims_for

CHROMIUM = pathlib.Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "ui"
WEB = ROOT / "gateway" / "web"
TIMEOUT_MS = 15_000
LARGE_HISTORY = int(os.environ.get("UI_LARGE_HISTORY", "200000"))

CHROMIUM_FOUND = CHROMIUM.exists()
if not CHROMIUM_FOUND and os.environ.get("CI") != "true":
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) to run the "
        "dashboard's browser tests",
        allow_module_level=True,
    )

from playwright.async_api import (  # noqa: E402  (after the skip: CI must have it)
    Browser,
    ConsoleMessage,
    Page,
    Request,
    async_playwright,
    expect,
)

expect.set_options(timeout=TIMEOUT_MS)

# -- Data: one tenant with a known month of LLM and ML events ----------------------------------

LLM_MODELS = ("gpt-test-a", "gpt-test-b")
ML_MODELS = ("churn-rf", "fraud-gbm")
JANUARY = {"start": "2024-01-01", "end": "2024-01-31"}
FIRST_DAYS = {"start": "2024-01-01", "end": "2024-01-03"}


def _at(day: int, hour: int) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:15:00Z"


def llm_history() -> list[dict[str, Any]]:
    events = []
    for day in range(1, 11):
        for i, model in enumerate(LLM_MODELS):
            for n in range(day + i):  # the counts differ by day and by model
                events.append(
                    llm_event(
                        model,
                        prompt_length=40 + n,
                        response_length=200 + 10 * n,
                        tokens_used=250 + n,
                        cost=0.002 * (1 + i),
                        latency_ms=100.0 + 37 * n + 200 * i,
                        timestamp=_at(day, 8 + n % 10),
                        **({"error": "RateLimitError"} if n == 3 else {}),
                    )
                )
    return events


def ml_history() -> list[dict[str, Any]]:
    return [
        ml_event(
            model, prediction_count=10 * (day + i), latency_ms=5.0 + day, timestamp=_at(day, 9)
        )
        for day in range(1, 11)
        for i, model in enumerate(ML_MODELS)
    ]


@pytest.fixture(scope="module")
async def viewer(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """A client of a tenant of its own, allowed to manage alert rules, with the history above."""
    client = await create_client(
        http, admin, f"ui-{uuid.uuid4().hex[:10]}", scopes=["ingest", "read", "alerts"]
    )
    await ingest(http, client, "llm", llm_history())
    await ingest(http, client, "ml", ml_history())
    return client


# -- The browser and the watched page ---------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM_FOUND, f"CI=true but no Chromium at {CHROMIUM} (.ci/run installs it)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()


@dataclass
class Watched:
    """A page and what it did: every request URL, every console error."""

    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)

    def allow_console_error(self, pattern: str) -> None:
        """An error the test itself provokes (e.g. the browser logging a 401)."""
        self.allowed_errors.append(pattern)

    def outside_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob")
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
            not in (self.origin, self.origin.replace("http", "ws", 1))
        ]

    def unexpected_errors(self) -> list[str]:
        return [
            text
            for text in self.console_errors
            if not any(re.search(p, text) for p in self.allowed_errors)
        ]

    async def screenshot(self, name: str, *, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@pytest.fixture
async def ui(browser: Browser, stack: Stack) -> AsyncIterator[Watched]:
    context = await browser.new_context(
        base_url=stack.http, viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    watched = Watched(page, stack.http)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def on_page_error(error: Exception) -> None:
        watched.console_errors.append(f"uncaught: {error}")

    context.on("request", on_request)
    context.on("websocket", lambda ws: watched.requests.append(ws.url))
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield watched
    await context.close()
    assert not watched.outside_requests(), f"requests left the origin: {watched.outside_requests()}"
    assert not watched.unexpected_errors(), f"console errors: {watched.unexpected_errors()}"


async def sign_in(ui: Watched, client: ApiClient, path: str = "/") -> None:
    page = ui.page
    await page.goto(path)
    await page.get_by_label("Client ID").fill(client.client_id)
    await page.get_by_label("Client secret").fill(client.client_secret)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation", name="Pages")).to_be_visible()


async def drawn_points(figure: Any) -> int:
    """How many points a chart drew, once its canvas has something painted on it."""
    await expect(figure).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    painted = await figure.locator("canvas").evaluate(
        """canvas => {
            const context = canvas.getContext("2d");
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) n++;
            return n;
        }"""
    )
    assert painted > 0, "the chart's canvas is blank"
    return int(await figure.get_attribute("data-points"))


# -- Served as the issue says (plain HTTP, no browser needed) -----------------------------------


async def test_the_page_and_its_assets_carry_strict_headers(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts and all(" src=" in tag for tag in scripts), "an inline script in index.html"
    assert "style=" not in page.text and "<style" not in page.text
    for url in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
        assert url.startswith("/ui/"), f"{url} is not under /ui/"

    own = await http.get("/ui/app/main.js")
    assert own.status_code == 200 and "javascript" in own.headers["content-type"]
    assert own.headers["cache-control"] == "no-cache" and own.headers["etag"]
    assert own.headers["x-content-type-options"] == "nosniff"
    again = await http.get("/ui/app/main.js", headers={"If-None-Match": own.headers["etag"]})
    assert again.status_code == 304

    vendored = await http.get("/ui/vendor/uplot-1.6.32/uPlot.iife.min.js")
    assert vendored.status_code == 200
    assert vendored.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await http.get("/ui/vendor/uplot-1.6.32/LICENSE")).status_code == 200

    for docs in ("/docs", "/redoc"):
        reply = await http.get(docs)
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self';" in reply.headers["content-security-policy"]
        assert all(" src=" in tag for tag in re.findall(r"<script\b[^>]*>", reply.text))

    missing = await http.get("/ui/app/nothing.js")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message", "details"}
    assert (await http.get("/ui/../pyproject.toml")).status_code == 404


def test_the_dashboard_weighs_under_200_kB() -> None:
    """Everything the dashboard can load: its own files and uPlot (not the /docs bundles)."""
    files = [p for p in (WEB / "app").rglob("*") if p.suffix in (".js", ".css")]
    files += list((WEB / "vendor" / "uplot-1.6.32").glob("*.[jc]s*"))
    total = sum(p.stat().st_size for p in files)
    _record("js_css_bytes", total)
    assert total < 200_000, f"{total} bytes of JS and CSS"


# -- Flows in the browser -------------------------------------------------------------------


async def test_a_wrong_secret_then_sign_in(ui: Watched, viewer: ApiClient) -> None:
    page = ui.page
    ui.allow_console_error(r"status of 401 .*\(.*/auth/token\)")
    await page.goto("/#/llm?start=2024-01-01&end=2024-01-31&interval=day")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await ui.screenshot("sign-in")
    await page.get_by_label("Client ID").fill(viewer.client_id)
    await page.get_by_label("Client secret").fill("not-the-secret")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong client ID or secret.")
    assert await page.evaluate("sessionStorage.length") == 0

    await page.get_by_label("Client secret").fill(viewer.client_secret)
    await page.get_by_role("button", name="Sign in").click()
    # The page that was asked for, not the overview.
    await expect(page.get_by_role("heading", name="LLM", exact=True)).to_be_visible()
    stored = await page.evaluate(
        "JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )
    assert viewer.client_secret not in stored
    assert json.loads(stored)[1] == [], "nothing goes to localStorage"
    assert json.loads(stored)[0] and json.loads(stored)[0][0][0] == "aegis.token"
    for name in ("Overview", "LLM", "ML", "Alerts", "Live"):
        await expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()


async def test_an_expired_token_returns_to_sign_in_on_the_same_page(
    ui: Watched, viewer: ApiClient, jwt_secret: str
) -> None:
    page = ui.page
    ui.allow_console_error(r"status of 401 .*\(.*/dashboard/ml-metrics")
    await sign_in(ui, viewer, "/#/ml?start=2024-01-01&end=2024-01-31&interval=day")
    await expect(page.locator("#ml-totals")).to_be_visible()
    now = int(time.time())
    expired = jwt.encode(
        claims_for(viewer, iat=now - 7200, exp=now - 3600, scopes=["ingest", "read", "alerts"]),
        jwt_secret,
        "HS256",
    )
    await page.evaluate("token => sessionStorage.setItem('aegis.token', token)", expired)
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("alert")).to_have_text("Your session has expired; sign in again.")
    await page.get_by_label("Client ID").fill(viewer.client_id)
    await page.get_by_label("Client secret").fill(viewer.client_secret)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#ml-totals")).to_be_visible()
    assert page.url.endswith("#/ml?start=2024-01-01&end=2024-01-31&interval=day")


async def test_the_overview_shows_the_apis_totals(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, viewer)
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expected = await read(http, viewer, "/dashboard/overview")
    for key in ("total_ml_predictions", "total_llm_requests", "active_models", "total_cost"):
        stat = page.locator(f'[data-stat="{key}"]')
        await expect(stat).to_be_visible()
        assert float(await stat.get_attribute("data-value")) == pytest.approx(expected[key]), key
    assert expected["total_llm_requests"] == len(llm_history())
    await expect(page.locator('[data-stat="total_llm_requests"] dd')).to_have_text(
        f"{len(llm_history())}"
    )
    await expect(page.locator('[data-stat="total_cost"] dd')).to_contain_text("$")
    rows = page.locator("#recent tbody tr")
    await expect(rows).to_have_count(len(expected["recent_events"]))
    for figure in await page.locator("#over-time figure").all():
        assert await drawn_points(figure) == 10  # ten days of LLM events
    await ui.screenshot("overview")
    # Keyboard: the first Tab reaches the navigation, and the focus is drawn.
    await page.keyboard.press("Tab")
    focused = await page.evaluate(
        "el => [el.textContent, getComputedStyle(el).outlineStyle]",
        await page.evaluate_handle("document.activeElement"),
    )
    assert focused == ["Overview", "solid"]


async def test_the_llm_page_lists_models_with_percentiles_and_charts(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, viewer, "/#/llm?start=2024-01-01&end=2024-01-31&interval=day")
    expected = await read(
        http, viewer, "/dashboard/llm-metrics", start_date="2024-01-01", end_date="2024-01-31"
    )
    table = page.locator("#llm-data table.data")
    await expect(table).to_be_visible()
    headers = await table.locator("thead th").all_inner_texts()
    for name in ("Requests", "Tokens", "Cost", "Avg prompt", "Avg response", "p50", "p95", "p99"):
        assert name in headers
    for model in expected["models"]:
        row = table.locator(f'tr[data-key="{model["model_name"]}"]')
        cells = await row.locator("th, td").all_inner_texts()
        assert cells[0] == model["model_name"]
        assert cells[1] == f"{model['requests']}"
        for i in (6, 7, 8):  # p50, p95, p99
            assert re.fullmatch(r"[\d.,]+ (ms|s)", cells[i]), cells
        assert cells[9].startswith(f"{model['errors']} (")
    figures = page.locator("#llm-data figure")
    await expect(figures).to_have_count(4)
    assert await drawn_points(figures.first) == 10
    await ui.screenshot("llm")


async def test_changing_the_date_range_changes_the_numbers(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, viewer, "/#/llm?start=2024-01-01&end=2024-01-31&interval=day")
    totals = page.locator("#llm-totals")
    month = await read(
        http, viewer, "/dashboard/llm-metrics", start_date="2024-01-01", end_date="2024-01-31"
    )
    await expect(totals).to_have_attribute("data-requests", str(month["total_requests"]))
    await page.get_by_label("To").fill(FIRST_DAYS["end"])
    await page.get_by_label("Interval").select_option("hour")
    await page.get_by_role("button", name="Apply").click()
    days = await read(
        http, viewer, "/dashboard/llm-metrics", start_date="2024-01-01", end_date="2024-01-03"
    )
    assert days["total_requests"] < month["total_requests"]
    await expect(totals).to_have_attribute("data-requests", str(days["total_requests"]))
    assert page.url.endswith("#/llm?start=2024-01-01&end=2024-01-03&interval=hour")
    # The URL is the view: opened afresh, it shows the same numbers.
    await page.reload()
    await expect(totals).to_have_attribute("data-requests", str(days["total_requests"]))
    await expect(page.get_by_label("Interval")).to_have_value("hour")


async def test_the_ml_page_lists_models_and_predictions(ui: Watched, viewer: ApiClient) -> None:
    page = ui.page
    await sign_in(ui, viewer, "/#/ml?start=2024-01-01&end=2024-01-31&interval=day")
    for model in ML_MODELS:
        await expect(page.locator(f'#ml-data tr[data-key="{model}"]')).to_be_visible()
    assert await drawn_points(page.locator("#ml-data figure")) == 10
    await ui.screenshot("ml")


async def test_an_empty_range_and_a_bad_request_are_shown(ui: Watched, viewer: ApiClient) -> None:
    page = ui.page
    ui.allow_console_error(r"status of 400 .*\(.*/dashboard/llm-metrics")
    await sign_in(ui, viewer, "/#/llm?start=2023-01-01&end=2023-01-31&interval=day")
    await expect(page.get_by_text("No LLM requests in this range.")).to_be_visible()
    # A minute series over a month is refused by the API: its message and a retry are shown.
    await page.get_by_label("Interval").select_option("minute")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("alert")).to_contain_text("interval")
    await expect(page.get_by_role("button", name="Retry")).to_be_visible()


async def test_create_and_delete_an_alert_rule(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, viewer)
    await page.get_by_role("link", name="Alerts").click()
    await expect(page.get_by_text("No alert rules yet.")).to_be_visible()
    name = f"spend {uuid.uuid4().hex[:6]}"
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Metric").select_option("cost")
    await page.get_by_label("Threshold").fill("1000000")
    await page.get_by_label("Webhook URL").fill("https://93.184.215.14/aegis")
    await page.get_by_label("Webhook secret").fill("a-webhook-secret-of-enough-length")
    await page.get_by_role("button", name="Create rule").click()
    await expect(page.locator("#rules tbody tr")).to_have_count(1)
    rules = (await read(http, viewer, "/alerts/rules"))["rules"]
    assert [r["name"] for r in rules] == [name]
    await expect(page.locator(f'#rules tr[data-key="{rules[0]["id"]}"]')).to_contain_text("ok")
    await ui.screenshot("alerts")

    await page.get_by_role("button", name=f"Delete rule {name}").click()
    # Asked first (tests/test_ui_words.py checks the question), then deleted.
    await page.get_by_role("button", name="Yes, delete").click()
    await expect(page.get_by_text("No alert rules yet.")).to_be_visible()
    assert (await read(http, viewer, "/alerts/rules"))["rules"] == []


async def test_the_rule_form_offers_what_the_openapi_document_allows(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    """The metrics, comparisons and bounds of the form are the served document's (the one
    definition the server validates with), not a copy kept in the page's script."""
    doc = (await http.get("/openapi.json")).json()
    body = doc["paths"]["/alerts/rules"]["post"]["requestBody"]["content"]["application/json"]
    fields = body["schema"]["properties"]
    page = ui.page
    await sign_in(ui, viewer)
    await page.get_by_role("link", name="Alerts").click()
    metric = page.get_by_label("Metric")
    await expect(metric).to_be_visible()
    assert (
        await metric.locator("option").evaluate_all("os => os.map(o => o.value)")
        == (fields["metric"]["enum"])
    )
    comparison = page.get_by_label("Comparison").locator("option")
    assert (
        await comparison.evaluate_all("os => os.map(o => o.value)")
        == (fields["comparison"]["enum"])
    )
    bounds = {
        "Name": ("maxlength", fields["name"]["maxLength"]),
        "Window (minutes)": ("max", fields["window_minutes"]["maximum"]),
        "Webhook secret": ("minlength", fields["webhook_secret"]["minLength"]),
    }
    for label, (attribute, bound) in bounds.items():
        await expect(page.get_by_label(label)).to_have_attribute(attribute, f"{bound:g}")


async def test_a_rules_warning_is_shown_under_it(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    """A rule on a model with no events is accepted with a warning (maybe a typo): the rules
    table says so under the rule's name."""
    rule = {
        "name": f"typo {uuid.uuid4().hex[:6]}",
        "metric": "cost",
        "model": "gpt-tset-a",
        "comparison": "gt",
        "threshold": 5,
        "window_minutes": 60,
        "webhook_url": "https://93.184.215.14/aegis",
        "webhook_secret": "a-webhook-secret-of-enough-length",
    }
    created = await http.post("/alerts/rules", json=rule, headers=viewer.headers)
    assert created.status_code == 201, created.text
    warnings = created.json()["warnings"]
    assert warnings == ["model 'gpt-tset-a' has no events yet"]
    try:
        page = ui.page
        await sign_in(ui, viewer)
        await page.get_by_role("link", name="Alerts").click()
        row = page.locator(f'#rules tr[data-key="{created.json()["id"]}"]')
        await expect(row.get_by_role("note")).to_have_text(warnings)
        await ui.screenshot("alerts-warning")
    finally:
        deleted = await http.delete(f"/alerts/rules/{created.json()['id']}", headers=viewer.headers)
        assert deleted.status_code == 200, deleted.text


async def _tail_served(stack: Stack) -> bool:
    """Whether the running gateway answers a WebSocket handshake at /ws/events (101)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.http_port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return b" 101 " in status


async def test_an_ingested_event_appears_on_the_live_page(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient, stack: Stack
) -> None:
    if not await _tail_served(stack):
        pytest.skip("GET /ws/events is not served by this gateway (the live tail, issue 9)")
    page = ui.page
    await sign_in(ui, viewer)
    await page.get_by_role("link", name="Live").click()
    await expect(page.locator("section[data-live=open]")).to_be_visible()
    # The tail starts once the socket has sent its token; an event sent before that is not
    # relayed. So send one event at a time until one shows up (each waits a second for it).
    rows = page.locator("#live-events li")
    sent: list[str] = []
    deadline = time.monotonic() + 10
    while await rows.count() == 0:
        assert time.monotonic() < deadline, "no ingested event appeared within 10 s"
        event_id = f"live-{uuid.uuid4().hex[:8]}"
        sent.append(event_id)
        await ingest(http, viewer, "llm", [llm_event("live-model", event_id=event_id, cost=0.5)])
        try:
            await rows.first.wait_for(timeout=1000)
        except Exception:
            continue
    assert await rows.first.get_attribute("data-event-id") in sent
    await expect(rows.first).to_contain_text("live-model")
    # Paused, a new event is held (and counted), not shown; resumed, it comes first.
    shown = await rows.count()
    await page.get_by_role("button", name="Pause").click()
    held = f"live-{uuid.uuid4().hex[:8]}"
    await ingest(http, viewer, "ml", [ml_event("live-ml-model", event_id=held)])
    await expect(page.locator("#live-status")).to_have_text("Paused: 1 new event held.")
    assert await rows.count() == shown
    await ui.screenshot("live")
    await page.get_by_role("button", name="Resume").click()
    await expect(rows.first).to_have_attribute("data-event-id", held)


async def test_the_api_docs_render_offline(ui: Watched) -> None:
    page = ui.page
    await page.goto("/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert await page.locator(".opblock").count() >= 10
    await expect(page.get_by_text("/dashboard/overview").first).to_be_visible()
    await ui.screenshot("docs")
    await page.goto("/redoc")
    await expect(page.get_by_text("/dashboard/overview").first).to_be_attached()
    await expect(page.locator("[data-section-id^='tag/']").first).to_be_visible()
    await ui.screenshot("redoc")


# -- Speed at 200k events -----------------------------------------------------------------------


def large_history(now: dt.datetime) -> list[tuple[str, list[dict[str, Any]]]]:
    """LARGE_HISTORY events in batches of 500 of one kind (ML and LLM alternating, 10 models
    each), each batch within one minute of the last two hours, as live traffic lands; the
    events themselves are the bench's (bench.events)."""
    from bench.events import llm_event as bench_llm_event
    from bench.events import seed_ml_event

    batches = []
    for number in range(LARGE_HISTORY // 500):
        minute = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=number % 120)
        kind = "ml" if number % 2 == 0 else "llm"
        events = []
        for index in range(number * 500, (number + 1) * 500):
            if kind == "ml":
                event = seed_ml_event("ui", index, now)
                event["model_id"] = f"ml-model-{index % 10}"
            else:
                event = bench_llm_event("ui", index, now)
                event["model_name"] = f"llm-model-{index % 10}"
            event["timestamp"] = minute + dt.timedelta(milliseconds=index % 60_000)
            events.append(event)
        batches.append((kind, events))
    return batches


@dataclass
class Large:
    """The large tenant, and its agent trace of AGENT_SPANS spans (sent through OTLP)."""

    client: ApiClient
    trace_id: str
    spans: int


@pytest.fixture(scope="module")
async def large(stack: Stack, http: httpx.AsyncClient, admin: ApiClient) -> Large:
    """A tenant with LARGE_HISTORY events, written straight into the database as the collector
    writes them (as `make bench` does: the events, their partial, their explore rows and note),
    once the collector's rollup and explore jobs have folded them; then an agent's trace of 50
    spans made by the OpenTelemetry SDK (bench.explore_corpus's), sent over OTLP/gRPC."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from bench.backlog import until_folded
    from bench.events import to_document
    from bench.explore_corpus import AGENT_SPANS, Corpus, Shape
    from bench.stack import DATABASE_NAME
    from collector.explore.notes import batch_writes
    from collector.rollups.partials import partial_of
    from collector.store.storage import open_storage

    client = await create_client(http, admin, f"ui-large-{uuid.uuid4().hex[:8]}")
    now = dt.datetime.now(dt.UTC)
    # A test's set-up, not a measurement of ingest: each batch is written as the collector
    # writes it (its documents and its partial in one transaction), two at a time, each with
    # a minute to commit: on a loaded machine a commit can take longer than the collector's
    # 1.5 s request limit, and a set-up has no client to answer "busy" to.
    async with open_storage(
        stack_mongodb_url(stack), DATABASE_NAME, 5000, request_timeout_ms=60_000
    ) as storage:
        started = time.perf_counter()
        pending = list(reversed(large_history(now)))

        async def writer() -> None:
            while pending:
                kind, events = pending.pop()
                docs = [to_document(e, client.tenant, client.client_id, now, kind) for e in events]
                outcome = await storage.insert_new(
                    storage.events(kind),
                    docs,
                    functools.partial(partial_of, client.tenant, kind),
                    rows=functools.partial(batch_writes, client.tenant, kind),
                )
                assert outcome.inserted == len(docs)

        await asyncio.gather(*(writer() for _ in range(2)))
        seeded = time.perf_counter()
        left = await until_folded(storage, 60)
        assert left["rollup_partials_left"] == left["explore_pending_left"] == 0, left
    folded = time.perf_counter()
    trace_id, spans = Corpus("ui", Shape(1000), now).agent_trace()
    authorization = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode())
    exporter = OTLPSpanExporter(
        endpoint=stack.grpc_target,
        insecure=True,
        headers={"authorization": f"Basic {authorization.decode()}"},
        timeout=60,
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(spans) == AGENT_SPANS
    # The trace's directory entry is the explore job's: until it has folded the note, the
    # trace is not found (404).
    deadline = time.monotonic() + 60
    while True:
        reply = await http.get(f"/traces/{trace_id}", headers=client.headers)
        if reply.status_code == 200 and len(reply.json()["spans"]) == AGENT_SPANS:
            break
        assert reply.status_code in (200, 404, 429), reply.text
        assert time.monotonic() < deadline, f"the agent trace: {reply.status_code} {reply.text}"
        await asyncio.sleep(0.5)
    _record(
        "large_history_setup_s",
        {
            "seed": round(seeded - started, 1),
            "fold": round(folded - seeded, 1),
            "trace": round(time.perf_counter() - folded, 1),
        },
    )
    return Large(client, trace_id, AGENT_SPANS)


@pytest.fixture(scope="module")
async def large_tenant(large: Large) -> ApiClient:
    return large.client


async def test_the_overview_first_renders_within_a_second_at_200k_events(
    ui: Watched, large_tenant: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    totals = await read(http, large_tenant, "/dashboard/overview")
    assert totals["total_llm_requests"] + totals["total_ml_predictions"] > 0
    await sign_in(ui, large_tenant)
    renders = []
    for _ in range(3):  # a fresh page load each time; the token stays in the tab
        await page.reload()
        await expect(page.locator('[data-stat="total_llm_requests"]')).to_have_attribute(
            "data-value", str(totals["total_llm_requests"])
        )
        renders.append(
            await page.evaluate(
                "performance.getEntriesByName('aegis:overview-rendered')[0].startTime"
            )
        )
    _record("overview_first_render_ms", {"events": LARGE_HISTORY, "loads_ms": renders})
    median = sorted(renders)[len(renders) // 2]
    assert median < 1000, f"first render took {renders} ms at {LARGE_HISTORY} events"


def _record(name: str, value: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2) + "\n")


async def test_the_events_page_and_a_50_span_waterfall_render_within_a_second_at_200k_events(
    ui: Watched, large: Large, http: httpx.AsyncClient
) -> None:
    """The figures at LARGE_HISTORY events; `python -m bench.explore` measures the same pages
    at 1M (docs/web-ui.md)."""
    from bench.explore_ui import events as events_page
    from bench.explore_ui import render_times, waterfall

    first = await read(http, large.client, "/events/llm")
    assert len(first["events"]) == 50 and first["next_cursor"]
    await sign_in(ui, large.client)
    events = await render_times(ui.page, events_page(50), 3)
    await expect(ui.page.locator("#events-data tbody tr").first).to_have_attribute(
        "data-key", first["events"][0]["event_id"]
    )
    trace = await render_times(ui.page, waterfall(large.trace_id, large.spans), 3)
    await ui.screenshot("trace-waterfall-50")
    _record(
        "explore_pages_first_render_ms",
        {"events": LARGE_HISTORY, "events_page_ms": events, "trace_waterfall_ms": trace},
    )
    print(f"at {LARGE_HISTORY} events: Events page {events} ms, 50-span waterfall {trace} ms")
    for name, renders in (("Events page", events), ("waterfall", trace)):
        median = sorted(renders)[len(renders) // 2]
        assert median < 1000, f"the {name} took {renders} ms at {LARGE_HISTORY} events"
