"""The retry policy: which failures are worth retrying, and how long to wait before the next try.

Modelled on opentelemetry-python's OTLP gRPC exporter: exponential backoff with jitter, and a
server-given delay (google.rpc.RetryInfo in grpc-status-details-bin, or HTTP Retry-After)
wins over our own guess. Unlike that exporter we never give up on a failure that is not FINAL:
the events stay in the bounded buffer, whose on_full policy is what limits the damage.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random

import grpc

from aegis_sdk.status import grpc_code, retry_info_delay

# A definite answer about the batch itself: resending the same bytes cannot change it, so the
# batch is dropped (and logged). Every other failure -- UNAVAILABLE, INTERNAL ("Internal error
# from Core" when a stream is cut mid-write, grpc/grpc#36066), UNKNOWN, CANCELLED, DATA_LOSS, a
# reset, a timeout -- says nothing about the batch, and every event carries an id the server
# deduplicates, so resending is always safe. UNAUTHENTICATED is handled apart: log in again.
FINAL = frozenset({"INVALID_ARGUMENT", "PERMISSION_DENIED"})
# Failures that say "this server is not reachable" rather than "this server is busy".
UNREACHABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})

JITTER = 0.2


class TransportError(Exception):
    """A failed login, stream or request, described the same way for gRPC and REST."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        sequence: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after  # the server's own delay, when it gave one
        self.sequence = sequence  # the batch to blame, when the transport knows it

    @property
    def final(self) -> bool:
        """The server refused the batch itself; see FINAL."""
        return self.code in FINAL


def from_rpc_error(error: grpc.aio.AioRpcError) -> TransportError:
    return TransportError(
        error.code().name,
        error.details() or error.code().name,
        retry_after=retry_info_delay(error.trailing_metadata()),
    )


def retry_after_header(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def from_http(status: int, message: str, retry_after: str | None) -> TransportError:
    code = grpc_code(status).name
    return TransportError(code, message, retry_after=retry_after_header(retry_after))


class Backoff:
    """initial · 2^n, capped, each with ±20% jitter so many clients do not retry in step."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self, server_delay: float | None = None) -> float:
        """The wait before the next try; a server-given delay is honoured, never shortened."""
        # The exponent is capped: a long outage must not overflow a float (2.0**1024).
        base = min(self._maximum, self._initial * 2.0 ** min(self._attempt, 60))
        self._attempt += 1
        if server_delay is not None:
            # Only ever later than asked, so a crowd told "1 s" does not return in one instant.
            return server_delay * random.uniform(1.0, 1.0 + JITTER)
        return base * random.uniform(1.0 - JITTER, 1.0 + JITTER)
