"""The gateway's error answers, as grpc-gateway's runtime/errors.go gives them: the HTTP status of
a gRPC status (the one table, aegis_sdk.status, which the SDK reads answers back with), the error
body, RFC 6749's token errors, and Retry-After from RetryInfo."""

from __future__ import annotations

import math

import grpc
from google.rpc import error_details_pb2

from aegis_sdk.status import http_status as http_status  # the routes read it here
from aegis_sdk.status import retry_info_delay, status_details

# Requests that match no route never reach an RPC; their code is what grpc-gateway's
# DefaultRoutingErrorHandler gives them. The HTTP status stays the router's own (404, 405).
ROUTING_ERRORS = {
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
}


def routing_error_code(http_status: int) -> grpc.StatusCode:
    return ROUTING_ERRORS.get(http_status, grpc.StatusCode.UNKNOWN)


def error_body(code: grpc.StatusCode, message: str) -> dict[str, object]:
    return {"code": code.value[0], "message": message, "details": []}


# The RFC 6749 (section 5.2) error for a status that came without an ErrorInfo reason.
OAUTH2_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_request",
    grpc.StatusCode.UNAUTHENTICATED: "invalid_client",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "slow_down",
}


def oauth2_error_body(code: grpc.StatusCode, message: str, trailers: object) -> dict[str, str]:
    """RFC 6749's error body; the error is the collector's google.rpc.ErrorInfo reason."""
    error = OAUTH2_ERRORS.get(code, "server_error")
    for detail in status_details(trailers):  # type: ignore[arg-type]
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            error = info.reason
    return {"error": error, "error_description": message}


def retry_after_seconds(trailers: object) -> int | None:
    """The RetryInfo delay from grpc-status-details-bin, rounded up to whole seconds."""
    delay = retry_info_delay(trailers)  # type: ignore[arg-type]
    return None if delay is None else max(1, math.ceil(delay))
