"""Overview and per-model metrics, always for the caller's tenant only, read from rollups
(collector.rollups): the cost of an answer grows with the range and the number of models,
not with the number of events stored. An answer for one user, environment or release is
computed from the matching events instead (collector.explore.matching)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from collector.dates import DateRange
from collector.domain import MODEL_KEY, Kind, Tier
from collector.explore.events import EventFilter
from collector.explore.matching import matching_events
from collector.rollups import cells
from collector.rollups.cells import Cell
from collector.rollups.reader import (
    Piece,
    by_interval,
    by_model,
    minutes_kept_since,
    read_all_time,
    read_pieces,
)
from collector.store.storage import Storage


@dataclass(frozen=True)
class MetricsQuery:
    dates: DateRange
    interval: Tier | None = None  # adds a series when set
    # Attribution filters (None: all): answered from the matching events, not the rollups.
    user_id: str | None = None
    environment: str | None = None
    release: str | None = None

    def attribution(self) -> EventFilter | None:
        if self.user_id is None and self.environment is None and self.release is None:
            return None
        return EventFilter(user_id=self.user_id, environment=self.environment, release=self.release)


@dataclass(frozen=True)
class RecentEvent:
    kind: str
    event_id: str
    model: str
    timestamp: dt.datetime
    data: dict[str, Any]


@dataclass
class Overview:
    total_ml_predictions: int = 0
    total_llm_requests: int = 0
    active_models: int = 0
    total_cost: float = 0.0
    recent_events: list[RecentEvent] = field(default_factory=list)
    total_errors: int = 0


@dataclass(frozen=True)
class Latency:
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, cell: Cell) -> Latency:
        return cls(*cells.percentiles(cell))


@dataclass(frozen=True)
class MLPoint:
    time: dt.datetime
    events: int
    predictions: int
    errors: int
    latency: Latency


@dataclass(frozen=True)
class LLMPoint:
    time: dt.datetime
    requests: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cost: float
    errors: int
    latency: Latency


@dataclass(frozen=True)
class MLModel:
    model_id: str
    model_type: str
    events: int
    predictions: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    errors: int = 0
    error_rate: float = 0.0
    latency: Latency = Latency()
    series: list[MLPoint] = field(default_factory=list)


@dataclass
class MLMetrics:
    total_events: int = 0
    total_predictions: int = 0
    models: list[MLModel] = field(default_factory=list)
    total_errors: int = 0
    error_rate: float = 0.0
    series: list[MLPoint] = field(default_factory=list)


@dataclass(frozen=True)
class LLMModel:
    model_name: str
    requests: int
    tokens: int
    cost: float
    avg_prompt_length: float
    avg_response_length: float
    latency: Latency
    errors: int = 0
    error_rate: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    series: list[LLMPoint] = field(default_factory=list)


@dataclass
class LLMMetrics:
    total_requests: int = 0
    total_tokens: int = 0
    total_cost: float = 0.0
    models: list[LLMModel] = field(default_factory=list)
    total_errors: int = 0
    error_rate: float = 0.0
    series: list[LLMPoint] = field(default_factory=list)


def _json_safe(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v
        for k, v in doc.items()
    }


def _rate(cell: Cell) -> float:
    return cell["errors"] / cell["n"] if cell["n"] else 0.0


def _total(parts: list[Cell]) -> Cell:
    total = cells.empty()
    for part in parts:
        cells.merge(total, part)
    return total


def _ml_point(time: dt.datetime, c: Cell) -> MLPoint:
    return MLPoint(time, c["n"], c["predictions"], c["errors"], Latency.of(c))


def _llm_point(time: dt.datetime, c: Cell) -> LLMPoint:
    return LLMPoint(
        time,
        c["n"],
        c["tokens"],
        c["input_tokens"],
        c["output_tokens"],
        float(c["cost"]),
        c["errors"],
        Latency.of(c),
    )


class Series:
    """The points of one query: overall, and per model."""

    def __init__(self, pieces: list[Piece], interval: Tier | None) -> None:
        self._points = by_interval(pieces, interval) if interval else {}

    def overall(self) -> list[tuple[dt.datetime, Cell]]:
        return [(t, _total(list(models.values()))) for t, models in self._points.items()]

    def of(self, model: str) -> list[tuple[dt.datetime, Cell]]:
        return [(t, models[model]) for t, models in self._points.items() if model in models]


class Dashboards:
    def __init__(self, storage: Storage, *, minute_retention_days: float = 0) -> None:
        self._storage = storage
        self._minute_days = minute_retention_days

    async def _pieces(self, tenant: str, kind: Kind, query: MetricsQuery) -> list[Piece]:
        dates = query.dates
        wanted = query.attribution()
        if wanted is not None:
            model_key = MODEL_KEY[kind]
            found = []
            async for doc in matching_events(
                self._storage, tenant, kind, dates.start, dates.end, wanted
            ):
                one = cells.empty()
                cells.add_event(one, doc)
                found.append(Piece(doc[model_key], doc["timestamp"], one))
            return found
        return await read_pieces(
            self._storage,
            tenant,
            kind,
            dates.start,
            dates.end,
            query.interval or "total",
            minutes_kept_since(self._minute_days),
        )

    async def overview(self, tenant: str) -> Overview:
        everything = await read_all_time(self._storage, tenant)
        ml, llm = everything.totals["ml"], everything.totals["llm"]
        recent = [
            RecentEvent(e["kind"], e["event_id"], e["model"], e["timestamp"], _json_safe(e["data"]))
            for e in everything.recent
        ]
        return Overview(
            total_ml_predictions=sum(c["predictions"] for c in ml.values()),
            total_llm_requests=sum(c["n"] for c in llm.values()),
            active_models=len(ml) + len(llm),
            total_cost=float(sum(c["cost"] for c in llm.values())),
            recent_events=recent,
            total_errors=sum(c["errors"] for c in [*ml.values(), *llm.values()]),
        )

    async def ml_metrics(self, tenant: str, query: MetricsQuery) -> MLMetrics:
        pieces = await self._pieces(tenant, "ml", query)
        totals = by_model(pieces)
        series = Series(pieces, query.interval)
        models = [
            MLModel(
                model,
                c.get("model_type", ""),
                c["n"],
                c["predictions"],
                c["first"],
                c["last"],
                c["errors"],
                _rate(c),
                Latency.of(c),
                [_ml_point(t, p) for t, p in series.of(model)],
            )
            for model, c in sorted(totals.items())
        ]
        total = _total(list(totals.values()))
        return MLMetrics(
            total_events=total["n"],
            total_predictions=total["predictions"],
            models=models,
            total_errors=total["errors"],
            error_rate=_rate(total),
            series=[_ml_point(t, p) for t, p in series.overall()],
        )

    async def llm_metrics(self, tenant: str, query: MetricsQuery) -> LLMMetrics:
        pieces = await self._pieces(tenant, "llm", query)
        totals = by_model(pieces)
        series = Series(pieces, query.interval)
        models = [
            LLMModel(
                model,
                c["n"],
                c["tokens"],
                float(c["cost"]),
                c["prompt"] / c["n"],
                c["response"] / c["n"],
                Latency.of(c),
                c["errors"],
                _rate(c),
                c["input_tokens"],
                c["output_tokens"],
                [_llm_point(t, p) for t, p in series.of(model)],
            )
            for model, c in sorted(totals.items())
        ]
        total = _total(list(totals.values()))
        return LLMMetrics(
            total_requests=total["n"],
            total_tokens=total["tokens"],
            total_cost=float(total["cost"]),
            models=models,
            total_errors=total["errors"],
            error_rate=_rate(total),
            series=[_llm_point(t, p) for t, p in series.overall()],
        )
