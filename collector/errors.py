"""The collector's error hierarchy and its gRPC status table.

Services raise these; the server interceptor turns them into gRPC statuses, and the gateway
turns those into HTTP statuses. Nothing else decides a status code.
"""

from __future__ import annotations

import grpc
from pymongo import errors as mongo_errors


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


def from_exception(exc: BaseException) -> AegisError | None:
    """Our error for an exception we know how to describe; None for a real bug."""
    if isinstance(exc, AegisError):
        return exc
    # ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout.
    if isinstance(exc, mongo_errors.ConnectionFailure):
        return Unavailable("database unavailable, retry later", retry_after=1.0)
    # PyMongo's operation timeout (timeoutMS, Storage.request_deadline) ran out: frozen
    # or overloaded. It may have done the work; the retry finds it (duplicates).
    if isinstance(exc, mongo_errors.PyMongoError) and exc.timeout:
        return Unavailable("database did not answer in time, retry later", retry_after=1.0)
    if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return Unavailable("database write interrupted, retry later", retry_after=1.0)
    # A clash with another transaction that outlasted Storage.transaction's attempts (e.g. one
    # left open by a killed client, until the database expires it): running again resolves it.
    if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label(
        "TransientTransactionError"
    ):
        return Unavailable("database write conflicted with another, retry later", retry_after=1.0)
    return None
