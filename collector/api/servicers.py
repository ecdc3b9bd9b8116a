"""Thin gRPC servicers: protobuf in → plain service call → protobuf out. No logic here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from aegis.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    dashboard_pb2,
    dashboard_pb2_grpc,
    export_pb2,
    export_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    prices_pb2,
    prices_pb2_grpc,
    tail_pb2,
    tail_pb2_grpc,
)
from aegis_shared.caller_address import CallerAddresses
from collector.alerts.rules import RuleService
from collector.api import convert, json_events
from collector.api.interceptor import current_principal
from collector.auth.audit import Auditor
from collector.auth.service import AuthService, TokenRequest
from collector.dates import parse_interval, parse_range
from collector.ingest.batch import IngestService
from collector.ingest.pipeline import Admission, admitted, run_stream
from collector.ingest.price_overrides import PriceOverrides
from collector.query.dashboards import Dashboards, MetricsQuery
from collector.query.export import Exporter
from collector.query.tail import TailHub, parse_kinds

Context: TypeAlias = grpc.aio.ServicerContext


# RFC 7591's names of the token endpoint's client authentication methods.
AUTH_METHODS = {
    auth_pb2.IssueTokenRequest.AUTH_METHOD_UNSPECIFIED: "",
    auth_pb2.IssueTokenRequest.AUTH_METHOD_CLIENT_SECRET_BASIC: "client_secret_basic",
    auth_pb2.IssueTokenRequest.AUTH_METHOD_CLIENT_SECRET_POST: "client_secret_post",
}


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthService, audit: Auditor, addresses: CallerAddresses) -> None:
        self._auth = auth
        self._audit = audit
        self._addresses = addresses

    async def IssueToken(
        self, request: auth_pb2.IssueTokenRequest, context: Context
    ) -> auth_pb2.IssueTokenResponse:
        token_request = TokenRequest(
            request.clientId,
            request.clientSecret,
            grant_type=request.grant_type,
            scope=request.scope,
            auth_method=AUTH_METHODS.get(request.auth_method, ""),
        )
        issued = await self._auth.issue_token(token_request, self._addresses.of(context))
        return auth_pb2.IssueTokenResponse(
            access_token=issued.access_token,
            token_type="bearer",
            expires_in=issued.expires_in,
            scope=" ".join(issued.scopes),
        )

    async def CreateClient(
        self, request: auth_pb2.CreateClientRequest, context: Context
    ) -> auth_pb2.CreateClientResponse:
        created = await self._auth.create_client(
            current_principal(),
            name=request.name,
            tenant=request.tenant,
            scopes=list(request.scopes),
        )
        return convert.create_client_response(created)

    async def ListClients(
        self, request: auth_pb2.ListClientsRequest, context: Context
    ) -> auth_pb2.ListClientsResponse:
        clients = await self._auth.list_clients(current_principal())
        return auth_pb2.ListClientsResponse(clients=[convert.client_info(c) for c in clients])

    async def RevokeClient(
        self, request: auth_pb2.RevokeClientRequest, context: Context
    ) -> auth_pb2.RevokeClientResponse:
        revoked_at = await self._auth.revoke_client(current_principal(), request.clientId)
        reply = auth_pb2.RevokeClientResponse(clientId=request.clientId)
        reply.revoked_at.FromDatetime(revoked_at)
        return reply

    async def RotateClientSecret(
        self, request: auth_pb2.RotateClientSecretRequest, context: Context
    ) -> auth_pb2.RotateClientSecretResponse:
        secret = await self._auth.rotate_secret(
            current_principal(), request.clientId, request.grace_seconds
        )
        return auth_pb2.RotateClientSecretResponse(clientId=request.clientId, clientSecret=secret)

    async def ListAuditLogs(
        self, request: auth_pb2.ListAuditLogsRequest, context: Context
    ) -> auth_pb2.ListAuditLogsResponse:
        dates = parse_range(request.start_date, request.end_date)
        entries = await self._audit.list_for(current_principal(), dates)
        return auth_pb2.ListAuditLogsResponse(entries=[convert.audit_entry(e) for e in entries])


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self, ingest: IngestService, admission: Admission, *, window: int, shutdown: asyncio.Event
    ) -> None:
        self._ingest = ingest
        self._admission = admission
        self._window = window
        self._shutdown = shutdown

    async def IngestML(
        self, request: ingest_pb2.IngestMLRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [convert.ml_event_from_proto(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "ml", events)
        )
        return convert.ingest_response(result)

    async def IngestLLM(
        self, request: ingest_pb2.IngestLLMRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [convert.llm_event_from_proto(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "llm", events)
        )
        return convert.ingest_response(result)

    async def IngestMLJson(
        self, request: ingest_pb2.IngestMLJsonRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [json_events.ml_event_from_json(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "ml", events)
        )
        return convert.ingest_response(result)

    async def IngestLLMJson(
        self, request: ingest_pb2.IngestLLMJsonRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [json_events.llm_event_from_json(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "llm", events)
        )
        return convert.ingest_response(result)

    async def StreamEvents(
        self, requests: AsyncIterator[ingest_pb2.StreamEventsRequest], context: Context
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        batches = (convert.stream_batch_from_proto(request) async for request in requests)
        acks = run_stream(
            self._ingest,
            current_principal(),
            batches,
            window=self._window,
            admission=self._admission,
            shutdown=self._shutdown,
        )
        async for sequence, result in acks:
            yield ingest_pb2.StreamEventsResponse(
                sequence=sequence, result=convert.ingest_response(result)
            )


class ExportServicer(export_pb2_grpc.ExportServiceServicer):
    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    async def ExportEvents(
        self, request: export_pb2.ExportEventsRequest, context: Context
    ) -> AsyncIterator[export_pb2.ExportChunk]:
        query = convert.export_query(request)
        async for chunk in self._exporter.export(current_principal().tenant, query):
            yield export_pb2.ExportChunk(
                data=chunk.data, events=chunk.events, content_type=chunk.content_type
            )


class TailServicer(tail_pb2_grpc.TailServiceServicer):
    def __init__(self, hub: TailHub) -> None:
        self._hub = hub

    async def TailEvents(
        self, request: tail_pb2.TailEventsRequest, context: Context
    ) -> AsyncIterator[tail_pb2.TailEventsResponse]:
        kinds = parse_kinds(request.kind)
        async with self._hub.subscribe(current_principal().tenant, kinds) as subscription:
            yield tail_pb2.TailEventsResponse(started=True)
            async for events in subscription.batches():
                # Each TailEvent is built once per event by the hub (convert.tail_event).
                yield tail_pb2.TailEventsResponse(events=events)


def _query(request: dashboard_pb2.MetricsRequest) -> MetricsQuery:
    dates = parse_range(request.start_date, request.end_date)
    return MetricsQuery(dates, parse_interval(request.interval, dates))


class DashboardServicer(dashboard_pb2_grpc.DashboardServiceServicer):
    def __init__(self, dashboards: Dashboards) -> None:
        self._dashboards = dashboards

    async def Overview(
        self, request: dashboard_pb2.OverviewRequest, context: Context
    ) -> dashboard_pb2.OverviewResponse:
        return convert.overview_response(
            await self._dashboards.overview(current_principal().tenant)
        )

    async def MLMetrics(
        self, request: dashboard_pb2.MetricsRequest, context: Context
    ) -> dashboard_pb2.MLMetricsResponse:
        return convert.ml_metrics_response(
            await self._dashboards.ml_metrics(current_principal().tenant, _query(request))
        )

    async def LLMMetrics(
        self, request: dashboard_pb2.MetricsRequest, context: Context
    ) -> dashboard_pb2.LLMMetricsResponse:
        return convert.llm_metrics_response(
            await self._dashboards.llm_metrics(current_principal().tenant, _query(request))
        )


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, rules: RuleService) -> None:
        self._rules = rules

    async def CreateRule(
        self, request: alerts_pb2.CreateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        caller = current_principal()
        rule = await self._rules.create(
            caller.tenant, convert.rule_spec(request), created_by=caller.client_id
        )
        return convert.alert_rule(rule)

    async def ListRules(
        self, request: alerts_pb2.ListRulesRequest, context: Context
    ) -> alerts_pb2.ListRulesResponse:
        rules = await self._rules.list_rules(current_principal().tenant)
        return alerts_pb2.ListRulesResponse(rules=[convert.alert_rule(r) for r in rules])

    async def GetRule(
        self, request: alerts_pb2.GetRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        return convert.alert_rule(await self._rules.get(current_principal().tenant, request.id))

    async def UpdateRule(
        self, request: alerts_pb2.UpdateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        caller = current_principal()
        rule = await self._rules.update(
            caller.tenant, request.id, convert.rule_spec(request), actor=caller.client_id
        )
        return convert.alert_rule(rule)

    async def DeleteRule(
        self, request: alerts_pb2.DeleteRuleRequest, context: Context
    ) -> alerts_pb2.DeleteRuleResponse:
        caller = current_principal()
        await self._rules.delete(caller.tenant, request.id, actor=caller.client_id)
        return alerts_pb2.DeleteRuleResponse()

    async def ListAlertEvents(
        self, request: alerts_pb2.ListAlertEventsRequest, context: Context
    ) -> alerts_pb2.ListAlertEventsResponse:
        events = await self._rules.list_events(
            current_principal().tenant, request.rule_id, request.limit
        )
        return alerts_pb2.ListAlertEventsResponse(events=[convert.alert_event(e) for e in events])


class PriceServicer(prices_pb2_grpc.PriceServiceServicer):
    def __init__(self, overrides: PriceOverrides) -> None:
        self._overrides = overrides

    async def SetPrice(
        self, request: prices_pb2.SetPriceRequest, context: Context
    ) -> prices_pb2.ModelPrice:
        override = await self._overrides.set(
            current_principal(), request.model, request.input_per_mtok, request.output_per_mtok
        )
        return convert.model_price(override)

    async def ListPrices(
        self, request: prices_pb2.ListPricesRequest, context: Context
    ) -> prices_pb2.ListPricesResponse:
        overrides = await self._overrides.list(current_principal())
        return prices_pb2.ListPricesResponse(prices=[convert.model_price(o) for o in overrides])

    async def DeletePrice(
        self, request: prices_pb2.DeletePriceRequest, context: Context
    ) -> prices_pb2.DeletePriceResponse:
        await self._overrides.delete(current_principal(), request.model)
        return prices_pb2.DeletePriceResponse()
