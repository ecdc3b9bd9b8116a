"""The collector's error hierarchy and its gRPC status table.

Services raise these; the server interceptor turns them into gRPC statuses, and the gateway
turns those into HTTP statuses. Nothing else decides a status code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc
from pymongo import errors as mongo_errors

log = logging.getLogger(__name__)


class AegisError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(
        self, message: str, *, retry_after: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        # A machine-readable cause, sent as google.rpc.ErrorInfo (e.g. RFC 6749's
        # "invalid_client" for the token endpoint).
        self.reason = reason


class InvalidArgument(AegisError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(AegisError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(AegisError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(AegisError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AegisError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Conflict(AegisError):
    code = grpc.StatusCode.ABORTED


class ResourceExhausted(AegisError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(AegisError):
    code = grpc.StatusCode.UNAVAILABLE


class DatabaseBusy(ResourceExhausted):
    """The database did not answer within the request's time limit: it is busy (or frozen),
    not down. RESOURCE_EXHAUSTED (HTTP 429) with a Retry-After, like any other overload."""


# A request that timed out on the database waited out its whole limit (1.5 s by default),
# so the database was busy for at least that long: ask for about as long again.
BUSY_RETRY_AFTER_S = 2.0
BUSY_WARNING_EVERY_S = 10.0  # the WARNING below at most this often; the rest are counted

BusyListener = Callable[[], None]
_busy_listeners: list[BusyListener] = []


def on_database_busy(listener: BusyListener) -> Callable[[], None]:
    """Call `listener` whenever a request is refused because the database did not answer in
    time (collector.store.health turns NOT_SERVING); returns what unsubscribes it."""
    _busy_listeners.append(listener)
    return lambda: _busy_listeners.remove(listener)


def database_busy(exc: BaseException) -> bool:
    """Whether a PyMongo error means "too slow" rather than "cannot be reached": an operation
    timeout (timeoutMS, pymongo.timeout, a socket read that timed out) on a database we
    are connected to. Failing to select a server at all, or a refused connection, is down."""
    return (
        isinstance(exc, mongo_errors.PyMongoError)
        and exc.timeout
        and not isinstance(exc, mongo_errors.ServerSelectionTimeoutError)
    )


class Warnings:
    """One WARNING (`what`, then what went wrong) per BUSY_WARNING_EVERY_S at most; the
    others are counted into the next."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self._what = what
        self._log = logger
        self._last = -BUSY_WARNING_EVERY_S
        self._unsaid = 0

    def say(self, wrong: BaseException | str) -> None:
        now = time.monotonic()
        if now - self._last < BUSY_WARNING_EVERY_S:
            self._unsaid += 1
            return
        more = f" ({self._unsaid} more since the last warning)" if self._unsaid else ""
        if isinstance(wrong, BaseException):
            # An exception names the operation's limit and the server's address, nothing
            # secret.
            wrong = f"{type(wrong).__name__}: {wrong!s:.200}"
        self._log.warning("%s (%s)%s", self._what, wrong, more)
        self._last, self._unsaid = now, 0


_busy_warnings = Warnings(
    "database busy: a request's operation did not finish within its time limit, or a read "
    f"kept conflicting with writes; answered RESOURCE_EXHAUSTED, retry after "
    f"{BUSY_RETRY_AFTER_S:.0f} s"
)
_unreachable_warnings = Warnings(
    "database unavailable: a request's operation lost its connection or found no server; "
    "answered UNAVAILABLE"
)


def _refused_busy(exc: BaseException) -> DatabaseBusy:
    _busy_warnings.say(exc)
    for listener in list(_busy_listeners):
        listener()
    return DatabaseBusy(
        "database busy: it did not answer in time; retry later", retry_after=BUSY_RETRY_AFTER_S
    )


def contended(exc: BaseException) -> DatabaseBusy:
    """A read that kept meeting concurrent writes until its deadline (collector.store.storage
    Storage.snapshot): the database is busy with them, not down. Logged like a timeout, but the
    health check is not told: the database answers, and other requests get through."""
    _busy_warnings.say(exc)
    return DatabaseBusy(
        "database busy: a read kept meeting concurrent writes; retry later",
        retry_after=BUSY_RETRY_AFTER_S,
    )


def from_exception(exc: BaseException) -> AegisError | None:
    """Our error for an exception we know how to describe; None for a real bug. A database
    operation that timed out is logged (a WARNING, at most every BUSY_WARNING_EVERY_S) and
    reported to the on_database_busy listeners: the request is refused because of it."""
    if isinstance(exc, AegisError):
        return exc
    # PyMongo's operation timeout (timeoutMS, Storage.request_deadline) ran out: the
    # database is busy, or frozen. It may have done the work; the retry finds it (duplicates).
    if database_busy(exc):
        return _refused_busy(exc)
    # ConnectionFailure covers ServerSelectionTimeoutError and AutoReconnect: not reachable.
    if isinstance(exc, mongo_errors.ConnectionFailure):
        _unreachable_warnings.say(exc)
        return Unavailable("database unavailable, retry later", retry_after=1.0)
    if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return Unavailable("database write interrupted, retry later", retry_after=1.0)
    # A clash with another transaction that outlasted Storage.transaction's attempts (e.g. one
    # left open by a killed client, until the database expires it): running again resolves it.
    if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label(
        "TransientTransactionError"
    ):
        return Unavailable("database write conflicted with another, retry later", retry_after=1.0)
    return None
