"""ml-drift's windows (the dashboards' date formats, widened to whole hours, the defaults), and
how a report puts the columns of two windows side by side."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from dataclasses import dataclass

import pytest
from datasketches import frequent_strings_sketch, kll_doubles_sketch

from collector.drift.report import Window, drift_report, windows
from collector.errors import InvalidArgument

NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=dt.UTC)


def at(day: int, hour: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def test_without_dates_the_window_is_the_day_before_now_and_the_reference_the_week_before() -> None:
    reference, current = windows("", "", "", "", now=NOW)
    assert current == Window(at(9, 12), at(10, 13))
    assert reference == Window(at(2, 12), at(9, 12))


def test_a_bare_end_date_includes_its_day_and_the_reference_is_the_seven_days_before() -> None:
    reference, current = windows("2026-03-01", "2026-03-01", "", "", now=NOW)
    assert current == Window(at(1), at(2))
    assert reference == Window(at(22, month=2), at(1))


def test_instants_are_widened_to_whole_hours() -> None:
    reference, current = windows(
        "2026-03-05T10:15:00Z",
        "2026-03-05T12:00:00Z",
        "2026-03-01T23:59:00+02:00",
        "2026-03-02",
        now=NOW,
    )
    # An instant end is inclusive: 12:00:00.000 itself is in the window, so its hour is read.
    assert current == Window(at(5, 10), at(5, 13))
    assert reference == Window(at(1, 21), at(3))


@pytest.mark.parametrize(
    ("dates", "named"),
    [
        (("", "", "2026-03-01", ""), "reference_end"),
        (("", "", "", "2026-03-01"), "reference_start"),
        (("", "", "yesterday", "2026-03-01"), "reference_start"),
        (("", "", "2026-03-03", "2026-03-01"), "reference_start must not be after reference_end"),
        (("2026-03-03", "2026-03-01", "", ""), "start_date must not be after end_date"),
        (("2026-03-03T00:00:00", "", "", ""), "start_date"),
    ],
)
def test_bad_dates_are_refused_naming_the_field(
    dates: tuple[str, str, str, str], named: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        windows(*dates, now=NOW)
    assert str(refused.value).startswith(named)


def test_a_start_after_now_without_an_end_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="start_date"):
        windows("2026-04-01", "", "", "", now=NOW)


@dataclass(frozen=True)
class Found:
    role: str
    name: str
    kind: str
    rows: int
    blob: bytes


def numbers(values: list[float]) -> Found:
    sketch = kll_doubles_sketch(400)
    for v in values:
        sketch.update(v)
    return Found("feature", "", "numeric", len(values), sketch.serialize())


def labels(values: list[str]) -> Found:
    sketch = frequent_strings_sketch(11)
    for v in values:
        sketch.update(v)
    return Found("feature", "", "categorical", len(values), sketch.serialize())


def test_a_report_keeps_predictions_apart_and_compares_each_column_by_its_kind() -> None:
    steady = [float(i % 50) for i in range(500)]
    moved = [float(i % 50) + 25 for i in range(300)]
    found = {
        "reference": [
            dataclasses.replace(numbers(steady), name="age"),
            dataclasses.replace(numbers(steady), name="prediction"),  # a feature so named
            dataclasses.replace(
                labels(["yes"] * 400 + ["no"] * 100), role="prediction", name="prediction"
            ),
            dataclasses.replace(numbers(steady), name="gone"),
        ],
        "current": [
            dataclasses.replace(numbers(moved), name="age"),
            dataclasses.replace(numbers(steady[:300]), name="prediction"),
            dataclasses.replace(
                labels(["yes"] * 150 + ["no"] * 150), role="prediction", name="prediction"
            ),
        ],
    }
    reference, current = Window(at(1), at(2)), Window(at(2), at(3))

    async def read(start: dt.datetime, end: dt.datetime) -> list[Found]:
        return found["reference" if start == reference.start else "current"]

    report = asyncio.run(drift_report("churn", reference, current, read))
    assert [(c.name, c.kind, c.drift.status) for c in report.features] == [
        ("age", "numeric", "drift"),
        ("gone", "numeric", "insufficient_data"),
        ("prediction", "numeric", "ok"),
    ]
    assert report.predictions is not None
    assert (report.predictions.kind, report.predictions.drift.status) == ("categorical", "drift")
    assert (report.reference.rows, report.current.rows) == (500, 300)
    assert (report.reference.start, report.current.end) == (at(1), at(3))
