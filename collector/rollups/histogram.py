"""Fixed log-spaced latency buckets, so that percentiles merge across any set of buckets.

Bucket i holds latencies in [R**i, R**(i+1)) ms, R = 2**(1/16): a reported percentile is the
upper edge of the bucket the true value falls in (clamped to the observed min and max), so it
is within one bucket, about 4.4 %, of the exact answer. Zero and negative latencies share the
bucket "z". Histograms are stored sparse, as {str(i): count}.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

STEPS_PER_DOUBLING = 16
RATIO = 2.0 ** (1 / STEPS_PER_DOUBLING)
ZERO = "z"

Histogram = dict[str, int]


def bucket_of(ms: float) -> str:
    if ms <= 0:
        return ZERO
    return str(math.floor(math.log2(ms) * STEPS_PER_DOUBLING))


def bounds(bucket: str) -> tuple[float, float]:
    """[lower, upper) in ms."""
    if bucket == ZERO:
        return (0.0, 0.0)
    i = int(bucket)
    return (RATIO**i, RATIO ** (i + 1))


def add(into: Histogram, other: Mapping[str, int]) -> None:
    for bucket, count in other.items():
        into[bucket] = into.get(bucket, 0) + count


def _order(bucket: str) -> float:
    return -math.inf if bucket == ZERO else int(bucket)


def percentile(hist: Mapping[str, int], q: float, low: float, high: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) within one bucket; low/high: observed min, max."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(hist, key=_order):
        seen += hist[bucket]
        if seen >= rank:
            return min(max(bounds(bucket)[1], low), high)
    return high
