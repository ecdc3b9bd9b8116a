"""The domain types every part of the collector shares, and the one rule for tenant key ranges.

Kept here, at the bottom of the collector's layers, so that ingest, export, the tail, rollups
and alerts name the same things without importing each other.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ml", "llm"]
Tier = Literal["minute", "hour", "day"]  # what a range is split over, and series intervals
# The field that names an event's model, per kind.
MODEL_KEY: dict[Kind, str] = {"ml": "model_id", "llm": "model_name"}
# An LLM event's content (collector.ingest.content): stored on the raw event only, never in
# rollups, recent events, metrics, logs or the live tail.
CONTENT_FIELDS: tuple[str, ...] = ("input", "output", "system")
# No event or span is older (collector.ingest.validation refuses it): reads need not look
# further back.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the only source of the tenant for any read or write."""

    client_id: str
    tenant: str
    scopes: frozenset[str]
    # The client's secret version when the token was issued (claim "sv", absent = 0): tokens
    # of a rotated-away secret stop working once the rotation's grace period ends.
    secret_version: int = 0
    expires_at: float = math.inf  # epoch seconds; a stream ends then
    token_id: str = ""  # the jti


def prefix_range(prefix: str) -> dict[str, str]:
    """A MongoDB range that holds exactly the string `_id`s starting with `prefix`.

    Keys are "<tenant><separator>…" with a separator that tenants cannot contain (":" or "|"),
    so the upper bound is the prefix with its separator's next character: nothing else sorts
    between them."""
    if not prefix:
        raise ValueError("an empty prefix is every key")
    return {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
