"""The API's status vocabulary, for every client of it: gRPC codes ⇄ HTTP statuses (grpc-gateway's
table, runtime/errors.go) and the server's retry delay (google.rpc.RetryInfo in
grpc-status-details-bin). The SDK reads REST answers with it; the server's REST gateway, which
depends on the SDK, writes them with it. No other module keeps a copy."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
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

# Reading an HTTP status back: where several codes share one status, the one a client should
# act on (409: ABORTED, retried; 500: INTERNAL), and the statuses only HTTP has.
_PREFERRED = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    409: grpc.StatusCode.ABORTED,
    500: grpc.StatusCode.INTERNAL,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.INVALID_ARGUMENT,  # too large: resending the same body cannot help
    422: grpc.StatusCode.INVALID_ARGUMENT,
    502: grpc.StatusCode.UNAVAILABLE,
}
GRPC_CODE = {
    **{http: code for code, http in HTTP_STATUS.items() if code != grpc.StatusCode.OK},
    **_PREFERRED,
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def grpc_code(status: int) -> grpc.StatusCode:
    """The gRPC code of an HTTP status; unknown ones are INTERNAL (5xx) or UNKNOWN."""
    known = GRPC_CODE.get(status)
    if known is not None:
        return known
    return grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.UNKNOWN


def status_details(trailers: Iterable[tuple[str, str | bytes]] | None) -> list[AnyProto]:
    """The google.rpc.Status details carried in grpc-status-details-bin."""
    found: list[AnyProto] = []
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            found.extend(status_pb2.Status.FromString(value).details)
    return found


def retry_info_delay(trailers: Iterable[tuple[str, str | bytes]] | None) -> float | None:
    """The server's RetryInfo delay in seconds, when it gave one."""
    for detail in status_details(trailers):
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None
