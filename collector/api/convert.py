"""The only place that turns protobuf into plain Python and back (with aegis_shared.structs,
which reads Struct metadata and is shared with the gateway, and collector.api.json_events, which
reads the events of JSON batches).

`*_from_proto` read request messages; `*_response` build reply messages.

Hot path: events are read field by field (MessageToDict is ~30x slower), and Struct
metadata is walked directly.

An event converts to a plain dict, or to an `Invalid` naming the field when it cannot even be
read (a JSON event of the wrong shape, a timestamp no calendar holds): ingest reports that
event by its index, as it does one that fails validation, and stores its siblings.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from aegis.v1 import (
    alerts_pb2,
    auth_pb2,
    dashboard_pb2,
    events_pb2,
    export_pb2,
    ingest_pb2,
    prices_pb2,
    tail_pb2,
)
from aegis_shared.structs import struct_to_dict
from collector.alerts.rules import AlertEvent, Rule, RuleSpec
from collector.auth.audit import AuditEntry
from collector.auth.clients import ClientInfo, NewClient
from collector.dates import parse_range
from collector.errors import InvalidArgument
from collector.ingest.batch import IngestResult
from collector.ingest.pipeline import StreamBatch
from collector.ingest.price_overrides import Override
from collector.query.dashboards import Latency, LLMMetrics, LLMPoint, MLMetrics, MLPoint, Overview
from collector.query.export import ExportQuery, parse_format, parse_kind
from collector.query.rounding import event_money, significant

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_OUT_OF_RANGE = dt.datetime.max.replace(tzinfo=dt.UTC)


def time_from_proto(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    # ~30% cheaper than Timestamp.ToDatetime. Whole milliseconds, as BSON stores them, so that
    # what rollups compute in memory is what a query over the stored events finds.
    try:
        return _EPOCH + dt.timedelta(seconds=ts.seconds, milliseconds=ts.nanos // 1_000_000)
    except OverflowError:  # past year 9999 (or before 1): validation rejects it, per event
        return _OUT_OF_RANGE


def _metadata(e: events_pb2.MLEvent | events_pb2.LLMEvent) -> Any:
    """Either metadata form as plain Python; validation rejects anything but a JSON object."""
    form = e.WhichOneof("metadata_form")
    if form == "metadata_json":
        try:
            return json.loads(e.metadata_json)
        except (ValueError, RecursionError):
            return e.metadata_json  # not JSON: left for validation to reject, with the event
    if form == "metadata":
        return struct_to_dict(e.metadata)
    return {}


def ml_event_from_proto(e: events_pb2.MLEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "model_type": e.model_type,
        "model_id": e.model_id,
        "input_shape": list(e.input_shape),
        "prediction_count": e.prediction_count if e.HasField("prediction_count") else None,
        "timestamp": time_from_proto(e.timestamp) if e.HasField("timestamp") else None,
        "metadata": _metadata(e),
        "latency_ms": e.latency_ms if e.HasField("latency_ms") else None,
        "error": e.error,
    }


def llm_event_from_proto(e: events_pb2.LLMEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "model_name": e.model_name,
        "prompt_length": e.prompt_length if e.HasField("prompt_length") else None,
        "response_length": e.response_length if e.HasField("response_length") else None,
        "tokens_used": e.tokens_used if e.HasField("tokens_used") else None,
        "cost": e.cost if e.HasField("cost") else None,
        "timestamp": time_from_proto(e.timestamp) if e.HasField("timestamp") else None,
        "metadata": _metadata(e),
        "latency_ms": e.latency_ms if e.HasField("latency_ms") else None,
        "error": e.error,
        "input_tokens": e.input_tokens if e.HasField("input_tokens") else None,
        "output_tokens": e.output_tokens if e.HasField("output_tokens") else None,
        "provider": e.provider,
    }


def stream_batch_from_proto(request: ingest_pb2.StreamEventsRequest) -> StreamBatch:
    which = request.WhichOneof("batch")
    if which == "ml":
        return StreamBatch(
            request.sequence, "ml", [ml_event_from_proto(e) for e in request.ml.events]
        )
    if which == "llm":
        return StreamBatch(
            request.sequence, "llm", [llm_event_from_proto(e) for e in request.llm.events]
        )
    raise InvalidArgument(f"batch {request.sequence}: neither 'ml' nor 'llm' is set")


def export_query(request: export_pb2.ExportEventsRequest) -> ExportQuery:
    return ExportQuery(
        kind=parse_kind(request.kind),
        dates=parse_range(request.start_date, request.end_date),
        model=request.model or None,
        format=parse_format(request.format),
    )


def tail_event(kind: str, data: dict[str, Any]) -> tail_pb2.TailEvent:
    return tail_pb2.TailEvent(kind=kind, event=_struct(data))


def ingest_response(result: IngestResult) -> ingest_pb2.IngestResponse:
    return ingest_pb2.IngestResponse(
        accepted=result.accepted,
        rejected=result.rejected,
        duplicates=result.duplicates,
        errors=[
            ingest_pb2.EventError(index=e.index, field=e.field, reason=e.reason)
            for e in result.errors
        ],
    )


def create_client_response(client: NewClient) -> auth_pb2.CreateClientResponse:
    return auth_pb2.CreateClientResponse(
        clientId=client.client_id,
        clientSecret=client.client_secret,
        tenant=client.tenant,
        name=client.name,
        scopes=list(client.scopes),
    )


def client_info(client: ClientInfo) -> auth_pb2.ClientInfo:
    info = auth_pb2.ClientInfo(
        clientId=client.client_id,
        name=client.name,
        tenant=client.tenant,
        scopes=list(client.scopes),
        global_admin=client.global_admin,
    )
    for field, moment in (
        ("created_at", client.created_at),
        ("revoked_at", client.revoked_at),
        ("secret_rotated_at", client.secret_rotated_at),
    ):
        if moment is not None:
            getattr(info, field).CopyFrom(_timestamp(moment))
    return info


def audit_entry(entry: AuditEntry) -> auth_pb2.AuditLogEntry:
    return auth_pb2.AuditLogEntry(
        event_type=entry.event_type,
        client_id=entry.client_id,
        action=entry.action,
        timestamp=_timestamp(entry.timestamp),
        details=_struct(entry.details),
        tenant=entry.tenant,
        actor_tenant=entry.actor_tenant,
    )


def _timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def _struct(data: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


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
                timestamp=_timestamp(r.timestamp),
                data=_struct(event_money(r.data)),
            )
            for r in o.recent_events
        ],
    )


def _ml_points(points: list[MLPoint]) -> list[dashboard_pb2.MLSeriesPoint]:
    return [
        dashboard_pb2.MLSeriesPoint(
            time=_timestamp(p.time),
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
            time=_timestamp(p.time),
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
                first_seen=_timestamp(x.first_seen),
                last_seen=_timestamp(x.last_seen),
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


def rule_spec(r: alerts_pb2.CreateRuleRequest | alerts_pb2.UpdateRuleRequest) -> RuleSpec:
    return RuleSpec(
        name=r.name,
        metric=r.metric,
        model=r.model if r.HasField("model") else None,
        comparison=r.comparison,
        threshold=r.threshold if r.HasField("threshold") else None,
        window_minutes=r.window_minutes,
        webhook_url=r.webhook_url,
        webhook_secret=r.webhook_secret,
    )


def alert_rule(rule: Rule) -> alerts_pb2.AlertRule:
    message = alerts_pb2.AlertRule(
        id=rule.id,
        name=rule.name,
        metric=rule.metric,
        model=rule.model,
        comparison=rule.comparison,
        threshold=significant(rule.threshold),
        window_minutes=rule.window_minutes,
        webhook_url=rule.webhook_url,
        state=rule.state,
        state_since=_timestamp(rule.state_since),
        last_value=significant(rule.last_value),
        created_at=_timestamp(rule.created_at),
        updated_at=_timestamp(rule.updated_at),
        warnings=list(rule.warnings),
    )
    if rule.last_evaluated_at is not None:
        message.last_evaluated_at.CopyFrom(_timestamp(rule.last_evaluated_at))
    return message


def alert_event(event: AlertEvent) -> alerts_pb2.AlertEvent:
    message = alerts_pb2.AlertEvent(
        id=event.id,
        rule_id=event.rule_id,
        rule_name=event.rule_name,
        metric=event.metric,
        previous_state=event.previous_state,
        state=event.state,
        value=significant(event.value),
        threshold=significant(event.threshold),
        window_minutes=event.window_minutes,
        time=_timestamp(event.time),
        delivery_status=event.delivery_status,
        delivery_attempts=event.delivery_attempts,
    )
    if event.delivered_at is not None:
        message.delivered_at.CopyFrom(_timestamp(event.delivered_at))
    return message


def model_price(override: Override) -> prices_pb2.ModelPrice:
    return prices_pb2.ModelPrice(
        model=override.model,
        input_per_mtok=override.input_per_mtok,
        output_per_mtok=override.output_per_mtok,
        updated_at=_timestamp(override.updated_at),
    )
