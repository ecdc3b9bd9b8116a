"""The ML page's drift section in a real browser (the fixtures of test_ui.py): a model's
features and predictions sent through POST /ingest/ml on a reference day and a current day,
the drift table checked against GET /dashboard/ml-drift, a chosen feature's distributions
drawn (numeric from deciles, categorical as paired shares with "other"), user data shown as
text, a model without features, and the page at 360 px."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, expect

from tests import test_ui  # skips this module too when there is no Chromium
from tests.conftest import ApiClient, create_client, ingest, ml_event, read
from tests.test_ui import Watched, sign_in
from tests.test_ui_narrow import WIDTH, assert_fits

browser = test_ui.browser
ui = test_ui.ui

MODEL = "churn-drift"
PLAIN = "plain-model"  # ML events without features
SNEAKY = "<img src=x onerror=alert(1)>"  # a feature name is user data
MARKUP_VALUE = "<b>bold</b>"
DAY = "2024-03-10"  # the current window; the default reference is the 7 days before it
PAGE = f"/#/ml?start={DAY}&end={DAY}&interval=hour"
ROWS = 50  # per event
EVENTS = 4  # per window: 200 rows, enough for a status
PLANS = [f"plan-{i:02d}" for i in range(24)] + [MARKUP_VALUE]  # more than the 20 kept


def _events(
    prefix: str, day: str, seed: int, shift: float, plans: list[str]
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(EVENTS):
        events.append(
            ml_event(
                MODEL,
                event_id=f"{prefix}-{i}",
                timestamp=f"{day}T{9 + i:02d}:30:00Z",
                features={
                    "age": [round(rng.gauss(40 + shift, 8), 2) for _ in range(ROWS)],
                    SNEAKY: [round(rng.uniform(0, 1), 3) for _ in range(ROWS)],
                    "plan": [rng.choice(plans) for _ in range(ROWS)],
                },
                predictions=[round(rng.betavariate(2, 5), 4) for _ in range(ROWS)],
            )
        )
    return events


@pytest.fixture(scope="module")
async def drifter(http: httpx.AsyncClient, admin: ApiClient) -> ApiClient:
    """A tenant of its own: one model whose "age" moved up and whose "plan" narrowed to two
    values, a feature with too few rows, and a model that sent no features."""
    client = await create_client(http, admin, f"ui-drift-{uuid.uuid4().hex[:8]}")
    batch = _events("ref", "2024-03-05", 1, 0.0, PLANS)
    batch += _events("cur", DAY, 2, 15.0, ["plan-00", "plan-01", MARKUP_VALUE])
    # "rare": 30 rows in the current window only, too few to judge.
    batch.append(
        ml_event(
            MODEL, event_id="rare", timestamp=f"{DAY}T20:00:00Z", features={"rare": [1.0] * 30}
        )
    )
    batch += [
        ml_event(PLAIN, event_id=f"plain-{i}", timestamp=f"{DAY}T1{i}:00:00Z", prediction_count=5)
        for i in range(3)
    ]
    result = await ingest(http, client, "ml", batch)
    assert result["rejected"] == 0, result
    return client


async def _drift(http: httpx.AsyncClient, client: ApiClient, model: str) -> dict[str, Any]:
    return await read(
        http, client, "/dashboard/ml-drift", model_id=model, start_date=DAY, end_date=DAY
    )


def _row(ui: Watched, key: str) -> Any:
    return (
        ui.page.locator("#drift-data table.data")
        .first.locator("tbody tr")
        .filter(has=ui.page.get_by_role("button", name=key, exact=True))
    )


async def test_the_drift_table_shows_each_feature_and_the_predictions(
    ui: Watched, drifter: ApiClient, http: httpx.AsyncClient
) -> None:
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    ui.page.on("dialog", on_dialog)
    page = ui.page
    expected = await _drift(http, drifter, MODEL)
    features = {f["name"]: f for f in expected["features"]}
    assert set(features) == {"age", "plan", "rare", SNEAKY}
    assert features["age"]["status"] == "drift" and features["plan"]["status"] == "drift"
    assert features["rare"]["status"] == "insufficient_data"

    await sign_in(ui, drifter, PAGE)
    await expect(page.locator("#drift-data [data-state=ready]")).to_be_visible()
    await expect(page.get_by_label("Model", exact=True)).to_have_value(MODEL)
    windows = page.locator("#drift-windows")
    await expect(windows).to_have_attribute("data-current-rows", str(expected["current"]["rows"]))
    await expect(windows).to_have_attribute(
        "data-reference-rows", str(expected["reference"]["rows"])
    )
    await expect(windows).to_contain_text(f"{expected['current']['rows']} rows")
    await expect(windows).to_contain_text("Reference:")

    table = page.locator("#drift-data table.data").first
    await expect(table.locator("tbody tr")).to_have_count(5)  # 4 features and the predictions
    for name, feature in features.items():
        cells = await _row(ui, name).locator("th, td").all_inner_texts()
        assert cells[0] == name, cells  # the name as text, markup and all
        assert cells[1] == feature["type"]
        if feature["psi"] is None:
            assert cells[2] == "—"
        else:
            assert float(cells[2]) == pytest.approx(feature["psi"], abs=0.0005)
        badge = _row(ui, name).locator(".badge")
        await expect(badge).to_have_attribute("data-status", feature["status"])
    await expect(_row(ui, "rare").locator(".badge")).to_have_text("insufficient data")
    await expect(_row(ui, "age").locator(".badge")).to_have_text("drift")
    predictions = _row(ui, "Predictions")
    await expect(predictions).to_contain_text("model output")
    await expect(predictions.locator(".badge")).to_have_attribute(
        "data-status", expected["predictions"]["status"]
    )
    # The feature's name is only ever text: no element made of it, no script run.
    assert await page.locator("#drift-data img").count() == 0
    assert dialogs == []
    await ui.screenshot("ml-drift")


async def test_a_chosen_feature_draws_both_distributions(
    ui: Watched, drifter: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    expected = await _drift(http, drifter, MODEL)
    features = {f["name"]: f for f in expected["features"]}
    await sign_in(ui, drifter, PAGE)
    chart = page.locator("#drift-chart")

    # Numeric: each window's nine deciles as a line; "age" moved up, so the current line lies
    # to the right of the reference one, decile by decile.
    await page.get_by_role("button", name="age", exact=True).click()
    await expect(page.get_by_role("button", name="age", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    figure = chart.locator("figure[data-kind=numeric]")
    await expect(figure).to_have_attribute("data-series", "Reference|Current")
    lines = figure.locator("polyline")
    await expect(lines).to_have_count(2)
    xs = {}
    for line in await lines.all():
        points = (await line.get_attribute("points") or "").split()
        assert len(points) == 9
        xs[await line.get_attribute("data-label")] = [float(p.split(",")[0]) for p in points]
    assert all(c > r for r, c in zip(xs["Reference"], xs["Current"], strict=True)), xs
    # The deciles' numbers are in the figure too.
    await figure.locator("summary").click()
    decile_rows = figure.locator("details tbody tr")
    await expect(decile_rows).to_have_count(9)
    median = await decile_rows.nth(4).locator("td").all_inner_texts()
    age = features["age"]
    for shown, value in zip(
        median, (age["reference_quantiles"][4], age["current_quantiles"][4]), strict=True
    ):
        assert float(shown.replace(",", "")) == pytest.approx(value, rel=0.01)
    await ui.screenshot("ml-drift-numeric")

    # Categorical: a row per value with both shares, and the values the sketch did not keep
    # as "other values", last.
    await page.get_by_role("button", name="plan", exact=True).click()
    figure = chart.locator("figure[data-kind=categorical]")
    await expect(figure).to_be_visible()
    plan = features["plan"]
    assert any(t["other"] for t in plan["reference_top"]), "the reference kept every value"
    rows = figure.locator("tbody tr")
    values = {t["value"] for t in plan["reference_top"] + plan["current_top"] if not t["other"]}
    await expect(rows).to_have_count(len(values) + 1)
    await expect(rows.last).to_have_attribute("data-other", "true")
    await expect(rows.last.locator("th")).to_have_text("other values")
    markup = rows.filter(has=page.get_by_role("rowheader", name=MARKUP_VALUE, exact=True))
    await expect(markup).to_have_count(1)
    shares = {t["value"]: t["share"] for t in plan["current_top"]}
    current = markup.locator("td[data-label=Current]")
    assert float(await current.get_attribute("data-share") or "nan") == pytest.approx(
        shares[MARKUP_VALUE]
    )
    await expect(current).to_contain_text("%")
    width = await current.locator(".bar").evaluate("el => el.getBoundingClientRect().width")
    assert width > 0, "the current share's bar is not drawn"
    # A value the reference did not keep among its top ones is in its "other", not at 0 %.
    kept = {t["value"] for t in plan["reference_top"] if not t["other"]}
    dropped = sorted(set(shares) - kept)
    assert dropped, "every current value was among the reference's top ones"
    for value in dropped:
        row = rows.filter(has=page.get_by_role("rowheader", name=value, exact=True))
        reference = row.locator("td[data-label=Reference]")
        await expect(reference).to_have_attribute("data-share", "other")
        await expect(reference).to_contain_text("in other")
    await ui.screenshot("ml-drift-categorical")

    # The predictions, and a feature with too few rows (drawn as far as it has values).
    await page.get_by_role("button", name="Predictions", exact=True).click()
    await expect(chart.locator("figure[data-kind=numeric] polyline")).to_have_count(2)
    await page.get_by_role("button", name="rare", exact=True).click()
    await expect(chart.locator("figure[data-kind=numeric]")).to_have_attribute(
        "data-series",
        "|".join(
            label
            for label, q in (
                ("Reference", features["rare"]["reference_quantiles"]),
                ("Current", features["rare"]["current_quantiles"]),
            )
            if len(q) == 9
        ),
    )


async def test_a_model_without_features_says_so(
    ui: Watched, drifter: ApiClient, http: httpx.AsyncClient
) -> None:
    page = ui.page
    expected = await _drift(http, drifter, PLAIN)
    assert expected["features"] == [] and expected["predictions"] is None
    await sign_in(ui, drifter, PAGE)
    await expect(page.locator("#drift-data [data-state=ready]")).to_be_visible()
    await page.get_by_label("Model", exact=True).select_option(PLAIN)
    await expect(
        page.get_by_text("No features were sent for this model in this range.")
    ).to_be_visible()
    await expect(page.locator("#drift-data table")).to_have_count(0)
    await expect(page.locator("#drift-data [role=alert]")).to_have_count(0)
    assert re.search(rf"[?&]drift={PLAIN}(&|$)", page.url), page.url
    # The URL is the view: opened afresh, the same model.
    await page.reload()
    await expect(page.get_by_label("Model", exact=True)).to_have_value(PLAIN)
    await expect(
        page.get_by_text("No features were sent for this model in this range.")
    ).to_be_visible()


async def test_the_drift_section_fits_a_360_px_screen(ui: Watched, drifter: ApiClient) -> None:
    page = ui.page
    await page.set_viewport_size({"width": WIDTH, "height": 800})
    await sign_in(ui, drifter, PAGE)
    await expect(page.locator("#drift-chart figure")).to_be_visible()
    await page.get_by_role("button", name="age", exact=True).click()
    await page.locator("#drift-chart summary").click()
    await expect(page.locator("#drift-chart details tbody tr")).to_have_count(9)
    await assert_fits(ui, "ml-drift-numeric")
    await page.get_by_role("button", name="plan", exact=True).click()
    await expect(page.locator("#drift-chart figure[data-kind=categorical]")).to_be_visible()
    await assert_fits(ui, "ml-drift-categorical")


async def test_a_chosen_reference_window_is_compared_and_kept_in_the_url(
    ui: Watched, drifter: ApiClient, http: httpx.AsyncClient
) -> None:
    """The current day against itself: every column unchanged (PSI 0, "ok"), as the API says
    for the same windows; one reference day alone is held back by the form."""
    page = ui.page
    expected = await read(
        http,
        drifter,
        "/dashboard/ml-drift",
        model_id=MODEL,
        start_date=DAY,
        end_date=DAY,
        reference_start=DAY,
        reference_end=DAY,
    )
    assert expected["reference"] == expected["current"]
    await sign_in(ui, drifter, PAGE)
    windows = page.locator("#drift-windows")
    await expect(windows).to_have_attribute("data-reference-start", "2024-03-03T00:00:00Z")
    ref_start, ref_end = page.get_by_label("Reference from"), page.get_by_label("Reference to")
    await ref_start.fill(DAY)
    await page.get_by_role("button", name="Compare").click()
    assert await ref_end.evaluate("el => el.validity.valueMissing") is True
    assert "ref_start" not in page.url

    await ref_end.fill(DAY)
    await page.get_by_role("button", name="Compare").click()
    await expect(windows).to_have_attribute("data-reference-start", expected["reference"]["start"])
    assert f"ref_start={DAY}&ref_end={DAY}" in page.url, page.url
    for feature in expected["features"]:
        badge = _row(ui, feature["name"]).locator(".badge")
        await expect(badge).to_have_attribute("data-status", feature["status"])
        if feature["psi"] is not None:
            assert feature["psi"] == pytest.approx(0, abs=1e-6)
            await expect(_row(ui, feature["name"]).locator("td").nth(1)).to_have_text("0.000")
    assert {f["status"] for f in expected["features"]} == {"ok", "insufficient_data"}
    # The URL is the view: opened afresh, the same reference.
    await page.reload()
    await expect(page.get_by_label("Reference to")).to_have_value(DAY)
    await expect(windows).to_have_attribute("data-reference-start", expected["reference"]["start"])
