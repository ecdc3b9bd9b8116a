"""The RPC edge: authenticate the bearer token, check its client still counts and the scope,
apply the read rate limit, and map errors to statuses. A stream ends with UNAUTHENTICATED
once its token expires or its client is revoked.

Every handler of our services runs inside this wrapper, so a servicer can rely on
`current_principal()` and raise plain AegisErrors.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aegis_shared.caller_address import CallerAddresses
from collector.auth.basic import BasicCredentials
from collector.auth.bearer import LEEWAY_S, TokenService
from collector.auth.client_status import ClientStatusCache
from collector.auth.ratelimit import RateLimiter
from collector.domain import Principal
from collector.errors import (
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    from_exception,
)

log = logging.getLogger(__name__)

PUBLIC = None  # no token needed
# Managing alert rules: either scope will do.
ALERTS_ADMIN = ("alerts", "admin")
Scope = str | tuple[str, ...] | None  # a tuple: any one of them will do
# Required scope per method. A method of our package that is missing here is refused.
OTLP_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METHOD_SCOPES: dict[str, Scope] = {
    "/aegis.v1.AuthService/IssueToken": PUBLIC,
    "/aegis.v1.AuthService/CreateClient": "admin",
    "/aegis.v1.AuthService/ListClients": "admin",
    "/aegis.v1.AuthService/RevokeClient": "admin",
    "/aegis.v1.AuthService/RotateClientSecret": "admin",
    "/aegis.v1.AuthService/ListAuditLogs": "admin",
    "/aegis.v1.IngestService/IngestML": "ingest",
    "/aegis.v1.IngestService/IngestLLM": "ingest",
    "/aegis.v1.IngestService/IngestMLJson": "ingest",
    "/aegis.v1.IngestService/IngestLLMJson": "ingest",
    "/aegis.v1.IngestService/StreamEvents": "ingest",
    "/aegis.v1.DashboardService/Overview": "read",
    "/aegis.v1.DashboardService/MLMetrics": "read",
    "/aegis.v1.DashboardService/LLMMetrics": "read",
    "/aegis.v1.DashboardService/MLDrift": "read",
    "/aegis.v1.AlertService/CreateRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/ListRules": "read",
    "/aegis.v1.AlertService/GetRule": "read",
    "/aegis.v1.AlertService/UpdateRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/DeleteRule": ALERTS_ADMIN,
    "/aegis.v1.AlertService/ListAlertEvents": "read",
    "/aegis.v1.PriceService/SetPrice": "admin",
    "/aegis.v1.PriceService/ListPrices": "admin",
    "/aegis.v1.PriceService/DeletePrice": "admin",
    OTLP_EXPORT: "ingest",
    "/aegis.v1.ExportService/ExportEvents": "read",
    "/aegis.v1.TailService/TailEvents": "read",
    "/aegis.v1.ExploreService/ListEvents": "read",
    "/aegis.v1.ExploreService/GetEvent": "read",
    "/aegis.v1.ExploreService/GetTrace": "read",
    "/aegis.v1.ExploreService/GetSession": "read",
    "/aegis.v1.ExploreService/ListTraces": "read",
    "/aegis.v1.ExploreService/ListSessions": "read",
    "/aegis.v1.ExploreService/TopUsers": "read",
}
# Methods that count against RATE_LIMIT_READ_PER_S: every call that only reads.
READ_METHODS = frozenset(
    {method for method, scope in METHOD_SCOPES.items() if scope == "read"}
    | {"/aegis.v1.AuthService/ListClients", "/aegis.v1.AuthService/ListAuditLogs"}
)
OUR_PACKAGE = "/aegis.v1."
# How often a stream looks at its client's status (cached: see collector.auth.client_status).
STREAM_CHECK_S = 0.25
# Methods that also take `authorization: Basic …` (exporters keep a static header).
BASIC_METHODS = frozenset({OTLP_EXPORT})
ERROR_DOMAIN = "aegisai"

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


# What a caller must send, worded for REST and gRPC alike: gRPC metadata travels as HTTP/2
# headers, and the REST gateway forwards its Authorization header as that metadata.
EXPECTED_BEARER = '"Bearer <token>"'
EXPECTED_BASIC = '"Basic <base64 of clientId:clientSecret>"'


def bearer_token(context: grpc.aio.ServicerContext, *, basic_too: bool = False) -> str:
    """The bearer token; `basic_too`: the method also takes Basic credentials (said in the
    error). The header's value is never echoed: it is a credential."""
    expected = f"{EXPECTED_BEARER} or {EXPECTED_BASIC}" if basic_too else EXPECTED_BEARER
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise Unauthenticated(
                    f"header Authorization: not a Bearer token; expected {expected}"
                )
            if token.strip():
                return token.strip()
            raise Unauthenticated(
                f"header Authorization: no token after Bearer; expected {expected}"
            )
    raise Unauthenticated(f"header Authorization: missing; expected {expected}")


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    error = from_exception(exc)
    if error is None:
        log.exception("unhandled error in RPC", exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        return
    details = []
    if error.retry_after is not None:
        details.append(
            error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    nanos=int(error.retry_after % 1 * 1e9), seconds=int(error.retry_after)
                )
            )
        )
    if error.reason is not None:
        details.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    trailers: tuple[tuple[str, str | bytes], ...] = ()
    if details:
        packed = []
        for detail in details:
            holder = any_pb2.Any()
            holder.Pack(detail)
            packed.append(holder)
        status = status_pb2.Status(
            code=getattr(code_pb2, error.code.name), message=error.message, details=packed
        )
        trailers = (("grpc-status-details-bin", status.SerializeToString()),)
    await context.abort(error.code, error.message, trailers)


def basic_credentials(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, encoded = value.partition(" ")
            if scheme.lower() == "basic":
                return encoded
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        tokens: TokenService,
        status: ClientStatusCache,
        reads: RateLimiter,
        basic: BasicCredentials | None = None,
        addresses: CallerAddresses | None = None,
    ) -> None:
        self._tokens = tokens
        self._status = status
        self._reads = reads
        self._basic = basic
        self._addresses = addresses or CallerAddresses(None)

    async def _principal(self, context: grpc.aio.ServicerContext, method: str) -> Principal:
        if self._basic is not None and method in BASIC_METHODS:
            encoded = basic_credentials(context)
            if encoded is not None:
                return await self._basic.verify(encoded, self._addresses.of(context))
        basic_too = self._basic is not None and method in BASIC_METHODS
        return self._tokens.verify(bearer_token(context, basic_too=basic_too))

    async def _authenticate(
        self, context: grpc.aio.ServicerContext, method: str, scope: Scope
    ) -> Principal | None:
        if scope is PUBLIC:
            return None
        principal = await self._principal(context, method)
        await self._status.check(principal)
        if isinstance(scope, str) and scope not in principal.scopes:
            raise PermissionDenied(f"the {scope!r} scope is required")
        if isinstance(scope, tuple) and principal.scopes.isdisjoint(scope):
            raise PermissionDenied(f"one of the scopes {list(scope)} is required")
        if method in READ_METHODS:
            self._reads.take(principal.client_id, tenant=principal.tenant)
        _principal.set(principal)
        return principal

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or not (method.startswith(OUR_PACKAGE) or method in METHOD_SCOPES):
            return handler  # health, reflection
        if method not in METHOD_SCOPES:
            raise RuntimeError(f"{method} has no entry in METHOD_SCOPES")
        scope = METHOD_SCOPES[method]
        deserialize = _tolerant(handler.request_deserializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_unary_stream(handler.unary_stream, method, scope),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"{method}: unsupported RPC shape")

    def _wrap_unary(self, inner: Any, method: str, scope: Scope) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                await self._authenticate(context, method, scope)
                return await inner(_decoded(request), context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)

        return unary

    def _wrap_stream(self, inner: Any, method: str, scope: Scope) -> Any:
        """A stream of requests (StreamEvents) answered by a stream."""
        return self._responding(
            lambda requests, context: inner(_decoded_stream(requests), context), method, scope
        )

    def _wrap_unary_stream(self, inner: Any, method: str, scope: Scope) -> Any:
        """One request (ExportEvents, TailEvents) answered by a stream."""
        return self._responding(
            lambda request, context: inner(_decoded(request), context), method, scope
        )

    def _responding(self, call: Any, method: str, scope: Scope) -> Any:
        async def stream(received: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                principal = await self._authenticate(context, method, scope)
                responses = call(received, context)
                if principal is not None:
                    responses = self._while_valid(responses, principal)
                async for response in responses:
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)

        return stream

    async def _while_valid(
        self, responses: AsyncIterator[Any], principal: Principal
    ) -> AsyncIterator[Any]:
        """The responses, until the token expires or its client is revoked or rotated away:
        then UNAUTHENTICATED. Unacknowledged batches are the client's to resend (after
        logging in again); event ids make a batch that did land count as duplicates."""
        watch = asyncio.ensure_future(self._watch(principal))
        following: asyncio.Future[Any] | None = None
        try:
            while True:
                following = asyncio.ensure_future(anext(responses))
                await asyncio.wait({following, watch}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    watch.result()  # raises why the token no longer counts
                try:
                    response = following.result()
                except StopAsyncIteration:
                    return
                yield response
        finally:
            for task in (watch, following):
                if task is not None and not task.done():
                    task.cancel()
            # Collected, so that no outcome of either is left unretrieved.
            await asyncio.gather(watch, *([following] if following else []), return_exceptions=True)

    async def _watch(self, principal: Principal) -> None:
        while True:
            # The same leeway as a token's check at the start of a call.
            left = principal.expires_at + LEEWAY_S - time.time()
            if left <= 0:
                raise Unauthenticated("token expired; log in again")
            await asyncio.sleep(min(left, STREAM_CHECK_S))
            try:
                await self._status.check(principal, fresh=True)
            except Unauthenticated:
                raise
            except Exception as exc:
                if from_exception(exc) is None:
                    raise
                # The database is unreachable: the stream's writes report that themselves.
                log.debug("client status unknown for now: %s", exc)
