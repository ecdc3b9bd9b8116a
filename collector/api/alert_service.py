"""AlertService: protobuf in → plain rules call → protobuf out, and its conversions."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from aegis.v1 import alerts_pb2, alerts_pb2_grpc
from collector.alerts.rules import AlertEvent, Rule, RuleService, RuleSpec
from collector.api.interceptor import current_principal
from collector.api.proto_values import timestamp
from collector.query.rounding import significant

Context: TypeAlias = grpc.aio.ServicerContext


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
        group_by=r.group_by,
        feature=r.feature if r.HasField("feature") else None,
        reference_start=r.reference_start,
        reference_end=r.reference_end,
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
        state_since=timestamp(rule.state_since),
        last_value=significant(rule.last_value),
        created_at=timestamp(rule.created_at),
        updated_at=timestamp(rule.updated_at),
        warnings=list(rule.warnings),
        group_by=rule.group_by or "",
        firing_groups=list(rule.firing_groups),
        feature=rule.feature,
        reference_start=rule.reference_start,
        reference_end=rule.reference_end,
    )
    if rule.last_evaluated_at is not None:
        message.last_evaluated_at.CopyFrom(timestamp(rule.last_evaluated_at))
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
        time=timestamp(event.time),
        delivery_status=event.delivery_status,
        delivery_attempts=event.delivery_attempts,
        group=event.group,
        features=[
            alerts_pb2.DriftedFeature(name=f["name"], psi=significant(f["psi"]), status=f["status"])
            for f in event.features
        ],
    )
    if event.delivered_at is not None:
        message.delivered_at.CopyFrom(timestamp(event.delivered_at))
    return message


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, rules: RuleService) -> None:
        self._rules = rules

    async def CreateRule(
        self, request: alerts_pb2.CreateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        caller = current_principal()
        rule = await self._rules.create(
            caller.tenant, rule_spec(request), created_by=caller.client_id
        )
        return alert_rule(rule)

    async def ListRules(
        self, request: alerts_pb2.ListRulesRequest, context: Context
    ) -> alerts_pb2.ListRulesResponse:
        rules = await self._rules.list_rules(current_principal().tenant)
        return alerts_pb2.ListRulesResponse(rules=[alert_rule(r) for r in rules])

    async def GetRule(
        self, request: alerts_pb2.GetRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        return alert_rule(await self._rules.get(current_principal().tenant, request.id))

    async def UpdateRule(
        self, request: alerts_pb2.UpdateRuleRequest, context: Context
    ) -> alerts_pb2.AlertRule:
        caller = current_principal()
        rule = await self._rules.update(
            caller.tenant, request.id, rule_spec(request), actor=caller.client_id
        )
        return alert_rule(rule)

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
        return alerts_pb2.ListAlertEventsResponse(events=[alert_event(e) for e in events])
