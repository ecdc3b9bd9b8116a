"""Per-client rate limits: token buckets kept in this process's memory.

Each replica keeps its own buckets, so behind a balancer spreading one client over N replicas
the client gets up to N times the configured rate. That is the documented trade-off: no
shared state and no database round trip on the hot path.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from collector import metrics
from collector.audit import Auditor
from collector.errors import ResourceExhausted

# Buckets of this many keys at most; the least recently used is forgotten first (a forgotten
# bucket starts full again, the same as a client that was idle long enough).
MAX_KEYS = 100_000
# A refusal is written to the audit log at most this often per key and limit.
AUDIT_EVERY_S = 60.0


@dataclass
class _Bucket:
    tokens: float
    updated: float
    audited: float = -math.inf


class RateLimiter:
    """Token buckets of `capacity` tokens refilled at `rate` per second, one per key.

    A cost larger than the capacity is let through when the bucket is full and leaves it in
    debt, so a large batch is never refused for ever; the debt is paid before the next call.
    """

    def __init__(
        self,
        name: str,
        rate: float,
        capacity: float,
        *,
        action: str,
        audit: Auditor | None,
        metric: metrics.RateLimit,
    ) -> None:
        self.name = name
        self._metric = metrics.RATE_LIMITED.labels(metric)
        self.rate = rate
        self.capacity = capacity
        self._action = action  # what a refusal is recorded as in the audit log
        self._audit = audit
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def wait_s(self, key: str, cost: float = 1.0) -> float:
        """Seconds until `cost` could be taken; 0 when it can be now. Takes nothing."""
        if not self.enabled:
            return 0.0
        bucket = self._bucket(key, time.monotonic())
        needed = min(cost, self.capacity)
        return 0.0 if bucket.tokens >= needed else (needed - bucket.tokens) / self.rate

    def take(self, key: str, cost: float = 1.0, *, tenant: str | None = None) -> None:
        """Take `cost` tokens, or raise ResourceExhausted with the delay after which the same
        call succeeds (RetryInfo over gRPC, Retry-After over REST)."""
        if not self.enabled:
            return
        wait = self.wait_s(key, cost)
        if wait > 0:
            self.refused(key, tenant)
            raise ResourceExhausted(
                f"rate limit: {self.name} exceeded for this client, retry after {wait:.2f} s",
                retry_after=wait,
            )
        self._buckets[key].tokens -= cost

    def refused(self, key: str, tenant: str | None) -> None:
        """Count a refusal, and record it in the audit log once per key and AUDIT_EVERY_S."""
        self._metric.inc()
        if self._audit is not None and self.should_audit(key):
            self._audit.later(
                "rate_limit", tenant, key[:128], self._action, {"limit_per_s": self.rate}
            )

    def refund(self, key: str, cost: float = 1.0) -> None:
        """Give back what take() took, for a call that turned out not to count."""
        if self.enabled:
            bucket = self._bucket(key, time.monotonic())
            bucket.tokens = min(self.capacity, bucket.tokens + cost)

    def should_audit(self, key: str) -> bool:
        """True for the first refusal of a key within AUDIT_EVERY_S, so that a client
        hammering past its limit cannot flood the audit log."""
        bucket = self._buckets.get(key)
        now = time.monotonic()
        if bucket is None or now - bucket.audited < AUDIT_EVERY_S:
            return False
        bucket.audited = now
        return True


@dataclass(frozen=True)
class Limits:
    """The collector's limits, from RATE_LIMIT_INGEST_PER_S, RATE_LIMIT_READ_PER_S,
    AUTH_ATTEMPTS_PER_MIN and ALERT_RULE_WRITES_PER_MIN (0 turns one off)."""

    ingest: RateLimiter  # events per second per client, burst of the same size
    read: RateLimiter  # read RPCs per second per client, burst of the same size
    auth: RateLimiter  # failed token requests per client id per minute
    alert_writes: RateLimiter  # alert rule creates/updates/deletes per client per minute

    @classmethod
    def per_client(
        cls,
        *,
        ingest_per_s: float,
        read_per_s: float,
        auth_attempts_per_min: float,
        alert_rule_writes_per_min: float = 0,
        audit: Auditor | None,
    ) -> Limits:
        return cls(
            # A burst of at least one call, so that a rate below 1/s still lets calls through.
            ingest=RateLimiter(
                "events per second",
                ingest_per_s,
                max(ingest_per_s, 1.0),
                action="ingest_rate_limited",
                metric="ingest",
                audit=audit,
            ),
            read=RateLimiter(
                "read calls per second",
                read_per_s,
                max(read_per_s, 1.0),
                action="read_rate_limited",
                metric="read",
                audit=audit,
            ),
            auth=RateLimiter(
                "failed token requests per minute",
                auth_attempts_per_min / 60.0,
                max(auth_attempts_per_min, 1.0),
                action="auth_rate_limited",
                metric="auth",
                audit=None,  # collector.auth_service records these itself
            ),
            alert_writes=RateLimiter(
                "alert rule writes per minute",
                alert_rule_writes_per_min / 60.0,
                max(alert_rule_writes_per_min, 1.0),
                action="alert_rule_writes_rate_limited",
                metric="alert_writes",
                audit=audit,
            ),
        )
