"""Evaluation: judge every rule on its window's value and record each change of state.

States and transitions (a rule starts `ok`; "holds" = the value is known and
`value <comparison> threshold`):

    ok       --holds-->      firing     (notify)
    firing   --not holds-->  resolved   (notify)
    resolved --holds-->      firing     (notify)
    otherwise the state stays, and nothing is sent.

So a rule notifies only on a change: once when it starts firing, never while it keeps firing,
once when it resolves. An unknown value (e.g. error_rate with no requests) does not hold.

An anomaly rule (`comparison: "anomaly"`) holds when its value is far from its baseline's
usual (collector.alerts.anomaly.judge); grouped by model, each model against its own. Its
events also record the baseline's mean and deviation and the value's z-score, which its
webhooks carry.

A rule with `group_by` has a state per value of its group (a user, a session, a model): each
evaluation judges every value seen in the window, and every value firing so far (one no longer
seen has no value: it resolves). The values firing are kept on the rule (`firing_groups`, at
most MAX_FIRING_GROUPS); each change of one value's state is one event naming it in `group`.
The rule itself is "firing" while any value is.

Recording is idempotent without transactions. The rule document is the source of truth: its
state changes by compare-and-set on `seq` (the number of changes so far), so two evaluators
can never both move it. The change is then written to `alert_events` under the id
"<rule id>:<seq>" with $setOnInsert, and `recorded_seq` is advanced. If the process dies in
between, the next evaluation sees recorded_seq < seq and writes the missing event from the
rule's fields; the event id makes a second write a no-op. Delivery (webhooks.py) works from
`alert_events` alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from collector.alerts import anomaly
from collector.alerts.drift import DRIFT_METRICS, DriftValues
from collector.alerts.metrics import BaselineValues, GroupBaselines, GroupValues, WindowValue
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)


def holds(comparison: str, value: float | None, threshold: float) -> bool:
    if value is None:
        return False
    if comparison == "gt":
        return value > threshold
    if comparison == "lt":
        return value < threshold
    raise ValueError(f"comparison {comparison!r} is not judged on the value alone")


def next_state(state: str, condition_holds: bool) -> str:
    if condition_holds:
        return "firing"
    return "resolved" if state == "firing" else state


@dataclass
class Evaluation:
    rules: int = 0
    transitions: int = 0
    failed: int = 0


def transition_id(rule_id: str, seq: int) -> str:
    return f"{rule_id}:{seq}"


MAX_FIRING_GROUPS = 1000


def _event_fields(rule: Document) -> Document:
    return {
        "tenant": rule["tenant"],
        "rule_id": rule["_id"],
        "rule_name": rule["name"],
        "metric": rule["metric"],
        "model": rule.get("model"),
        "comparison": rule["comparison"],
        "threshold": rule["threshold"],
        "window_minutes": rule["window_minutes"],
        "delivery_status": "pending",
        "delivery_attempts": 0,
        # Wall-clock, not the evaluation's `now` (tests and backfills pass their own).
        "next_attempt_at": dt.datetime.now(dt.UTC),
        "claim_until": None,
        "delivered_at": None,
        "last_error": None,
    }


async def _record_groups(storage: Storage, rule: Document) -> None:
    """Write the events of a grouped rule's last move (`group_changes`), each once."""
    for change in rule.get("group_changes", []):
        if change["seq"] <= rule.get("recorded_seq", 0):
            continue
        await storage.alert_events.update_one(
            {"_id": transition_id(rule["_id"], change["seq"])},
            {
                "$setOnInsert": {
                    **_event_fields(rule),
                    "seq": change["seq"],
                    "previous_state": change["previous_state"],
                    "state": change["state"],
                    "value": change["value"],
                    **{k: change[k] for k in ("baseline", "z") if k in change},
                    "group": {rule["group_by"]: change["group"]},
                    "time": change["time"],
                }
            },
            upsert=True,
        )
    await storage.alert_rules.update_one(
        {"_id": rule["_id"], "recorded_seq": {"$lt": rule["seq"]}},
        {"$set": {"recorded_seq": rule["seq"]}},
    )


async def _record(storage: Storage, rule: Document) -> None:
    """Write the alert event for the rule's current state change (`seq`), once."""
    if rule.get("group_by"):
        await _record_groups(storage, rule)
        return
    seq = rule["seq"]
    await storage.alert_events.update_one(
        {"_id": transition_id(rule["_id"], seq)},
        {
            "$setOnInsert": {
                "tenant": rule["tenant"],
                "rule_id": rule["_id"],
                "rule_name": rule["name"],
                "metric": rule["metric"],
                "model": rule.get("model"),
                "seq": seq,
                "previous_state": rule["previous_state"],
                "state": rule["state"],
                "value": rule.get("state_value"),
                "comparison": rule["comparison"],
                "threshold": rule["threshold"],
                "window_minutes": rule["window_minutes"],
                "time": rule["state_since"],
                **_anomaly_fields(rule),
                **_drift_fields(rule),
                "delivery_status": "pending",
                "delivery_attempts": 0,
                # Wall-clock, not the evaluation's `now` (tests and backfills pass their own).
                "next_attempt_at": dt.datetime.now(dt.UTC),
                "claim_until": None,
                "delivered_at": None,
                "last_error": None,
            }
        },
        upsert=True,
    )
    await storage.alert_rules.update_one(
        {"_id": rule["_id"], "recorded_seq": {"$lt": seq}}, {"$set": {"recorded_seq": seq}}
    )


def _drift_fields(rule: Document) -> Document:
    """What a drift rule's event adds: the features at warning or drift at its change."""
    if rule["metric"] not in DRIFT_METRICS:
        return {}
    return {"features": rule.get("state_features") or []}


def _anomaly_fields(rule: Document) -> Document:
    """What an anomaly rule's event adds: the baseline and z-score at its change."""
    if rule["comparison"] != "anomaly":
        return {}
    return {"baseline": rule.get("state_baseline"), "z": rule.get("state_z")}


async def evaluate_rule(
    storage: Storage,
    window_value: WindowValue,
    rule: Document,
    now: dt.datetime,
    baseline_values: BaselineValues,
    drift_values: DriftValues,
) -> bool:
    """Judge one rule at `now`; True if its state changed."""
    if rule.get("recorded_seq", 0) < rule["seq"]:
        await _record(storage, rule)  # a change whose event was not written (crash)
    start = now - dt.timedelta(minutes=rule["window_minutes"])
    found: Document = {}
    if rule["comparison"] == "anomaly":
        value, windows = await baseline_values(
            rule["tenant"], rule["metric"], rule.get("model"), start, now
        )
        judged = anomaly.judge(value, windows, rule["threshold"])
        condition = judged.holds
        found = {f"state_{k}": v for k, v in _anomaly_extra(judged).items()}
    elif rule["metric"] in DRIFT_METRICS:
        drifted = await drift_values(rule, start, now)
        value = drifted.value
        condition = holds(rule["comparison"], value, rule["threshold"])
        found = {"state_features": drifted.features}
    else:
        value = await window_value(rule["tenant"], rule["metric"], rule.get("model"), start, now)
        condition = holds(rule["comparison"], value, rule["threshold"])
    state = next_state(rule["state"], condition)
    seen = {"last_value": value, "last_evaluated_at": now}
    if state == rule["state"]:
        await storage.alert_rules.update_one(
            {"_id": rule["_id"], "seq": rule["seq"]}, {"$set": seen}
        )
        return False
    change = {
        **seen,
        "seq": rule["seq"] + 1,
        "previous_state": rule["state"],
        "state": state,
        "state_since": now,
        "state_value": value,
        **found,
    }
    moved = await storage.alert_rules.update_one(
        {"_id": rule["_id"], "seq": rule["seq"]}, {"$set": change}
    )
    if moved.matched_count == 0:
        return False  # deleted, or moved by another evaluator in the meantime
    await _record(storage, {**rule, **change})
    log.info("alert rule %s: %s -> %s (value %s)", rule["_id"], rule["state"], state, value)
    return True


@dataclass(frozen=True)
class Verdict:
    """One group's value at an evaluation, whether the rule's condition holds on it, and
    what its event adds (an anomaly rule's baseline and z-score)."""

    value: float | None
    holds: bool
    extra: Document


def _anomaly_extra(judged: anomaly.Judgement | None) -> Document:
    base = None if judged is None else judged.baseline
    return {
        "baseline": None if base is None else {"mean": base.mean, "std": base.std},
        "z": None if judged is None else judged.z,
    }


def _group_changes(
    rule: Document, verdicts: dict[str, Verdict], now: dt.datetime
) -> tuple[list[Document], list[Document]]:
    """(the changes of this evaluation, the values firing after it). A value firing so far
    and not judged now (no longer seen) is unknown: it resolves."""
    by = rule["group_by"]
    firing = {g["group"]: g for g in rule.get("firing_groups", []) if g.get("by") == by}
    unseen = Verdict(None, False, _anomaly_extra(None) if rule["comparison"] == "anomaly" else {})
    changes: list[Document] = []
    still: list[Document] = []
    for group in sorted(firing):
        verdict = verdicts.get(group, unseen)
        if verdict.holds:
            still.append(firing[group])
        else:
            changes.append(
                {
                    "group": group,
                    "previous_state": "firing",
                    "state": "resolved",
                    "value": verdict.value,
                    **verdict.extra,
                }
            )
    room = MAX_FIRING_GROUPS - len(still)
    started = [g for g in sorted(verdicts) if g not in firing and verdicts[g].holds]
    for group in started[: max(room, 0)]:
        verdict = verdicts[group]
        changes.append(
            {
                "group": group,
                "previous_state": "ok",
                "state": "firing",
                "value": verdict.value,
                **verdict.extra,
            }
        )
        still.append({"by": by, "group": group, "since": now})
    return [{**c, "time": now} for c in changes], still


async def _verdicts(
    rule: Document,
    now: dt.datetime,
    group_values: GroupValues,
    group_baselines: GroupBaselines,
) -> dict[str, Verdict]:
    """Each group's verdict: its value against the threshold, or (an anomaly rule, grouped by
    model) against its own baseline."""
    start = now - dt.timedelta(minutes=rule["window_minutes"])
    tenant, metric, model = rule["tenant"], rule["metric"], rule.get("model")
    if rule["comparison"] == "anomaly":
        found = await group_baselines(tenant, metric, model, start, now)
        verdicts: dict[str, Verdict] = {}
        for group, (value, windows) in found.items():
            judged = anomaly.judge(value, windows, rule["threshold"])
            verdicts[group] = Verdict(value, judged.holds, _anomaly_extra(judged))
        return verdicts
    values = await group_values(tenant, metric, rule["group_by"], model, start, now)
    return {
        group: Verdict(value, holds(rule["comparison"], value, rule["threshold"]), {})
        for group, value in values.items()
    }


async def evaluate_grouped(
    storage: Storage,
    group_values: GroupValues,
    rule: Document,
    now: dt.datetime,
    group_baselines: GroupBaselines,
) -> int:
    """Judge one grouped rule at `now`; returns how many values changed state."""
    if rule.get("recorded_seq", 0) < rule["seq"]:
        await _record(storage, rule)  # changes whose events were not written (crash)
    verdicts = await _verdicts(rule, now, group_values, group_baselines)
    values = {group: verdict.value for group, verdict in verdicts.items()}
    changes, firing = _group_changes(rule, verdicts, now)
    known = [v for v in values.values() if v is not None]
    seen = {"last_value": max(known) if known else None, "last_evaluated_at": now}
    if not changes:
        await storage.alert_rules.update_one(
            {"_id": rule["_id"], "seq": rule["seq"]}, {"$set": seen}
        )
        return 0
    state = next_state(rule["state"], bool(firing))
    seq = rule["seq"]
    change = {
        **seen,
        "seq": seq + len(changes),
        "group_changes": [{**c, "seq": seq + 1 + i} for i, c in enumerate(changes)],
        "firing_groups": firing,
    }
    if state != rule["state"]:
        change |= {"previous_state": rule["state"], "state": state, "state_since": now}
    moved = await storage.alert_rules.update_one({"_id": rule["_id"], "seq": seq}, {"$set": change})
    if moved.matched_count == 0:
        return 0  # deleted, or moved by another evaluator in the meantime
    await _record(storage, {**rule, **change})
    log.info("alert rule %s: %d group(s) changed state", rule["_id"], len(changes))
    return len(changes)


async def evaluate_rules(
    storage: Storage,
    window_value: WindowValue,
    now: dt.datetime,
    group_values: GroupValues,
    baseline_values: BaselineValues,
    group_baselines: GroupBaselines,
    drift_values: DriftValues | None = None,
) -> Evaluation:
    """Judge every rule of every tenant at `now`. One rule failing does not stop the rest."""
    result = Evaluation()
    drift_values = drift_values or DriftValues(storage)
    async for rule in storage.alert_rules.find({}, {"webhook_secret": 0}):
        result.rules += 1
        try:
            if rule.get("group_by"):
                result.transitions += await evaluate_grouped(
                    storage, group_values, rule, now, group_baselines
                )
            elif await evaluate_rule(
                storage, window_value, rule, now, baseline_values, drift_values
            ):
                result.transitions += 1
        except Exception:
            log.exception("alert rule %s: evaluation failed", rule["_id"])
            result.failed += 1
    return result
