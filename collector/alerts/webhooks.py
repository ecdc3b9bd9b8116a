"""Signed webhook attempts for alert events, with retries; every attempt is recorded.
(collector.alerts.delivery decides when attempts run.)

Request: POST, JSON body {"id", "name", "state", "value", "threshold", "window_minutes",
"time", and for a grouped rule "group": {"user_id": …}, for an anomaly rule "baseline":
{"mean", "std"} (null with too few baseline windows) and "z" (null when std is 0)} (the rule's
id and name, and the state change), headers
`X-Aegis-Timestamp: <unix seconds>` and
`X-Aegis-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed by the secret>`,
plus `X-Aegis-Event-Id` (the same for every attempt of one event). A 2xx status (with its
headers, within the attempt's deadline, `timeout_s` for the whole request; the body is never
read) is a delivery; anything else, no reply by the deadline or a refused target is a failed
attempt, retried with exponential backoff up to `max_attempts`, then the event is `failed`.

Exactly one delivery per event: an attempt first claims the event by compare-and-set on its
attempt count, and its outcome is written under the same condition, so two deliverers never
send the same attempt. A rule's events go out in order: a later one waits until the earlier
one is delivered or given up. (If the process dies after the receiver answered but before
the outcome is written, that attempt is repeated: receivers can drop repeats by event id.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from collector.alerts.ssrf import UnsafeTarget, check_url
from collector.prometheus import WEBHOOK_DELIVERIES
from collector.query.rounding import significant
from collector.store.storage import Document, Storage

log = logging.getLogger(__name__)
USER_AGENT = "AegisAI-Webhook/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    # One attempt as a whole: look-up, connect, send, status line and headers. (httpx's own
    # timeout bounds each read, and a receiver dripping a byte at a time never trips it.)
    timeout_s: float = 10.0
    max_attempts: int = 10
    backoff_base_s: float = 1.0  # attempt n waits base * 2**(n-1), at most backoff_max_s
    backoff_max_s: float = 600.0
    # Once woken, keep waiting at most this long for a retry to fall due; later ones are left
    # to the next wake (the next evaluation).
    horizon_s: float = 30.0
    concurrency: int = 32  # attempts in flight, all tenants together
    per_tenant: int = 4  # attempts in flight for one tenant
    # Each database operation of an attempt (claim, record, outcome) has this long, its own
    # deadline: never what is left of a job run's, or a 200 could go unrecorded and be resent.
    db_timeout_s: float = 10.0

    def backoff_s(self, attempt: int) -> float:
        return float(min(self.backoff_base_s * 2 ** (attempt - 1), self.backoff_max_s))

    @property
    def claim_s(self) -> float:
        """How long an attempt holds its event: the send and three writes after the claim."""
        return self.timeout_s + 3 * self.db_timeout_s + 30


@dataclass
class DeliveryCounts:
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(event: Document) -> bytes:
    data = {
        "id": event["rule_id"],
        "name": event["rule_name"],
        "state": event["state"],
        "value": significant(event.get("value")),
        "threshold": significant(event["threshold"]),
        "window_minutes": event["window_minutes"],
        "time": _iso(event["time"]),
    }
    if event.get("group"):
        data["group"] = event["group"]  # a grouped rule's value, e.g. {"user_id": "u-42"}
    if "baseline" in event:  # an anomaly rule's
        base = event["baseline"]
        data["baseline"] = (
            None
            if base is None
            else {"mean": significant(base["mean"]), "std": significant(base["std"])}
        )
        data["z"] = significant(event.get("z"))
    if "features" in event:  # a drift rule's: the features at warning or drift
        data["features"] = [
            {"name": f["name"], "psi": significant(f["psi"]), "status": f["status"]}
            for f in event["features"]
        ]
    return json.dumps(data, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, raw_body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def ready_at(event: Document) -> dt.datetime:
    """When the event's next attempt may start: it is due and nobody holds a claim on it."""
    claim = event.get("claim_until")
    return max(event["next_attempt_at"], claim) if claim else event["next_attempt_at"]


class Sender:
    """Makes one attempt of an event at a time: claim, send, record, and the outcome."""

    def __init__(
        self,
        storage: Storage,
        client: httpx.AsyncClient,
        *,
        allow_private: bool,
        policy: DeliveryPolicy,
    ) -> None:
        self._s = storage
        self._client = client
        self._allow_private = allow_private
        self._policy = policy
        self.counts = DeliveryCounts()

    def _db(self) -> contextlib.AbstractContextManager[None]:
        return pymongo.timeout(self._policy.db_timeout_s)

    async def heads(self) -> list[Document]:
        """The oldest pending event of each rule: the only one of the rule that may go now."""
        heads: dict[str, Document] = {}
        with self._db():
            cursor = self._s.alert_events.find({"delivery_status": "pending"}).sort(
                [("rule_id", 1), ("seq", 1)]
            )
            async for event in cursor:
                heads.setdefault(event["rule_id"], event)
        return list(heads.values())

    async def attempt(self, event: Document) -> None:
        """The event's next attempt, unless another deliverer has claimed it. Never raises."""
        try:
            await self._claimed_attempt(event)
        except PyMongoError as exc:
            # Its claim expires and the attempt is made again: receivers drop repeats by id.
            log.warning("alert event %s: attempt not recorded (%s)", event["_id"], exc)
        except Exception:
            log.exception("alert event %s: attempt failed", event["_id"])

    async def _claimed_attempt(self, event: Document) -> None:
        done = event["delivery_attempts"]
        now = dt.datetime.now(dt.UTC)
        with self._db():
            claimed = await self._s.alert_events.find_one_and_update(
                {
                    "_id": event["_id"],
                    "delivery_status": "pending",
                    "delivery_attempts": done,
                    "$or": [{"claim_until": None}, {"claim_until": {"$lte": now}}],
                },
                {"$set": {"claim_until": now + dt.timedelta(seconds=self._policy.claim_s)}},
            )
        if claimed is None:
            return  # another deliverer has it, or it has moved on
        with self._db():
            rule = await self._s.alert_rules.find_one({"_id": event["rule_id"]})
        if rule is None:
            await self._finish(event, {"delivery_status": "cancelled"})
            return
        attempt = done + 1
        status_code, error, started = None, None, time.monotonic()
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                status_code = await self._send(event, rule)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except TimeoutError:
            error = f"no reply within {self._policy.timeout_s:g} s (the whole request)"
        except UnsafeTarget as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await self._record_attempt(event, attempt, status_code, error, started)
        self._note(event, attempt, error)
        outcome: dict[str, Any] = {"delivery_attempts": attempt, "last_error": error}
        if error is None:
            outcome |= {"delivery_status": "delivered", "delivered_at": dt.datetime.now(dt.UTC)}
        elif attempt >= self._policy.max_attempts:
            outcome["delivery_status"] = "failed"
        else:
            delay = dt.timedelta(seconds=self._policy.backoff_s(attempt))
            outcome["next_attempt_at"] = dt.datetime.now(dt.UTC) + delay
        await self._finish(event, outcome)

    async def _send(self, event: Document, rule: Document) -> int:
        # Checked again now: DNS may have changed since the rule was saved.
        target = await check_url(rule["webhook_url"], allow_private=self._allow_private)
        raw = body(event)
        timestamp = int(time.time())
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Aegis-Timestamp": str(timestamp),
            "X-Aegis-Signature": signature(rule["webhook_secret"], timestamp, raw),
            "X-Aegis-Event-Id": event["_id"],
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        request = self._client.build_request(
            "POST", target.url, content=raw, headers=headers, extensions=extensions
        )
        # Streamed and never read: a receiver cannot make us hold a large reply.
        response = await self._client.send(request, stream=True)
        await response.aclose()
        return response.status_code

    async def _record_attempt(
        self,
        event: Document,
        attempt: int,
        status_code: int | None,
        error: str | None,
        started: float,
    ) -> None:
        # A duplicate: this very attempt was recorded by an earlier try.
        with contextlib.suppress(DuplicateKeyError), self._db():
            await self._s.alert_deliveries.insert_one(
                {
                    "_id": f"{event['_id']}:{attempt}",
                    "tenant": event["tenant"],
                    "rule_id": event["rule_id"],
                    "transition_id": event["_id"],
                    "attempt": attempt,
                    "status_code": status_code,
                    "error": error,
                    "ok": error is None,
                    "time": dt.datetime.now(dt.UTC),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                }
            )

    async def _finish(self, event: Document, outcome: Document) -> None:
        with self._db():
            await self._s.alert_events.update_one(
                {"_id": event["_id"], "delivery_attempts": event["delivery_attempts"]},
                {"$set": {**outcome, "claim_until": None}},
            )

    def _note(self, event: Document, attempt: int, error: str | None) -> None:
        # The rule id only: URLs can carry tokens in their path, secrets never appear.
        WEBHOOK_DELIVERIES.labels("delivered" if error is None else "failed").inc()
        if error is None:
            self.counts.delivered += 1
            log.info("alert event %s delivered (attempt %d)", event["_id"], attempt)
            return
        self.counts.failed_attempts += 1
        if attempt >= self._policy.max_attempts:
            self.counts.given_up += 1
        log.warning("alert event %s: attempt %d failed: %s", event["_id"], attempt, error)
