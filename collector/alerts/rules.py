"""Alert rules of a tenant (`alert_rules`): validation, create, read, replace, delete; and the
tenant's alert events (state changes, `alert_events`), newest first.

The tenant always comes from the caller's token and every query filters on it, so another
tenant's rule is simply not found. The webhook secret is stored (it keys each signature) but
never returned or logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import secrets
from dataclasses import dataclass
from typing import Any

from aegis_shared import json_schema
from collector.alerts import anomaly
from collector.alerts.drift import DRIFT_METRICS, fixed_reference
from collector.alerts.metrics import (
    ATTRIBUTION_GROUPS,
    ATTRIBUTION_METRICS,
    GROUPS,
    KINDS,
    METRICS,
    RANGES,
)
from collector.alerts.ssrf import UnsafeTarget, check_url
from collector.auth.audit import Auditor
from collector.auth.ratelimit import RateLimiter
from collector.domain import Kind
from collector.errors import InvalidArgument, NotFound
from collector.rollups.reader import kinds_with_events
from collector.store.storage import Document, Storage

# The bounds are alerts.proto's (aegis_shared.json_schema), which the REST documentation states.
_CREATE = "aegis.v1.CreateRuleRequest"
_NAME = json_schema.of(_CREATE, "name")
_MODEL = json_schema.of(_CREATE, "model")
_SECRET = json_schema.of(_CREATE, "webhook_secret")
_WINDOW = json_schema.of(_CREATE, "window_minutes")
_FEATURE = json_schema.of(_CREATE, "feature")
COMPARISONS: tuple[str, ...] = tuple(json_schema.of(_CREATE, "comparison")["enum"])
MIN_NAME: int = _NAME["minLength"]
MAX_NAME: int = _NAME["maxLength"]
MIN_MODEL: int = _MODEL["minLength"]
MAX_MODEL: int = _MODEL["maxLength"]
MIN_SECRET: int = _SECRET["minLength"]
MAX_SECRET: int = _SECRET["maxLength"]
MIN_FEATURE: int = _FEATURE["minLength"]
MAX_FEATURE: int = _FEATURE["maxLength"]
MIN_WINDOW_MINUTES: int = _WINDOW["minimum"]
MAX_WINDOW_MINUTES: int = _WINDOW["maximum"]
MIN_THRESHOLD: float = json_schema.of(_CREATE, "threshold")["minimum"]
MAX_RULES_PER_TENANT = 100
DEFAULT_EVENTS = 100
MAX_EVENTS: int = json_schema.of("aegis.v1.ListAlertEventsRequest", "limit")["maximum"]
# The document's minimum threshold is the lowest any metric can be: below it every rule is
# refused by never_fires, so a lower minimum would document rules that are refused.
if min(r.low for r in RANGES.values()) != MIN_THRESHOLD:
    raise RuntimeError("alerts.proto's threshold minimum must be the lowest value of a metric")


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the caller sends it, before validation."""

    name: str
    metric: str
    comparison: str
    threshold: float | None
    window_minutes: int
    webhook_url: str
    webhook_secret: str
    model: str | None = None
    group_by: str = ""
    feature: str | None = None
    reference_start: str = ""
    reference_end: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    metric: str
    model: str | None
    comparison: str
    threshold: float
    window_minutes: int
    webhook_url: str
    state: str
    state_since: dt.datetime
    last_value: float | None
    last_evaluated_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # What may keep the rule from ever firing, worked out for each answer (not stored).
    warnings: tuple[str, ...] = ()
    group_by: str | None = None
    firing_groups: tuple[str, ...] = ()
    feature: str | None = None
    reference_start: str = ""
    reference_end: str = ""

    @classmethod
    def from_doc(cls, doc: Document) -> Rule:
        return cls(
            id=doc["_id"],
            name=doc["name"],
            metric=doc["metric"],
            model=doc.get("model"),
            comparison=doc["comparison"],
            threshold=doc["threshold"],
            window_minutes=doc["window_minutes"],
            webhook_url=doc["webhook_url"],
            state=doc["state"],
            state_since=doc["state_since"],
            last_value=doc.get("last_value"),
            last_evaluated_at=doc.get("last_evaluated_at"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            group_by=doc.get("group_by"),
            firing_groups=tuple(g["group"] for g in doc.get("firing_groups", [])),
            feature=doc.get("feature"),
            reference_start=doc.get("reference_start") or "",
            reference_end=doc.get("reference_end") or "",
        )


@dataclass(frozen=True)
class AlertEvent:
    id: str
    rule_id: str
    rule_name: str
    metric: str
    previous_state: str
    state: str
    value: float | None
    threshold: float
    window_minutes: int
    time: dt.datetime
    delivery_status: str
    delivery_attempts: int
    delivered_at: dt.datetime | None
    group: dict[str, str]
    # A drift rule's: every feature at warning or drift at the change ({name, psi, status}).
    features: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_doc(cls, doc: Document) -> AlertEvent:
        return cls(
            id=doc["_id"],
            rule_id=doc["rule_id"],
            rule_name=doc["rule_name"],
            metric=doc["metric"],
            previous_state=doc["previous_state"],
            state=doc["state"],
            value=doc.get("value"),
            threshold=doc["threshold"],
            window_minutes=doc["window_minutes"],
            time=doc["time"],
            delivery_status=doc["delivery_status"],
            delivery_attempts=doc["delivery_attempts"],
            delivered_at=doc.get("delivered_at"),
            group=doc.get("group") or {},
            features=doc.get("features") or [],
        )


def _stored_precision(moment: dt.datetime) -> dt.datetime:
    """BSON dates hold milliseconds: answer with what a later read will return."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _check_definition(spec: RuleSpec) -> dict[str, Any]:
    name = spec.name.strip()
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise InvalidArgument(f"name: required, at most {MAX_NAME} characters")
    if spec.metric not in METRICS:
        raise InvalidArgument(f"metric: must be one of {', '.join(METRICS)}")
    model = spec.model.strip() if spec.model is not None else None
    if model is not None and not MIN_MODEL <= len(model) <= MAX_MODEL:
        raise InvalidArgument(
            f"model: {MIN_MODEL}-{MAX_MODEL} characters, or absent for all models"
        )
    if spec.comparison not in COMPARISONS:
        raise InvalidArgument(f"comparison: must be {' or '.join(map(repr, COMPARISONS))}")
    if spec.threshold is None or not math.isfinite(spec.threshold):
        raise InvalidArgument("threshold: required, a finite number")
    if never := never_fires(spec.metric, spec.comparison, spec.threshold):
        raise InvalidArgument(f"threshold: {never}")
    if not MIN_WINDOW_MINUTES <= spec.window_minutes <= MAX_WINDOW_MINUTES:
        raise InvalidArgument(f"window_minutes: must be {MIN_WINDOW_MINUTES}-{MAX_WINDOW_MINUTES}")
    if spec.comparison == "anomaly" and spec.window_minutes > anomaly.MAX_WINDOW_MINUTES:
        raise InvalidArgument(
            f"window_minutes: an anomaly rule's is at most {anomaly.MAX_WINDOW_MINUTES} "
            f"(its baseline reaches back {anomaly.BASELINE_WINDOWS + 1} windows, read from "
            "minute rollups)"
        )
    group_by = _check_group(spec, model)
    return {
        **_check_drift(spec, model, group_by),
        "group_by": group_by,
        "name": name,
        "metric": spec.metric,
        "model": model,
        "comparison": spec.comparison,
        "threshold": float(spec.threshold),
        "window_minutes": spec.window_minutes,
    }


def _check_drift(spec: RuleSpec, model: str | None, group_by: str | None) -> dict[str, Any]:
    """A drift rule's own fields (feature, its fixed reference window), checked; a rule of
    another metric has none."""
    feature = spec.feature.strip() if spec.feature is not None else None
    reference = (spec.reference_start.strip(), spec.reference_end.strip())
    if spec.metric not in DRIFT_METRICS:
        if feature is not None:
            raise InvalidArgument("feature: only a feature_drift rule names a feature")
        if any(reference):
            named = "reference_start" if reference[0] else "reference_end"
            raise InvalidArgument(f"{named}: only a drift rule has a reference window")
        return {}
    if model is None:
        raise InvalidArgument(f"model: a {spec.metric} rule needs the ML model it judges")
    if spec.comparison not in ("gt", "lt"):
        raise InvalidArgument(f"comparison: a {spec.metric} rule compares its PSI with gt or lt")
    if group_by is not None:
        raise InvalidArgument(f"group_by: a {spec.metric} rule judges one model, not groups")
    if feature is not None and spec.metric != "feature_drift":
        raise InvalidArgument("feature: only a feature_drift rule names a feature")
    if feature is not None and not MIN_FEATURE <= len(feature) <= MAX_FEATURE:
        raise InvalidArgument(f"feature: {MIN_FEATURE}-{MAX_FEATURE} characters, or absent")
    fixed_reference(*reference)  # InvalidArgument naming the field
    return {"feature": feature, "reference_start": reference[0], "reference_end": reference[1]}


def _check_group(spec: RuleSpec, model: str | None) -> str | None:
    """The rule's group_by (None: ungrouped); InvalidArgument for one it cannot be judged by."""
    group_by = spec.group_by.strip()
    if not group_by:
        return None
    if group_by not in GROUPS:
        raise InvalidArgument(f"group_by: must be one of {', '.join(GROUPS)}, or empty")
    if spec.comparison == "anomaly" and group_by != "model":
        raise InvalidArgument(
            "group_by: an anomaly rule is grouped by model (each model against its own "
            "baseline) or not at all"
        )
    if group_by in ATTRIBUTION_GROUPS:
        if spec.metric not in ATTRIBUTION_METRICS:
            raise InvalidArgument(
                f"group_by: a rule grouped by {group_by} judges "
                f"{', '.join(ATTRIBUTION_METRICS)}, not {spec.metric}"
            )
        if model is not None:
            raise InvalidArgument(f"model: a rule grouped by {group_by} covers every model")
    return group_by


def never_fires(metric: str, comparison: str, threshold: float) -> str | None:
    """Why a rule with this metric, comparison and threshold can never fire (or, below the
    metric's range, never stop firing), or None. An anomaly rule's threshold is a z-score,
    more than 0 (at 0 every value but the mean would be an anomaly)."""
    shown = f"{threshold:g}"
    if comparison == "anomaly":
        if threshold <= 0:
            return f"an anomaly rule's threshold is a z-score, more than 0 (not {shown})"
        return None
    values = RANGES[metric]
    refusals = (
        (
            not values.low <= threshold <= values.high,
            f"{shown} is outside what {metric} can be ({values.what})",
        ),
        (
            comparison == "gt" and threshold >= values.high,
            f"{metric} is never above {values.high:g}, so 'gt {shown}' can never fire",
        ),
        (
            comparison == "lt" and threshold <= values.low,
            f"{metric} is never below {values.low:g}, so 'lt {shown}' can never fire",
        ),
    )
    return next((why for refused, why in refusals if refused), None)


def _warnings(rule: Rule, seen: dict[str, set[Kind]]) -> tuple[str, ...]:
    if rule.model is None:
        return ()
    kinds = seen.get(rule.model, set())
    wanted = KINDS[rule.metric]
    if kinds & set(wanted):
        return ()
    if kinds:  # e.g. a cost rule on an ML model
        only = " and ".join(k.upper() for k in wanted)
        return (
            f"model {rule.model!r} has no {only} events yet ({rule.metric} counts {only} events)",
        )
    return (f"model {rule.model!r} has no events yet",)


def _check_secret(secret: str) -> str:
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise InvalidArgument(f"webhook_secret: required, {MIN_SECRET}-{MAX_SECRET} characters")
    return secret


class RuleService:
    def __init__(
        self,
        storage: Storage,
        *,
        allow_private_webhooks: bool,
        audit: Auditor,
        writes: RateLimiter | None = None,
    ) -> None:
        self._storage = storage
        self._rules = storage.alert_rules
        self._events = storage.alert_events
        self._allow_private = allow_private_webhooks
        self._audit = audit
        self._writes = writes  # per client: creates, updates and deletes

    def _take_write(self, tenant: str, actor: str) -> None:
        """Before any work, so that refused writes cost no look-up (RESOURCE_EXHAUSTED with the
        delay after which a write passes)."""
        if self._writes is not None:
            self._writes.take(actor, tenant=tenant)

    async def _record(self, tenant: str, actor: str, action: str, rule: Rule | str) -> None:
        rule_id = rule if isinstance(rule, str) else rule.id
        details: Document = {"rule_id": rule_id}
        if not isinstance(rule, str):
            details.update(name=rule.name, metric=rule.metric)
        await self._audit.record("alerts", tenant, actor, action, details)

    async def _check_url(self, url: str) -> str:
        try:
            await check_url(url, allow_private=self._allow_private)
        except UnsafeTarget as exc:
            raise InvalidArgument(f"webhook_url: {exc}") from None
        return url.strip()

    async def _with_warnings(self, tenant: str, rules: list[Rule]) -> list[Rule]:
        """Each rule with what may keep it from firing, said on every answer: a model with no
        events (yet) is allowed, e.g. before its first deploy, but may also be a typo."""
        models = {rule.model for rule in rules if rule.model is not None}
        if not models:
            return rules
        seen = await kinds_with_events(self._storage, tenant, models)
        return [dataclasses.replace(r, warnings=_warnings(r, seen)) for r in rules]

    async def create(self, tenant: str, spec: RuleSpec, *, created_by: str) -> Rule:
        self._take_write(tenant, created_by)
        definition = _check_definition(spec)
        secret = _check_secret(spec.webhook_secret)
        url = await self._check_url(spec.webhook_url)
        if await self._rules.count_documents({"tenant": tenant}) >= MAX_RULES_PER_TENANT:
            raise InvalidArgument(f"a tenant may have at most {MAX_RULES_PER_TENANT} alert rules")
        now = _stored_precision(dt.datetime.now(dt.UTC))
        doc: Document = {
            "_id": f"ar_{secrets.token_hex(8)}",
            "tenant": tenant,
            **definition,
            "webhook_url": url,
            "webhook_secret": secret,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            # Evaluation state (collector.alerts.evaluate): `seq` counts state changes.
            "state": "ok",
            "state_since": now,
            "seq": 0,
            "recorded_seq": 0,
            "last_value": None,
            "last_evaluated_at": None,
            # A grouped rule: the values firing now, and the changes of its last move.
            "firing_groups": [],
            "group_changes": [],
        }
        await self._rules.insert_one(doc)
        rule = Rule.from_doc(doc)
        await self._record(tenant, created_by, "rule_created", rule)
        return (await self._with_warnings(tenant, [rule]))[0]

    async def list_rules(self, tenant: str) -> list[Rule]:
        cursor = self._rules.find({"tenant": tenant}, {"webhook_secret": 0}).sort("created_at", 1)
        return await self._with_warnings(tenant, [Rule.from_doc(doc) async for doc in cursor])

    async def get(self, tenant: str, rule_id: str) -> Rule:
        doc = await self._rules.find_one({"_id": rule_id, "tenant": tenant}, {"webhook_secret": 0})
        if doc is None:
            raise NotFound(f"alert rule {rule_id!r} not found")
        return (await self._with_warnings(tenant, [Rule.from_doc(doc)]))[0]

    async def update(self, tenant: str, rule_id: str, spec: RuleSpec, *, actor: str) -> Rule:
        """Replace the definition; an empty secret keeps the current one. State is kept."""
        self._take_write(tenant, actor)
        changes: Document = _check_definition(spec)
        if spec.webhook_secret:
            changes["webhook_secret"] = _check_secret(spec.webhook_secret)
        changes["webhook_url"] = await self._check_url(spec.webhook_url)
        changes["updated_at"] = _stored_precision(dt.datetime.now(dt.UTC))
        result = await self._rules.update_one({"_id": rule_id, "tenant": tenant}, {"$set": changes})
        if result.matched_count == 0:
            raise NotFound(f"alert rule {rule_id!r} not found")
        rule = await self.get(tenant, rule_id)
        await self._record(tenant, actor, "rule_updated", rule)
        return rule

    async def delete(self, tenant: str, rule_id: str, *, actor: str) -> None:
        """Delete the rule. Its events stay readable; undelivered webhooks are cancelled."""
        self._take_write(tenant, actor)
        result = await self._rules.delete_one({"_id": rule_id, "tenant": tenant})
        if result.deleted_count == 0:
            raise NotFound(f"alert rule {rule_id!r} not found")
        await self._events.update_many(
            {"rule_id": rule_id, "tenant": tenant, "delivery_status": "pending"},
            {"$set": {"delivery_status": "cancelled"}},
        )
        await self._record(tenant, actor, "rule_deleted", rule_id)

    async def list_events(self, tenant: str, rule_id: str = "", limit: int = 0) -> list[AlertEvent]:
        if limit < 0 or limit > MAX_EVENTS:
            raise InvalidArgument(f"limit: must be 1-{MAX_EVENTS}, or 0 for {DEFAULT_EVENTS}")
        query: Document = {"tenant": tenant}
        if rule_id:
            query["rule_id"] = rule_id
        cursor = self._events.find(query).sort([("time", -1), ("seq", -1)])
        return [AlertEvent.from_doc(d) async for d in cursor.limit(limit or DEFAULT_EVENTS)]
