"""Delivery counters: what the application logged and what became of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Counters:
    """Mutated on the sender's event loop only."""

    sent: int = 0
    acked: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches_sent: int = 0
    batches_acked: int = 0
    retries: int = 0
    server_delays: int = 0
    reauthentications: int = 0
    transport: str = ""
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Stats:
    """A snapshot. Every logged event ends up acked (accepted, duplicate or rejected) or dropped."""

    logged: int  # events taken into the buffer
    sent: int  # events transmitted, resends included
    acked: int  # events in acknowledged batches: accepted + duplicates + rejected
    accepted: int  # newly stored by the server
    duplicates: int  # already stored under the same event_id (e.g. a resend); not stored again
    rejected: int  # invalid, refused by the server per event; never retried
    dropped: int  # given up: buffer full, non-retryable batch failure, oversized, close timeout
    pending: int  # held now: queued, or sent and not yet acknowledged
    batches_sent: int
    batches_acked: int
    retries: int  # failed streams/requests/logins that were tried again
    server_delays: int  # retries that waited as the server said (RetryInfo / Retry-After)
    logins: int
    reauthentications: int  # logins forced by UNAUTHENTICATED (not the planned refresh)
    fallbacks: int  # switches from gRPC to REST
    transport: str  # "grpc" or "rest": the one used last
    errors: Mapping[str, int]  # failures by status code name
