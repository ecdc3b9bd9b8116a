"""DashboardService: protobuf in → plain dashboard query → protobuf out, and its conversions."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from aegis.v1 import dashboard_pb2, dashboard_pb2_grpc
from collector.api.interceptor import current_principal
from collector.api.proto_values import struct, timestamp
from collector.dates import parse_interval, parse_range
from collector.drift.compare import CategoricalDrift, Share
from collector.drift.report import Column, DriftReport, MLDrift, Window
from collector.query.dashboards import (
    Dashboards,
    Latency,
    LLMMetrics,
    LLMPoint,
    MetricsQuery,
    MLMetrics,
    MLPoint,
    Overview,
)
from collector.query.rounding import event_money, significant

Context: TypeAlias = grpc.aio.ServicerContext
OTHER = "other"  # the value shown for the rest of a window's rows, past its top values


def _latency(latency: Latency) -> dict[str, float]:
    """The percentiles that exist; absent ones stay unset (the fields are optional)."""
    named = {
        "latency_p50_ms": latency.p50_ms,
        "latency_p95_ms": latency.p95_ms,
        "latency_p99_ms": latency.p99_ms,
    }
    return {k: v for k, v in named.items() if v is not None}


def overview_response(o: Overview) -> dashboard_pb2.OverviewResponse:
    return dashboard_pb2.OverviewResponse(
        total_ml_predictions=o.total_ml_predictions,
        total_llm_requests=o.total_llm_requests,
        active_models=o.active_models,
        total_cost=significant(o.total_cost),
        total_errors=o.total_errors,
        recent_events=[
            dashboard_pb2.RecentEvent(
                kind=r.kind,
                event_id=r.event_id,
                model=r.model,
                timestamp=timestamp(r.timestamp),
                data=struct(event_money(r.data)),
            )
            for r in o.recent_events
        ],
    )


def _ml_points(points: list[MLPoint]) -> list[dashboard_pb2.MLSeriesPoint]:
    return [
        dashboard_pb2.MLSeriesPoint(
            time=timestamp(p.time),
            events=p.events,
            predictions=p.predictions,
            errors=p.errors,
            **_latency(p.latency),
        )
        for p in points
    ]


def _llm_points(points: list[LLMPoint]) -> list[dashboard_pb2.LLMSeriesPoint]:
    return [
        dashboard_pb2.LLMSeriesPoint(
            time=timestamp(p.time),
            requests=p.requests,
            tokens=p.tokens,
            input_tokens=p.input_tokens,
            output_tokens=p.output_tokens,
            cost=significant(p.cost),
            errors=p.errors,
            **_latency(p.latency),
        )
        for p in points
    ]


def ml_metrics_response(m: MLMetrics) -> dashboard_pb2.MLMetricsResponse:
    return dashboard_pb2.MLMetricsResponse(
        total_events=m.total_events,
        total_predictions=m.total_predictions,
        total_errors=m.total_errors,
        error_rate=significant(m.error_rate),
        series=_ml_points(m.series),
        models=[
            dashboard_pb2.MLModelMetrics(
                model_id=x.model_id,
                model_type=x.model_type,
                events=x.events,
                predictions=x.predictions,
                first_seen=timestamp(x.first_seen),
                last_seen=timestamp(x.last_seen),
                errors=x.errors,
                error_rate=significant(x.error_rate),
                series=_ml_points(x.series),
                **_latency(x.latency),
            )
            for x in m.models
        ],
    )


def llm_metrics_response(m: LLMMetrics) -> dashboard_pb2.LLMMetricsResponse:
    return dashboard_pb2.LLMMetricsResponse(
        total_requests=m.total_requests,
        total_tokens=m.total_tokens,
        total_cost=significant(m.total_cost),
        total_errors=m.total_errors,
        error_rate=significant(m.error_rate),
        series=_llm_points(m.series),
        models=[
            dashboard_pb2.LLMModelMetrics(
                model_name=x.model_name,
                requests=x.requests,
                tokens=x.tokens,
                input_tokens=x.input_tokens,
                output_tokens=x.output_tokens,
                cost=significant(x.cost),
                avg_prompt_length=significant(x.avg_prompt_length),
                avg_response_length=significant(x.avg_response_length),
                errors=x.errors,
                error_rate=significant(x.error_rate),
                series=_llm_points(x.series),
                **_latency(x.latency),
            )
            for x in m.models
        ],
    )


def _window(w: Window) -> dashboard_pb2.DriftWindow:
    return dashboard_pb2.DriftWindow(start=timestamp(w.start), end=timestamp(w.end), rows=w.rows)


def _top(shares: list[Share]) -> list[dashboard_pb2.TopValue]:
    return [
        dashboard_pb2.TopValue(
            value=OTHER if s.value is None else s.value,
            share=significant(s.share),
            other=s.value is None,
        )
        for s in shares
    ]


def _column(c: Column) -> dashboard_pb2.FeatureDrift:
    d = c.drift
    out = dashboard_pb2.FeatureDrift(name=c.name, type=c.kind, status=d.status)
    if d.psi is not None:
        out.psi = significant(d.psi)
    if isinstance(d, CategoricalDrift):
        if d.js_distance is not None:
            out.js_distance = significant(d.js_distance)
        out.reference_top.extend(_top(d.reference_top))
        out.current_top.extend(_top(d.current_top))
    else:
        out.reference_quantiles.extend(significant(q) for q in d.reference_quantiles)
        out.current_quantiles.extend(significant(q) for q in d.current_quantiles)
    return out


def ml_drift_response(r: DriftReport) -> dashboard_pb2.MLDriftResponse:
    out = dashboard_pb2.MLDriftResponse(
        model_id=r.model_id,
        reference=_window(r.reference),
        current=_window(r.current),
        features=[_column(c) for c in r.features],
    )
    if r.predictions is not None:
        out.predictions.CopyFrom(_column(r.predictions))
    return out


def _query(request: dashboard_pb2.MetricsRequest) -> MetricsQuery:
    dates = parse_range(request.start_date, request.end_date)
    return MetricsQuery(
        dates,
        parse_interval(request.interval, dates),
        user_id=request.user_id or None,
        environment=request.environment or None,
        release=request.release or None,
    )


class DashboardServicer(dashboard_pb2_grpc.DashboardServiceServicer):
    def __init__(self, dashboards: Dashboards, drift: MLDrift) -> None:
        self._dashboards = dashboards
        self._drift = drift

    async def Overview(
        self, request: dashboard_pb2.OverviewRequest, context: Context
    ) -> dashboard_pb2.OverviewResponse:
        return overview_response(await self._dashboards.overview(current_principal().tenant))

    async def MLMetrics(
        self, request: dashboard_pb2.MetricsRequest, context: Context
    ) -> dashboard_pb2.MLMetricsResponse:
        return ml_metrics_response(
            await self._dashboards.ml_metrics(current_principal().tenant, _query(request))
        )

    async def LLMMetrics(
        self, request: dashboard_pb2.MetricsRequest, context: Context
    ) -> dashboard_pb2.LLMMetricsResponse:
        return llm_metrics_response(
            await self._dashboards.llm_metrics(current_principal().tenant, _query(request))
        )

    async def MLDrift(
        self, request: dashboard_pb2.MLDriftRequest, context: Context
    ) -> dashboard_pb2.MLDriftResponse:
        dates = (
            request.start_date,
            request.end_date,
            request.reference_start,
            request.reference_end,
        )
        return ml_drift_response(
            await self._drift.report(current_principal().tenant, request.model_id, dates)
        )
