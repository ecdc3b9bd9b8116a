"""The dashboard's charts in a real browser (the fixtures of test_ui.py): a bucket without events
is a gap or a zero, the x-axis spans exactly the chosen range, the y-axis labels are short, an
empty chart says so, and the LLM charts can draw one line per model.

Each check reads the chart's uPlot instance (`figure.plot`) or what the chart wrote on its
element (data-x-min, data-x-max, data-y-labels), not a screenshot.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, expect

from tests import test_ui  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, create_client, ingest, llm_event
from tests.test_ui import Watched, sign_in

# test_ui's fixtures: the browser, and a watched page in a fresh context.
browser = test_ui.browser
ui = test_ui.ui

MODELS = ("gap-model-a", "gap-model-b")
# Two far-apart periods: two hours of 1 January 2024 (no latency) and one hour of 20 March 2024.
JANUARY_HOURS = (2, 20)
MARCH = "2024-03-20T05:10:00Z"
BIG_TOKENS = 2_500_000
BIG_COST = 3400.0


def _epoch(day: str) -> int:
    return int(dt.datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp())


def gap_history() -> list[dict[str, Any]]:
    events = []
    for hour in JANUARY_HOURS:
        for i, model in enumerate(MODELS):
            for _ in range(1 + i):  # model b: twice model a's requests
                events.append(
                    llm_event(
                        model,
                        tokens_used=BIG_TOKENS,
                        cost=BIG_COST,
                        timestamp=f"2024-01-01T{hour:02d}:10:00Z",
                    )
                )
    events.append(
        llm_event(MODELS[0], tokens_used=10, cost=0.01, latency_ms=250.0, timestamp=MARCH)
    )
    return events


@pytest.fixture(scope="module")
async def gaps(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """A tenant of its own whose LLM events fall in two far-apart periods."""
    client = await create_client(http, admin, f"ui-gaps-{uuid.uuid4().hex[:10]}")
    await ingest(http, client, "llm", gap_history())
    return client


def chart(ui: Watched, title: str) -> Locator:
    return ui.page.locator("figure.chart", has=ui.page.get_by_text(title, exact=True))


async def plot_data(figure: Locator) -> list[list[float | None]]:
    await expect(figure).to_have_attribute("data-x-max", re.compile(r"^\d+$"))
    data: list[list[float | None]] = await figure.evaluate("f => f.plot.data.map(a => [...a])")
    return data


async def test_the_x_axis_spans_the_chosen_day_and_empty_hours_are_zero(
    ui: Watched, gaps: ApiClient
) -> None:
    await sign_in(ui, gaps, "/#/llm?start=2024-01-01&end=2024-01-01&interval=hour")
    requests = chart(ui, "Requests")
    data = await plot_data(requests)
    assert await requests.get_attribute("data-x-min") == str(_epoch("2024-01-01"))
    assert await requests.get_attribute("data-x-max") == str(_epoch("2024-01-02"))
    # One bucket per hour of the day; the hours without events are 0, not left out.
    assert data[0] == [_epoch("2024-01-01") + 3600 * h for h in range(24)]
    per_hour = sum(1 + i for i in range(len(MODELS)))
    assert data[1] == [per_hour if h in JANUARY_HOURS else 0 for h in range(24)]
    assert await requests.get_attribute("data-points") == str(len(JANUARY_HOURS))
    # No latency in that day: the p95 chart says so instead of an empty grid.
    p95 = chart(ui, "p95 latency")
    await expect(p95.get_by_role("status")).to_have_text("No data for this range.")
    assert await p95.get_attribute("data-points") == "0"
    await ui.screenshot("chart-one-day")


async def test_a_long_empty_span_is_a_gap_not_a_line(ui: Watched, gaps: ApiClient) -> None:
    await sign_in(ui, gaps, "/#/llm?start=2024-01-01&end=2024-03-31&interval=day")
    days = (_epoch("2024-04-01") - _epoch("2024-01-01")) // 86400
    requests = await plot_data(chart(ui, "Requests"))
    assert len(requests[0]) == days == 91
    march = (_epoch("2024-03-20") - _epoch("2024-01-01")) // 86400
    assert [i for i, v in enumerate(requests[1]) if v] == [0, march]
    assert requests[1].count(0) == days - 2, "the empty days are zeros"
    # A latency of an empty day is not known: a gap (null), and gaps are not bridged.
    p95 = chart(ui, "p95 latency")
    latencies = await plot_data(p95)
    assert [i for i, v in enumerate(latencies[1]) if v is not None] == [march]
    assert await p95.evaluate("f => f.plot.series[1].spanGaps") is False
    assert await p95.get_attribute("data-x-min") == str(_epoch("2024-01-01"))
    assert await p95.get_attribute("data-x-max") == str(_epoch("2024-04-01"))


async def test_the_overview_draws_all_time_by_day_with_its_empty_days(
    ui: Watched, gaps: ApiClient
) -> None:
    await sign_in(ui, gaps)
    figure = ui.page.locator("#over-time figure").first
    data = await plot_data(figure)
    today = dt.datetime.now(dt.UTC).date()
    assert data[0][0] == _epoch("2024-01-01")
    assert data[0][-1] == _epoch(today.isoformat()), "up to today"
    assert len(data[0]) == (today - dt.date(2024, 1, 1)).days + 1
    assert [v for v in data[1] if v] == [len(gap_history()) - 1, 1]
    assert data[1].count(0) == len(data[0]) - 2


async def test_y_axis_labels_are_compact(ui: Watched, gaps: ApiClient) -> None:
    await sign_in(ui, gaps, "/#/llm?start=2024-01-01&end=2024-01-01&interval=hour")
    for title, pattern in (("Tokens", r"[\d.]+[KMB]?"), ("Cost", r"\$[\d.]+[KMB]?")):
        figure = chart(ui, title)
        await expect(figure).to_have_attribute("data-y-labels", re.compile("."))
        labels = (await figure.get_attribute("data-y-labels") or "").split("|")
        assert all(re.fullmatch(pattern, label) for label in labels), labels
        assert all(len(label) <= 6 for label in labels), labels
        assert any(label.endswith("M" if title == "Tokens" else "K") for label in labels), labels


async def test_the_llm_charts_draw_one_line_per_model_kept_in_the_url(
    ui: Watched, gaps: ApiClient
) -> None:
    page = ui.page
    await sign_in(ui, gaps, "/#/llm?start=2024-01-01&end=2024-01-01&interval=hour&lines=model")
    toggle = page.get_by_label("One line per model")
    await expect(toggle).to_be_checked()
    requests = chart(ui, "Requests")
    data = await plot_data(requests)
    labels = "f => f.plot.series.slice(1).map(s => s.label)"
    assert await requests.evaluate(labels) == list(MODELS)
    for i in range(len(MODELS)):  # each model's own requests: model b twice model a's
        assert data[1 + i] == [1 + i if h in JANUARY_HOURS else 0 for h in range(24)]
    await ui.screenshot("chart-per-model")

    await toggle.uncheck()
    assert "lines=" not in page.url
    await expect(requests.first).to_have_attribute("data-x-max", re.compile(r"^\d+$"))
    assert await chart(ui, "Requests").evaluate(labels) == ["Requests"]
    await toggle.check()
    assert page.url.endswith("&lines=model")
    # Another range keeps the choice.
    await page.get_by_label("Interval").select_option("day")
    await page.get_by_role("button", name="Apply").click()
    assert page.url.endswith("#/llm?start=2024-01-01&end=2024-01-01&interval=day&lines=model")
    await expect(chart(ui, "Requests")).to_have_attribute("data-x-max", re.compile(r"^\d+$"))
    assert await chart(ui, "Requests").evaluate(labels) == list(MODELS)
    await page.reload()
    await expect(page.get_by_label("One line per model")).to_be_checked()
