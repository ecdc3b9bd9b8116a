"""The values alert rules are judged on: one number per (tenant, metric, model, window).

`WindowValue` is the seam. `RawEventMetrics` computes it from raw events; rollups plus the raw
tail will replace it without the evaluator noticing. Windows are [start, end) on event time
(`timestamp`); `model` narrows to one ML model_id / LLM model_name.

| metric        | value                                                      | empty window |
|---------------|------------------------------------------------------------|--------------|
| cost          | sum of LLM `cost`                                          | 0            |
| tokens        | sum of LLM `tokens_used`                                   | 0            |
| requests      | number of LLM events                                       | 0            |
| error_rate    | LLM events whose `error` is a non-empty string / requests  | None         |
| latency_p95   | 95th percentile of `latency_ms` over ML and LLM events     | None         |
| predictions   | sum of ML `prediction_count`                               | 0            |
| no_data       | number of ML and LLM events                                | 0            |

None means there is nothing to judge; a rule's condition does not hold on None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from collector.storage import Document, Storage

METRICS = ("cost", "requests", "tokens", "error_rate", "latency_p95", "predictions", "no_data")
MODEL_FIELD = {"ml_events": "model_id", "llm_events": "model_name"}
_HAS_ERROR = {
    "$cond": [{"$and": [{"$eq": [{"$type": "$error"}, "string"]}, {"$ne": ["$error", ""]}]}, 1, 0]
}


class WindowValue(Protocol):
    def __call__(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> Awaitable[float | None]: ...


class RawEventMetrics:
    def __init__(self, storage: Storage) -> None:
        self._ml = storage.ml_events
        self._llm = storage.llm_events

    @staticmethod
    def _match(
        collection: AsyncCollection[Document],
        tenant: str,
        model: str | None,
        start: dt.datetime,
        end: dt.datetime,
    ) -> Document:
        query: Document = {"tenant": tenant, "timestamp": {"$gte": start, "$lt": end}}
        if model is not None:
            query[MODEL_FIELD[collection.name]] = model
        return {"$match": query}

    async def _group(
        self, collection: AsyncCollection[Document], match: Document, group: Document
    ) -> dict[str, Any]:
        pipeline = [match, {"$group": {"_id": None, **group}}]
        rows = await (await collection.aggregate(pipeline)).to_list()
        return rows[0] if rows else {}

    async def window_value(
        self, tenant: str, metric: str, model: str | None, start: dt.datetime, end: dt.datetime
    ) -> float | None:
        llm = self._match(self._llm, tenant, model, start, end)
        ml = self._match(self._ml, tenant, model, start, end)
        if metric in ("cost", "tokens", "requests", "error_rate"):
            row = await self._group(
                self._llm,
                llm,
                {
                    "cost": {"$sum": "$cost"},
                    "tokens": {"$sum": "$tokens_used"},
                    "requests": {"$sum": 1},
                    "errors": {"$sum": _HAS_ERROR},
                },
            )
            requests = row.get("requests", 0)
            if metric == "error_rate":
                return row["errors"] / requests if requests else None
            return float(row.get(metric, 0))
        if metric == "predictions":
            row = await self._group(self._ml, ml, {"n": {"$sum": "$prediction_count"}})
            return float(row.get("n", 0))
        if metric == "no_data":
            events = 0
            for collection, match in ((self._ml, ml), (self._llm, llm)):
                events += (await self._group(collection, match, {"n": {"$sum": 1}})).get("n", 0)
            return float(events)
        if metric == "latency_p95":
            return await self._latency_p95(llm, ml)
        raise ValueError(f"unknown metric {metric!r}")

    async def _latency_p95(self, llm: Document, ml: Document) -> float | None:
        latency = {"$project": {"_id": 0, "latency_ms": 1}}
        pipeline = [
            ml,
            latency,
            {"$unionWith": {"coll": self._llm.name, "pipeline": [llm, latency]}},
            {
                "$group": {
                    "_id": None,
                    "p": {
                        "$percentile": {
                            "input": "$latency_ms",
                            "p": [0.95],
                            "method": "approximate",
                        }
                    },
                }
            },
        ]
        rows = await (await self._ml.aggregate(pipeline)).to_list()
        p = rows[0]["p"] if rows else None
        return float(p[0]) if p and p[0] is not None else None
