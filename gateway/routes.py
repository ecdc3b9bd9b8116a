"""REST routes derived from the `google.api.http` annotations on the collector's RPCs.

One generic handler per annotated method: JSON → request message, forward the caller's
Authorization header and signed address (gateway.forwarding) as gRPC metadata, call the RPC,
message → JSON. No business logic. The token endpoint's request also comes as an OAuth 2.0
form (gateway.oauth2).

As in grpc-gateway: with `body: "*"` the JSON body fills the request message, otherwise the
query string does; path parameters (`/alerts/rules/{id}`) set the fields they name. The
success status is 200 unless the method's `(aegis.v1.http_success_status)` option says
otherwise (e.g. 201 for a create).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from google.api import annotations_pb2
from google.protobuf import symbol_database
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor
from google.protobuf.message import Message

from aegis.v1 import (
    alerts_pb2,
    auth_pb2,
    dashboard_pb2,
    explore_pb2,
    ingest_pb2,
    options_pb2,
    prices_pb2,
)
from aegis_shared import json_shape
from gateway import oauth2
from gateway.forwarding import Forwarder
from gateway.marshal import BadRequest, from_json, to_json
from gateway.status import error_body, oauth2_error_body, retry_after_seconds
from gateway.status import http_status as status_of

API_FILES: tuple[FileDescriptor, ...] = (
    auth_pb2.DESCRIPTOR,
    ingest_pb2.DESCRIPTOR,
    dashboard_pb2.DESCRIPTOR,
    alerts_pb2.DESCRIPTOR,
    prices_pb2.DESCRIPTOR,
    explore_pb2.DESCRIPTOR,
)
NO_STORE = {"Cache-Control": "no-store"}
# RFC 6749 section 5.1: token responses must not be cached by anyone.
OAUTH2_NO_STORE = {**NO_STORE, "Pragma": "no-cache"}


@dataclass(frozen=True)
class AnnotatedRoute:
    """An HTTP route that an RPC declares with its google.api.http annotation."""

    verb: str  # "GET" / "POST" / ...
    path: str
    method: MethodDescriptor
    body: str = ""  # "*": the JSON body is the request; "": the query string is
    success_status: int = 200
    oauth2: bool = False  # the (aegis.v1.oauth2_errors) option: RFC 6749 error bodies

    @property
    def headers(self) -> dict[str, str]:
        return OAUTH2_NO_STORE if self.oauth2 else NO_STORE

    @property
    def rpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


def annotated_routes() -> Iterator[AnnotatedRoute]:
    for file in API_FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                rule = options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb and verb != "custom":
                    status = options.Extensions[options_pb2.http_success_status] or 200
                    yield AnnotatedRoute(
                        verb.upper(),
                        getattr(rule, verb),
                        method,
                        rule.body,
                        status,
                        options.Extensions[options_pb2.oauth2_errors],
                    )


def _message_class(name: str) -> type[Message]:
    cls: type[Message] = symbol_database.Default().GetSymbol(name)
    return cls


def error_response(
    route: AnnotatedRoute,
    code: grpc.StatusCode,
    message: str,
    trailers: object = (),
    *,
    http_status: int | None = None,
) -> JSONResponse:
    """`http_status`: the gateway's own refusal that is not its code's usual status (415)."""
    if not route.oauth2:
        return status_response(code, message, trailers, route.headers, http_status=http_status)
    headers = dict(route.headers)
    retry_after = retry_after_seconds(trailers)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        oauth2_error_body(code, message, trailers),
        http_status or status_of(code),
        headers=headers,
    )


def status_response(
    code: grpc.StatusCode,
    message: str,
    trailers: object = (),
    headers: Mapping[str, str] = NO_STORE,
    *,
    http_status: int | None = None,
) -> JSONResponse:
    """A gRPC status as our REST error: its HTTP status, `{code, message, details}`, and
    `Retry-After` when the trailers carry a RetryInfo."""
    headers = dict(headers)
    retry_after = retry_after_seconds(trailers)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(error_body(code, message), http_status or status_of(code), headers=headers)


async def _request_message(request: Request, route: AnnotatedRoute, cls: type[Message]) -> Message:
    if route.body != "*":
        data: Any = dict(request.query_params)
    else:
        raw = await request.body()
        if not raw.strip():
            raise BadRequest("body: missing; expected a JSON object")
        try:
            data = json.loads(raw, parse_int=json_shape.json_int)
        except ValueError as exc:
            raise _not_json(request, exc) from None
        except RecursionError:
            raise BadRequest("body: nested too deeply") from None
    if request.path_params:
        if not isinstance(data, dict):
            raise BadRequest(f"body: expected a JSON object, got {json_shape.show(data)}")
        data = {**data, **request.path_params}
    return from_json(data, cls(), query=route.body != "*")


def _not_json(request: Request, exc: ValueError) -> BadRequest:
    """A body that does not parse: sent as something else (415), or broken JSON (400)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Any type that says JSON, and none at all, are read as JSON; so is a form type, which
    # is what `curl -d` sends by default, when the body is JSON all the same.
    if media and media != "application/json" and not media.endswith("+json"):
        return BadRequest(
            f"header Content-Type: {json.dumps(media[:60])} is not supported; "
            'expected "application/json" with a JSON body',
            415,
        )
    if isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno}, column {exc.colno}"
        return BadRequest(f"body: not valid JSON ({exc.msg} at {where})")
    return BadRequest(f"body: not valid JSON ({exc})")


def make_endpoint(
    route: AnnotatedRoute,
    channel: Callable[[], grpc.aio.Channel],
    timeout_s: float,
    forwarder: Forwarder,
) -> Callable[[Request], Awaitable[Response]]:
    request_cls = _message_class(route.method.input_type.full_name)
    response_cls = _message_class(route.method.output_type.full_name)
    token_endpoint = oauth2.is_token_endpoint(route.method)

    async def endpoint(request: Request) -> Response:
        basic = False
        try:
            if token_endpoint:
                decoded = await oauth2.token_request(request)
                message: Message = decoded.message
                basic = decoded.basic
            else:
                message = await _request_message(request, route, request_cls)
        except BadRequest as exc:
            return error_response(
                route, grpc.StatusCode.INVALID_ARGUMENT, str(exc), http_status=exc.http_status
            )
        metadata = forwarder.metadata(request)
        # The token endpoint's Authorization, if any, is the client's credentials, decoded.
        if not token_endpoint and (auth := request.headers.get("authorization")):
            metadata.append(("authorization", auth))
        call = channel().unary_unary(
            route.rpc_path,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        try:
            reply = await call(message, metadata=metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            response = error_response(
                route, exc.code(), exc.details() or exc.code().name, exc.trailing_metadata()
            )
            if basic and response.status_code == 401:
                response.headers.update(oauth2.CHALLENGE)
            return response
        return JSONResponse(to_json(reply), route.success_status, headers=route.headers)

    endpoint.__name__ = route.method.name
    endpoint.__doc__ = _doc(route)
    return endpoint


def _doc(route: AnnotatedRoute) -> str:
    return (
        f"Calls `{route.rpc_path}`. Body/query: `{route.method.input_type.full_name}`; "
        f"response: `{route.method.output_type.full_name}` (see proto/)."
    )
