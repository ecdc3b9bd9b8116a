"""Per-client rate limits and sign-in limits: token buckets kept in this process's memory.

Each replica keeps its own buckets, so behind a balancer spreading one client over N replicas
the client gets up to N times the configured rate. That is the documented trade-off: no
shared state and no database round trip on the hot path.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from collector import prometheus as metrics
from collector.auth.audit import Auditor
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._metric = metrics.RATE_LIMITED.labels(metric)
        self.rate = rate
        self.capacity = capacity
        self._action = action  # what a refusal is recorded as in the audit log
        self._audit = audit
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._clock = clock

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
        bucket = self._bucket(key, self._clock())
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
            bucket = self._bucket(key, self._clock())
            bucket.tokens = min(self.capacity, bucket.tokens + cost)

    def should_audit(self, key: str) -> bool:
        """True for the first refusal of a key within AUDIT_EVERY_S, so that a client
        hammering past its limit cannot flood the audit log."""
        bucket = self._buckets.get(key)
        now = self._clock()
        if bucket is None or now - bucket.audited < AUDIT_EVERY_S:
            return False
        bucket.audited = now
        return True


# Sign-in limits (LoginLimits), as multiples of AUTH_ATTEMPTS_PER_MIN: failures from one
# source address over every client id, and failures for one client id from sources that have
# not signed in as it before.
SOURCE_FACTOR = 5
CLIENT_FACTOR = 10
# A source that signed in as a client is known to it this long (and at most MAX_KEYS pairs).
KNOWN_SOURCE_S = 24 * 3600.0


@dataclass(frozen=True)
class LoginAttempt:
    """The failure tokens one sign-in attempt took, given back if it succeeds."""

    pair: str  # client id and source
    source: str
    client: str | None  # None: a known source, exempt from the per-client-id limit


class LoginLimits:
    """Failed sign-ins (client credentials, on /auth/token and as HTTP Basic), counted so that
    no stranger can lock a client out.

    - per client id and source address: AUTH_ATTEMPTS_PER_MIN. Past it the source is refused
      for that client id even with the right secret: a guesser learns nothing more.
    - per source address, over every client id: SOURCE_FACTOR times that (spraying ids).
    - per client id, from sources it has not signed in from: CLIENT_FACTOR times that, which
      slows guessing spread over many addresses without refusing the client's own sources.
    A correct secret from a source that has not been failing always passes; argon2's cost
    (collector.auth.clients) bounds the speed of whatever is let through.

    An attempt is counted before its secret is checked, so concurrent guesses cannot overrun
    a limit, and given back when it succeeds: only failures count.
    """

    def __init__(self, attempts_per_min: float, *, clock: Callable[[], float] = time.monotonic):
        def limiter(name: str, factor: float) -> RateLimiter:
            per_min = attempts_per_min * factor
            return RateLimiter(
                name,
                per_min / 60.0,
                max(per_min, 1.0),
                action="auth_rate_limited",
                metric="auth",
                audit=None,  # collector.auth.service records these itself
                clock=clock,
            )

        self.pair = limiter("failed sign-ins per minute for this client id from this address", 1)
        self.source = limiter("failed sign-ins per minute from this address", SOURCE_FACTOR)
        self.client = limiter(
            "failed sign-ins per minute for this client id from new addresses", CLIENT_FACTOR
        )
        self._clock = clock
        self._known: OrderedDict[str, float] = OrderedDict()  # pair → when it last signed in

    @property
    def enabled(self) -> bool:
        return self.pair.enabled

    @staticmethod
    def _pair(client_id: str, source: str) -> str:
        return f"{client_id[:128]}\x00{source}"

    def _is_known(self, pair: str) -> bool:
        since = self._known.get(pair)
        if since is None:
            return False
        if self._clock() - since > KNOWN_SOURCE_S:
            del self._known[pair]
            return False
        return True

    def reserve(self, client_id: str, source: str) -> LoginAttempt:
        """Count an attempt, or raise ResourceExhausted (nothing taken) with the delay after
        which the same attempt would be let through."""
        pair = self._pair(client_id, source)
        attempt = LoginAttempt(pair, source, None if self._is_known(pair) else client_id[:128])
        if not self.enabled:
            return attempt
        checks = [(self.pair, pair), (self.source, source)]
        if attempt.client is not None:
            checks.append((self.client, attempt.client))
        refusals = [(limiter, limiter.wait_s(key)) for limiter, key in checks]
        refusals = [(limiter, wait) for limiter, wait in refusals if wait > 0]
        if refusals:
            limiter, wait = max(refusals, key=lambda refusal: refusal[1])
            limiter.refused(pair, None)
            raise ResourceExhausted(
                f"too many {limiter.name}; retry after {math.ceil(wait)} s",
                retry_after=wait,
                reason="slow_down",
            )
        for limiter, key in checks:
            limiter.take(key)
        return attempt

    def should_audit(self, client_id: str, source: str) -> bool:
        return self.pair.should_audit(self._pair(client_id, source))

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The secret was right: give the attempt back, and know the source from now on."""
        self.void(attempt)
        self._known[attempt.pair] = self._clock()
        self._known.move_to_end(attempt.pair)
        if len(self._known) > MAX_KEYS:
            self._known.popitem(last=False)

    def void(self, attempt: LoginAttempt) -> None:
        """Give back an attempt that was no guess (e.g. the database did not answer)."""
        self.pair.refund(attempt.pair)
        self.source.refund(attempt.source)
        if attempt.client is not None:
            self.client.refund(attempt.client)


@dataclass(frozen=True)
class Limits:
    """The collector's limits, from RATE_LIMIT_INGEST_PER_S, RATE_LIMIT_READ_PER_S,
    AUTH_ATTEMPTS_PER_MIN and ALERT_RULE_WRITES_PER_MIN (0 turns one off)."""

    ingest: RateLimiter  # events per second per client, burst of the same size
    read: RateLimiter  # read RPCs per second per client, burst of the same size
    auth: LoginLimits  # failed sign-ins per client id and source address per minute
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
            auth=LoginLimits(auth_attempts_per_min),
            alert_writes=RateLimiter(
                "alert rule writes per minute",
                alert_rule_writes_per_min / 60.0,
                max(alert_rule_writes_per_min, 1.0),
                action="alert_rule_writes_rate_limited",
                metric="alert_writes",
                audit=audit,
            ),
        )
