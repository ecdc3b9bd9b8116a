"""The dashboard's explore pages in a real browser (Debian's Chromium driven by Playwright): how
long after a page load the Events page's first rows and a trace's waterfall are on screen.

Each load is a fresh navigation (a reload: the scripts run again, the API is read again); the
figure is the page's own mark (`aegis:events-rendered`, `aegis:trace-rendered`, set once the
rows are in the document), in ms since the navigation started. Used by `python -m bench.explore`
at 1M events and by tests/test_ui.py at its large history.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

CHROMIUM = pathlib.Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class View:
    """A page to time: its URL (after the origin), the mark it sets once rendered, and the
    rows it must show by then (a CSS selector and how many)."""

    path: str
    mark: str
    rows: str
    count: int


def events(rows: int) -> View:
    """The Events page as it opens (LLM calls, the last 24 hours): `rows` on its first page."""
    return View("/#/events?kind=llm", "aegis:events-rendered", "#events-data tbody tr", rows)


def waterfall(trace_id: str, spans: int) -> View:
    return View(f"/#/trace?id={trace_id}", "aegis:trace-rendered", ".wf-spans li", spans)


class WrongPage(AssertionError):
    """The page rendered, but not what it should show."""


async def render_times(page: Any, view: View, loads: int) -> list[float]:
    """Load `view` `loads` times in a signed-in `page` (a Playwright page whose sessionStorage
    holds the token); each load's render time, ms. Every timed load is a reload: going to the
    URL from another page of the app changes only its hash, a navigation inside the document
    whose marks count from when the document was first loaded."""
    times = []
    await page.goto(view.path)
    for _ in range(loads):
        await page.reload()
        await page.wait_for_function(
            "mark => performance.getEntriesByName(mark).length > 0",
            arg=view.mark,
            timeout=TIMEOUT_MS,
        )
        shown = await page.locator(view.rows).count()
        if shown != view.count:
            raise WrongPage(f"{view.path}: {shown} rows of {view.rows}, not {view.count}")
        times.append(
            await page.evaluate(
                "mark => performance.getEntriesByName(mark)[0].startTime", view.mark
            )
        )
    return times


async def measure(
    base_url: str, token: str, views: dict[str, View], loads: int
) -> dict[str, list[float]]:
    """Each view's render times in a fresh headless Chromium, signed in with `token`."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = await browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 900}
            )
            page = await context.new_page()
            await page.goto("/")
            await page.evaluate("token => sessionStorage.setItem('aegis.token', token)", token)
            return {name: await render_times(page, view, loads) for name, view in views.items()}
        finally:
            await browser.close()
