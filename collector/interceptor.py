"""The RPC edge: authenticate the bearer token, check the scope, map errors to statuses.

Every handler of our services runs inside this wrapper, so a servicer can rely on
`current_principal()` and raise plain AegisErrors.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2

from collector.errors import InvalidArgument, PermissionDenied, Unauthenticated, from_exception
from collector.tokens import Principal, TokenService

log = logging.getLogger(__name__)

PUBLIC = None  # no token needed
# Managing alert rules: either scope will do.
ALERTS_ADMIN = ("alerts", "admin")
Scope = str | tuple[str, ...] | None  # a tuple: any one of them will do
# Required scope per method. A method of our package that is missing here is refused.
METHOD_SCOPES: dict[str, Scope] = {
    "/aegis.v1.AuthService/IssueToken": PUBLIC,
    "/aegis.v1.AuthService/CreateClient": "admin",
    "/aegis.v1.IngestService/IngestML": "ingest",
    "/aegis.v1.IngestService/IngestLLM": "ingest",
    "/aegis.v1.IngestService/StreamEvents": "ingest",
    "/aegis.v1.DashboardService/Overview": "read",
    "/aegis.v1.DashboardService/MLMetrics": "read",
    "/aegis.v1.DashboardService/LLMMetrics": "read",
    "/aegis.v1.AlertService/CreateRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/ListRules": "read",
    "/aegis.v1.AlertService/GetRule": "read",
    "/aegis.v1.AlertService/UpdateRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/DeleteRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/ListAlertEvents": "read",
    "/aegis.v1.ExportService/ExportEvents": "read",
    "/aegis.v1.TailService/TailEvents": "read",
}
OUR_PACKAGE = "/aegis.v1."

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current_principal() -> Principal:
    return _principal.get()


class _Undecodable:
    """Stands in for a request message protobuf could not parse (e.g. nested too deeply)."""

    def __init__(self, error: DecodeError) -> None:
        self.error = error


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    # grpc turns a deserializer exception into UNKNOWN; we want INVALID_ARGUMENT, so the
    # failure travels to the handler wrapper as a value and is raised there.
    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError as exc:
            return _Undecodable(exc)

    return tolerant


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(f"the request message cannot be decoded: {request.error}")
    return request


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


def bearer_token(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise Unauthenticated("missing bearer token in 'authorization' metadata")


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    error = from_exception(exc)
    if error is None:
        log.exception("unhandled error in RPC", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        return
    trailers: tuple[tuple[str, str | bytes], ...] = ()
    if error.retry_after is not None:
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(
                nanos=int(error.retry_after % 1 * 1e9), seconds=int(error.retry_after)
            )
        )
        detail = any_pb2.Any()
        detail.Pack(retry)
        status = status_pb2.Status(
            code=getattr(code_pb2, error.code.name), message=error.message, details=[detail]
        )
        trailers = (("grpc-status-details-bin", status.SerializeToString()),)
    await context.abort(error.code, error.message, trailers)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    def _authenticate(self, context: grpc.aio.ServicerContext, scope: Scope) -> None:
        if scope is PUBLIC:
            return
        principal = self._tokens.verify(bearer_token(context))
        if isinstance(scope, str) and scope not in principal.scopes:
            raise PermissionDenied(f"the {scope!r} scope is required")
        if isinstance(scope, tuple) and principal.scopes.isdisjoint(scope):
            raise PermissionDenied(f"one of the scopes {list(scope)} is required")
        _principal.set(principal)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or not method.startswith(OUR_PACKAGE):
            return handler  # health, reflection
        if method not in METHOD_SCOPES:
            raise RuntimeError(f"{method} has no entry in METHOD_SCOPES")
        scope = METHOD_SCOPES[method]
        deserialize = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_unary_stream(handler.unary_stream, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"{method}: unsupported RPC shape")

    def _wrap_unary(self, inner: Any, scope: Scope) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                self._authenticate(context, scope)
                return await inner(_decoded(request), context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)

        return unary

    def _wrap_stream(self, inner: Any, scope: Scope) -> Any:
        async def stream(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                self._authenticate(context, scope)
                async for response in inner(_decoded_stream(requests), context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)

        return stream

    def _wrap_unary_stream(self, inner: Any, scope: Scope) -> Any:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                self._authenticate(context, scope)
                async for response in inner(_decoded(request), context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)

        return stream
