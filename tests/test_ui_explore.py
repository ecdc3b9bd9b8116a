"""The explore pages in a real browser (the fixtures of test_ui.py): Events, an event, Traces and
a trace's waterfall, Sessions and a session, Users and a user, and the drill-down from the
LLM, ML and Overview pages, each flow driven by clicks. The data comes from the real
OpenTelemetry SDK (a nested agent trace with a user and a session, exported over OTLP/gRPC)
and from the AegisAI SDK (calls of the same user and session, more than a page of them).

Every test's page is watched by test_ui's `ui` fixture: no request may leave the origin and
the console must show no error. Screenshots go to test-artifacts/ui/.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from playwright.async_api import expect

from aegis_sdk import AsyncAegisClient
from tests import test_ui  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, create_client, read
from tests.procs import Stack
from tests.test_ui import Watched, sign_in

browser = test_ui.browser
ui = test_ui.ui
viewer = test_ui.viewer

HOSTILE = '<img src=x onerror="window.__pwned = 1">'
# Kept as typed: a line break and leading spaces.
PROMPT = f"Find my order {HOSTILE}\n    and say when it ships."
ANSWER = "It ships tomorrow.\n\n  - Order 42"
SDK_CALLS = 60  # more than a page (50): the Events page loads the rest on scroll


@dataclass
class Agent:
    client: ApiClient
    user: str
    session: str
    trace_id: str
    spans: int
    sdk_event_ids: list[str]


def _basic(client: ApiClient) -> str:
    return (
        "Basic " + base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    )


def agent_spans(user: str, session: str, start_ns: int) -> list[Any]:
    """A nested agent trace made by the SDK's own tracer: the agent (with the user and the
    conversation), a tool under it, an LLM call under the tool (with hostile content), and a
    failed LLM call under the agent."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.ui_explore")
    ms = 1_000_000
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
    }
    root = tracer.start_span(
        "invoke_agent support-agent",
        start_time=start_ns,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "user.id": user,
            "gen_ai.conversation.id": session,
        },
    )
    with trace.use_span(root, end_on_exit=False):
        tool = tracer.start_span("execute_tool lookup_order", start_time=start_ns + 100 * ms)
        with trace.use_span(tool, end_on_exit=False):
            call = tracer.start_span(
                "chat gpt-4o",
                start_time=start_ns + 200 * ms,
                attributes={
                    **chat,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
                    ),
                },
            )
            call.end(end_time=start_ns + 1100 * ms)
        tool.end(end_time=start_ns + 1200 * ms)
        failed = tracer.start_span("chat gpt-4o", start_time=start_ns + 1300 * ms, attributes=chat)
        failed.set_status(Status(StatusCode.ERROR, "upstream timeout"))
        failed.end(end_time=start_ns + 2800 * ms)
    root.end(end_time=start_ns + 3000 * ms)
    provider.shutdown()
    return list(memory.get_finished_spans())


async def until(check: Any, what: str, seconds: float = 60) -> Any:
    """Poll the API until check() gives a truthy answer (the explore job folds in the
    background); fails naming what never came."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await check()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what} did not appear within {seconds} s"
        await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def agent(stack: Stack, http: httpx.AsyncClient, admin: ApiClient) -> Agent:
    client = await create_client(
        http, admin, f"ui-explore-{uuid.uuid4().hex[:8]}", scopes=["ingest", "read"]
    )
    user, session = f"user-{uuid.uuid4().hex[:6]}", f"session-{uuid.uuid4().hex[:6]}"
    start_ns = (time.time_ns() // 1_000_000_000 - 600) * 1_000_000_000  # ten minutes ago
    spans = agent_spans(user, session, start_ns)
    exporter = OTLPSpanExporter(
        endpoint=stack.grpc_target, insecure=True, headers={"authorization": _basic(client)}
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_id = format(spans[0].context.trace_id, "032x")
    # The same user's other calls, through the SDK, in the same session, the newest last.
    now = dt.datetime.now(dt.UTC)
    async with AsyncAegisClient(
        stack.grpc_target, client.client_id, client.client_secret, batch_size=50
    ) as sdk:
        ids = [
            await sdk.log_llm(
                model_name="sdk-model",
                tokens_used=100 + n,
                cost=0.001 * (n + 1),
                latency_ms=200.0 + n,
                timestamp=now - dt.timedelta(seconds=500 - n),
                user_id=user,
                session_id=session,
                environment="production",
                release="1.4.2",
                tags=["checkout"] if n % 2 else ["search"],
                input=f"question {n}",
                output=f"answer {n}",
                error="RateLimitError" if n % 20 == 7 else None,
            )
            for n in range(SDK_CALLS)
        ]
        # Other users, two days ago: outside the lists' default 24 hours, inside the Users
        # page's 30 days.
        for n in range(12):
            await sdk.log_llm(
                model_name="sdk-model",
                tokens_used=1000 * (n % 5 + 1),
                cost=0.01 * (n % 5 + 1),
                timestamp=now - dt.timedelta(days=2, minutes=n),
                user_id=f"{user}-other-{n % 5}",
                session_id=f"{session}-other-{n % 5}",
                error="Timeout" if n % 4 == 0 else None,
            )
        await sdk.flush(timeout=30)

    async def folded() -> bool:
        traces = (await read(http, client, "/traces"))["traces"]
        sessions = (await read(http, client, "/sessions"))["sessions"]
        users = (await read(http, client, "/dashboard/users"))["users"]
        return (
            any(t["trace_id"] == trace_id for t in traces)
            and any(s["session_id"] == session and s["requests"] == SDK_CALLS + 2 for s in sessions)
            and any(u["user_id"] == user for u in users)
        )

    await until(folded, "the agent's trace, session and user")
    return Agent(client, user, session, trace_id, len(spans), ids)


async def no_script_ran(ui: Watched) -> None:
    assert await ui.page.evaluate("window.__pwned") is None
    assert await ui.page.locator("main img").count() == 0


# -- Events --------------------------------------------------------------------------------


async def test_events_load_more_on_scroll_filter_by_url_and_switch_kind(
    ui: Watched, agent: Agent
) -> None:
    page = ui.page
    await sign_in(ui, agent.client)
    await page.get_by_role("link", name="Events", exact=True).click()
    rows = page.locator("#events-data tbody tr")
    await expect(rows).to_have_count(50)
    # Newest first: the SDK's last call is the first row.
    await expect(rows.first).to_have_attribute("data-key", agent.sdk_event_ids[-1])
    await ui.screenshot("events", full_page=False)  # the first rows (docs/screenshots)
    await page.locator("#events-data button.more").scroll_into_view_if_needed()
    await expect(rows).to_have_count(SDK_CALLS + 2)  # the rest, and the two OTLP calls
    await expect(page.locator("#events-data")).to_have_attribute("data-more", "no")

    await page.get_by_label("Model").fill("sdk-model")
    await page.get_by_label("Tag").fill("checkout")
    await page.get_by_label("Errors only").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(r"model=sdk-model.*tag=checkout.*errors=1"))
    wanted = [i for n, i in enumerate(agent.sdk_event_ids) if n % 2 and n % 20 == 7]
    await expect(rows).to_have_count(len(wanted))
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.key)") == wanted[::-1]
    # The URL is the view: a reload shows the same rows and filters.
    await page.reload()
    await expect(rows).to_have_count(len(wanted))
    await expect(page.get_by_label("Errors only")).to_be_checked()

    await page.get_by_label("ML", exact=True).check()
    await expect(page).to_have_url(re.compile(r"kind=ml"))
    await expect(page.locator("#events-data")).to_have_attribute("data-rows", "0")
    await expect(page.get_by_text("No events match these filters.")).to_be_visible()


async def test_an_event_shows_its_content_as_text_and_opens_its_trace_and_session(
    ui: Watched, agent: Agent
) -> None:
    page = ui.page
    await sign_in(ui, agent.client, "/#/events?kind=llm&model=gpt-4o")
    rows = page.locator("#events-data tbody tr")
    await expect(rows).to_have_count(2)
    # The call with content is the older of the two: click its row (not a link in it).
    await rows.nth(1).locator("td").first.click()
    await expect(page.get_by_role("heading", name="LLM event")).to_be_visible()
    messages = page.locator(".conversation .message")
    await expect(messages).to_have_count(2)
    await expect(messages.nth(0)).to_have_attribute("data-role", "user")
    # The hostile markup is text, the line break and the indent are kept.
    assert await messages.nth(0).locator(".text").evaluate("p => p.textContent") == PROMPT
    assert await messages.nth(1).locator(".text").evaluate("p => p.textContent") == ANSWER
    assert (
        await messages.nth(0).locator(".text").evaluate("p => getComputedStyle(p).whiteSpace")
        == "pre-wrap"
    )
    await no_script_ran(ui)
    await expect(page.locator("#event-attribution")).to_contain_text(agent.user)
    await ui.screenshot("event")

    await page.get_by_role("link", name="View trace").click()
    await expect(page.get_by_role("heading", name="Trace", exact=True)).to_be_visible()
    await expect(page.locator(".wf-spans li")).to_have_count(agent.spans)
    await page.go_back()
    await page.get_by_role("link", name="View session").click()
    await expect(page.get_by_role("heading", name="Session", exact=True)).to_be_visible()
    await expect(page.locator("#session-turns > li")).to_have_count(SDK_CALLS + 2)
    await no_script_ran(ui)


# -- Traces ----------------------------------------------------------------------------------


async def test_a_trace_opens_as_a_waterfall_of_its_nested_spans(ui: Watched, agent: Agent) -> None:
    page = ui.page
    await sign_in(ui, agent.client)
    await page.get_by_role("link", name="Traces", exact=True).click()
    row = page.locator(f'#traces-data tr[data-key="{agent.trace_id}"]')
    await expect(row).to_contain_text("invoke_agent support-agent")
    await ui.screenshot("traces")
    # Filtered by its user and "Errors only" (it has a failed call), kept in the URL.
    await page.get_by_label("User").fill(agent.user)
    await page.get_by_label("Errors only").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(f"#/traces\\?user={agent.user}&errors=1$"))
    await expect(page.locator("#traces-data tbody tr")).to_have_count(1)
    await row.locator("td").nth(2).click()
    spans = page.locator(".wf-spans li")
    await expect(spans).to_have_count(4)
    got = await spans.evaluate_all(
        """rows => rows.map(r => ({
            name: r.querySelector('.wf-name').textContent,
            depth: Number(r.dataset.depth), start: Number(r.dataset.start),
            duration: Number(r.dataset.duration), error: r.classList.contains('error'),
            left: r.querySelector('.wf-bar').getBoundingClientRect().left,
            width: r.querySelector('.wf-bar').getBoundingClientRect().width,
            track: r.querySelector('.wf-track').getBoundingClientRect().width,
        }))"""
    )
    # Tree order: each span under its parent, indented by depth.
    assert [(g["name"], g["depth"]) for g in got] == [
        ("invoke_agent support-agent", 0),
        ("execute_tool lookup_order", 1),
        ("LLM chat gpt-4o", 2),
        ("LLM chat gpt-4o", 1),
    ]
    assert [(g["start"], g["duration"], g["error"]) for g in got] == [
        (0, 3000, False),
        (100, 1100, False),
        (200, 900, False),
        (1300, 1500, True),
    ]
    # Bars on one axis: the root spans the track; the others sit at start/total of it.
    root = got[0]
    assert abs(root["width"] - root["track"]) < 1.5
    for g in got[1:]:
        assert abs(g["left"] - root["left"] - root["track"] * g["start"] / 3000) < 1.5, g
        assert abs(g["width"] - root["track"] * g["duration"] / 3000) < 1.5, g
    failed = spans.nth(3)
    await expect(failed).to_contain_text("upstream timeout")
    await expect(spans.nth(2)).to_contain_text("gpt-4o · 1,500 tokens")
    await ui.screenshot("trace-waterfall")
    # An LLM span opens its event.
    await spans.nth(2).get_by_role("link", name="Open event").click()
    await expect(page.locator(".conversation .message")).to_have_count(2)
    await no_script_ran(ui)


# -- Sessions and users ------------------------------------------------------------------------


async def test_a_session_opens_as_its_conversation_in_order_with_totals(
    ui: Watched, agent: Agent, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, agent.client)
    await page.get_by_role("link", name="Sessions", exact=True).click()
    row = page.locator(f'#sessions-data tr[data-key="{agent.session}"]')
    await expect(row).to_contain_text(agent.user)
    await page.get_by_label("User").fill("nobody")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_text("No sessions in this range.")).to_be_visible()
    await page.get_by_label("User").fill(agent.user)
    await page.get_by_role("button", name="Apply").click()
    await expect(page).to_have_url(re.compile(f"#/sessions\\?user={agent.user}$"))
    await expect(page.locator("#sessions-data tbody tr")).to_have_count(1)
    await ui.screenshot("sessions")
    await row.get_by_role("link").click()
    expected = await read(http, agent.client, f"/sessions/{agent.session}")
    turns = page.locator("#session-turns > li")
    await expect(turns).to_have_count(SDK_CALLS + 2)
    assert await turns.evaluate_all("rows => rows.map(r => r.dataset.eventId)") == [
        e["event_id"] for e in expected["events"]
    ]
    await expect(page.locator("#session-totals")).to_have_attribute(
        "data-requests", str(SDK_CALLS + 2)
    )
    await expect(page.locator("#session-totals")).to_contain_text(f"{SDK_CALLS + 2} requests")
    await expect(turns.first.locator(".message.user .text")).to_have_text(PROMPT)
    await no_script_ran(ui)
    await ui.screenshot("session")


async def test_users_sort_by_a_column_and_open_a_users_sessions_and_events(
    ui: Watched, agent: Agent
) -> None:
    page = ui.page
    await sign_in(ui, agent.client)
    await page.get_by_role("link", name="Users", exact=True).click()
    row = page.locator(f'#users-table tr[data-key="{agent.user}"]')
    await expect(row).to_be_visible()
    await page.get_by_role("button", name="Errors").click()
    await expect(page).to_have_url(re.compile(r"sort=errors"))
    await expect(page.locator("#users-table th[aria-sort=descending]")).to_contain_text("Errors")
    await expect(row).to_contain_text(f"{SDK_CALLS + 2}")
    await ui.screenshot("users")
    await row.locator("td").first.click()
    await expect(page.locator(f'#user-sessions tr[data-key="{agent.session}"]')).to_be_visible()
    await expect(page.locator("#user-events tbody tr")).to_have_count(50)
    await page.locator("#user-events button.more").scroll_into_view_if_needed()
    await expect(page.locator("#user-events tbody tr")).to_have_count(SDK_CALLS + 2)
    await page.get_by_role("link", name="Filter the Events page by this user").click()
    await expect(page).to_have_url(re.compile(f"user={agent.user}"))
    await expect(page.locator("#events-data tbody tr")).to_have_count(50)


# -- Drill-down from the LLM, ML and Overview pages ------------------------------------------


async def test_a_model_a_chart_bucket_and_a_recent_event_open_their_events(
    ui: Watched, viewer: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    await sign_in(ui, viewer, "/#/llm?start=2024-01-01&end=2024-01-31&interval=day")
    await page.get_by_role("link", name="gpt-test-b").click()
    await expect(page).to_have_url(
        re.compile(r"#/events\?kind=llm&model=gpt-test-b&start=2024-01-01&end=2024-01-31$")
    )
    walked = await read(
        http,
        viewer,
        "/events/llm",
        model="gpt-test-b",
        start_date="2024-01-01",
        end_date="2024-01-31",
        limit="200",
    )
    assert len(walked["events"]) == sum(day + 1 for day in range(1, 11))
    await expect(page.locator("#events-data tbody tr")).to_have_count(50)

    # A chart's bucket: 5 January, whose requests are 5 + 6.
    await page.goto("/#/llm?start=2024-01-01&end=2024-01-31&interval=day")
    figure = page.locator("#llm-data figure.picks").first
    await expect(figure).to_have_attribute("data-x-max", re.compile(r"\d"))
    x = await figure.evaluate(
        "f => f.plot.valToPos(Date.parse('2024-01-05T00:00:00Z') / 1000, 'x')"
    )
    over = await figure.locator(".u-over").bounding_box()
    assert over
    await page.mouse.move(over["x"] + x, over["y"] + over["height"] / 2)
    await page.mouse.click(over["x"] + x, over["y"] + over["height"] / 2)
    await expect(page).to_have_url(
        re.compile(r"kind=llm&start=2024-01-05T00%3A00%3A00.000Z&end=2024-01-05T23%3A59%3A59.999Z")
    )
    await expect(page.locator("#events-data tbody tr")).to_have_count(5 + 6)

    # ML: a model opens its events.
    await page.goto("/#/ml?start=2024-01-01&end=2024-01-31&interval=day")
    await page.get_by_role("link", name="churn-rf").click()
    await expect(page).to_have_url(re.compile(r"kind=ml&model=churn-rf"))
    await expect(page.locator("#events-data tbody tr")).to_have_count(10)

    # The overview's newest event opens it.
    await page.get_by_role("link", name="Overview", exact=True).click()
    first = page.locator("#recent tbody tr").first
    key = await first.get_attribute("data-key")
    await first.locator("td").first.click()
    await expect(page).to_have_url(re.compile(f"#/event\\?kind=(llm|ml)&id={key}"))
    await expect(page.locator("#event-fields")).to_contain_text(str(key))
