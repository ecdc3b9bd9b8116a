"""Overview and per-model metrics, always for the caller's tenant only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from collector.dates import DateRange
from collector.storage import Storage

RECENT_EVENTS = 10
_HIDDEN = ("_id", "tenant")


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


@dataclass(frozen=True)
class MLModel:
    model_id: str
    model_type: str
    events: int
    predictions: int
    first_seen: dt.datetime
    last_seen: dt.datetime


@dataclass
class MLMetrics:
    total_events: int = 0
    total_predictions: int = 0
    models: list[MLModel] = field(default_factory=list)


@dataclass(frozen=True)
class LLMModel:
    model_name: str
    requests: int
    tokens: int
    cost: float
    avg_prompt_length: float
    avg_response_length: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None


@dataclass
class LLMMetrics:
    total_requests: int = 0
    total_tokens: int = 0
    total_cost: float = 0.0
    models: list[LLMModel] = field(default_factory=list)


def _json_safe(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v
        for k, v in doc.items()
        if k not in _HIDDEN
    }


class Dashboards:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def _one(self, collection: Any, pipeline: list[dict[str, Any]]) -> dict[str, Any]:
        rows = await (await collection.aggregate(pipeline)).to_list()
        return rows[0] if rows else {}

    async def overview(self, tenant: str) -> Overview:
        match = {"$match": {"tenant": tenant}}
        ml = await self._one(
            self._storage.ml_events,
            [
                match,
                {"$group": {"_id": "$model_id", "p": {"$sum": "$prediction_count"}}},
                {"$group": {"_id": None, "predictions": {"$sum": "$p"}, "models": {"$sum": 1}}},
            ],
        )
        llm = await self._one(
            self._storage.llm_events,
            [
                match,
                {"$group": {"_id": "$model_name", "n": {"$sum": 1}, "c": {"$sum": "$cost"}}},
                {
                    "$group": {
                        "_id": None,
                        "requests": {"$sum": "$n"},
                        "cost": {"$sum": "$c"},
                        "models": {"$sum": 1},
                    }
                },
            ],
        )
        recent: list[RecentEvent] = []
        for kind, collection, model_key in (
            ("ml", self._storage.ml_events, "model_id"),
            ("llm", self._storage.llm_events, "model_name"),
        ):
            cursor = collection.find({"tenant": tenant}).sort("timestamp", -1).limit(RECENT_EVENTS)
            async for doc in cursor:
                recent.append(
                    RecentEvent(
                        kind, doc["event_id"], doc[model_key], doc["timestamp"], _json_safe(doc)
                    )
                )
        recent.sort(key=lambda r: r.timestamp, reverse=True)
        return Overview(
            total_ml_predictions=int(ml.get("predictions", 0)),
            total_llm_requests=int(llm.get("requests", 0)),
            active_models=int(ml.get("models", 0)) + int(llm.get("models", 0)),
            total_cost=float(llm.get("cost", 0.0)),
            recent_events=recent[:RECENT_EVENTS],
        )

    @staticmethod
    def _match(tenant: str, dates: DateRange) -> dict[str, Any]:
        query: dict[str, Any] = {"tenant": tenant}
        if bounds := dates.mongo_filter():
            query["timestamp"] = bounds
        return {"$match": query}

    async def ml_metrics(self, tenant: str, dates: DateRange) -> MLMetrics:
        pipeline = [
            self._match(tenant, dates),
            {
                "$group": {
                    "_id": "$model_id",
                    "model_type": {"$last": "$model_type"},
                    "events": {"$sum": 1},
                    "predictions": {"$sum": "$prediction_count"},
                    "first_seen": {"$min": "$timestamp"},
                    "last_seen": {"$max": "$timestamp"},
                }
            },
            {"$sort": {"_id": 1}},
        ]
        models = [
            MLModel(
                r["_id"],
                r["model_type"],
                int(r["events"]),
                int(r["predictions"]),
                r["first_seen"],
                r["last_seen"],
            )
            async for r in await self._storage.ml_events.aggregate(pipeline)
        ]
        return MLMetrics(
            total_events=sum(m.events for m in models),
            total_predictions=sum(m.predictions for m in models),
            models=models,
        )

    async def llm_metrics(self, tenant: str, dates: DateRange) -> LLMMetrics:
        pipeline = [
            self._match(tenant, dates),
            {
                "$group": {
                    "_id": "$model_name",
                    "requests": {"$sum": 1},
                    "tokens": {"$sum": "$tokens_used"},
                    "cost": {"$sum": "$cost"},
                    "avg_prompt": {"$avg": "$prompt_length"},
                    "avg_response": {"$avg": "$response_length"},
                    "timed": {"$sum": {"$cond": [{"$isNumber": "$latency_ms"}, 1, 0]}},
                    "latency": {
                        "$percentile": {
                            "input": "$latency_ms",
                            "p": [0.5, 0.95, 0.99],
                            "method": "approximate",
                        }
                    },
                }
            },
            {"$sort": {"_id": 1}},
        ]
        models = []
        async for r in await self._storage.llm_events.aggregate(pipeline):
            p50, p95, p99 = r["latency"] if r["timed"] and r["latency"] else (None, None, None)
            models.append(
                LLMModel(
                    r["_id"],
                    int(r["requests"]),
                    int(r["tokens"]),
                    float(r["cost"]),
                    float(r["avg_prompt"] or 0),
                    float(r["avg_response"] or 0),
                    p50,
                    p95,
                    p99,
                )
            )
        return LLMMetrics(
            total_requests=sum(m.requests for m in models),
            total_tokens=sum(m.tokens for m in models),
            total_cost=sum(m.cost for m in models),
            models=models,
        )
