"""The gateway's status table: gRPC status ⇄ HTTP status and the error body, as grpc-gateway's
runtime/errors.go does it. No other module maps one kind of status to the other."""

from __future__ import annotations

import math

import grpc
from google.rpc import error_details_pb2, status_pb2

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


# Requests that match no route never reach an RPC; their code is what grpc-gateway's
# DefaultRoutingErrorHandler gives them. The HTTP status stays the router's own (404, 405).
ROUTING_ERRORS = {
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def routing_error_code(http_status: int) -> grpc.StatusCode:
    return ROUTING_ERRORS.get(http_status, grpc.StatusCode.UNKNOWN)


def error_body(code: grpc.StatusCode, message: str) -> dict[str, object]:
    return {"code": code.value[0], "message": message, "details": []}


def _details(trailers: object) -> list[object]:
    found: list[object] = []
    for key, value in trailers or ():  # type: ignore[attr-defined]
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            found.extend(status_pb2.Status.FromString(value).details)
    return found


# The RFC 6749 (section 5.2) error for a status that came without an ErrorInfo reason.
OAUTH2_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_request",
    grpc.StatusCode.UNAUTHENTICATED: "invalid_client",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "slow_down",
}


def oauth2_error_body(code: grpc.StatusCode, message: str, trailers: object) -> dict[str, str]:
    """RFC 6749's error body; the error is the collector's google.rpc.ErrorInfo reason."""
    error = OAUTH2_ERRORS.get(code, "server_error")
    for detail in _details(trailers):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):  # type: ignore[attr-defined]
            error = info.reason
    return {"error": error, "error_description": message}


def retry_after_seconds(trailers: object) -> int | None:
    """The RetryInfo delay from grpc-status-details-bin, rounded up to whole seconds."""
    for detail in _details(trailers):
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):  # type: ignore[attr-defined]
            delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            return max(1, math.ceil(delay))
    return None
