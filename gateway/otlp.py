"""`POST /v1/traces`: OTLP/HTTP, forwarded to the collector's TraceService/Export.

Accepts binary protobuf (`application/x-protobuf`, forwarded as the bytes it came in) and
OTLP/JSON (`application/json`), optionally `Content-Encoding: gzip` (capped after
decompression). Answers in the request's encoding, errors as a google.rpc.Status, with
Retry-After on 429/503 as OTLP's retry rules ask. The `authorization` header (Bearer or Basic)
is forwarded; the collector authenticates, first: a body the gateway refuses is refused only
after the caller's credentials passed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from fastapi import FastAPI, Request, Response
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from gateway import openapi
from gateway.forwarding import Forwarder
from gateway.marshal import BadRequest
from gateway.otlp_json import parse_traces, response_json
from gateway.status import error_body, http_status, retry_after_seconds

PATH = "/v1/traces"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


EXPORT_METHOD = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].methods_by_name[
    "Export"
]
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _json_object(title: str, description: str, properties: dict[str, object]) -> dict[str, object]:
    return {
        "schema": {
            "type": "object",
            "title": title,
            "description": description,
            "properties": properties,
        }
    }


def export_operation() -> dict[str, object]:
    """The OpenAPI operation of POST /v1/traces: OTLP's own messages (documented loosely: they
    are OpenTelemetry's, https://opentelemetry.io/docs/specs/otlp/), the error statuses by
    gateway.openapi's rules, errors a google.rpc.Status in the request's encoding."""
    request = _json_object(
        "ExportTraceServiceRequest",
        "OTLP/JSON (ids as hex strings; unknown fields ignored). An empty export is valid.",
        # null, as in proto3's JSON mapping, is the field unset: no spans.
        {"resourceSpans": {"type": ["array", "null"], "items": {"type": "object"}}},
    )
    reply = _json_object(
        "ExportTraceServiceResponse",
        "OTLP/JSON; partialSuccess names spans the collector rejected.",
        {
            "partialSuccess": {
                "type": "object",
                "properties": {
                    "rejectedSpans": {"type": "string", "description": "an int64"},
                    "errorMessage": {"type": "string"},
                },
            }
        },
    )
    errors = openapi.error_responses(
        openapi.RouteShape(PATH, "*", EXPORT_METHOD),
        {JSON: {"schema": openapi.ERROR_SCHEMA}, PROTOBUF: _BINARY},
    )
    return {
        "requestBody": {"required": True, "content": {PROTOBUF: _BINARY, JSON: request}},
        "responses": {"200": {"description": "OK", "content": {JSON: reply, PROTOBUF: _BINARY}}}
        | errors,
        "security": [{openapi.BEARER: []}],
    }


class _Refused(Exception):
    def __init__(self, http_status: int, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


def _identity(data: bytes) -> bytes:
    return data


def gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Decompress, refusing (413) anything that would grow past max_bytes: the cap applies to
    what the body expands to, not only to what was sent."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise _Refused(400, grpc.StatusCode.INVALID_ARGUMENT, f"bad gzip body: {exc}") from None
    if len(out) > max_bytes:
        raise _Refused(
            413,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body larger than {max_bytes} bytes after decompression",
        )
    if not inflater.eof:
        raise _Refused(400, grpc.StatusCode.INVALID_ARGUMENT, "bad gzip body: truncated")
    return out


def _error(
    status: int, code: grpc.StatusCode, message: str, media: str, retry_after: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if media == PROTOBUF:
        body = status_pb2.Status(code=code.value[0], message=message).SerializeToString()
    else:
        body = json.dumps(error_body(code, message)).encode()
    return Response(body, status, headers=headers, media_type=media)


def _rpc_error(exc: grpc.aio.AioRpcError, media: str) -> Response:
    return _error(
        http_status(exc.code()),
        exc.code(),
        exc.details() or exc.code().name,
        media,
        retry_after_seconds(exc.trailing_metadata()),
    )


def _quoted(value: str) -> str:
    return json.dumps(value[:60])


def add_otlp_routes(
    app: FastAPI,
    channel: Callable[[], grpc.aio.Channel],
    max_bytes: int,
    timeout_s: float,
    forwarder: Forwarder,
) -> None:
    def export(raw: bytes, metadata: list[tuple[str, str]]) -> Awaitable[bytes]:
        call = channel().unary_unary(
            EXPORT, request_serializer=_identity, response_deserializer=_identity
        )
        return call(raw, metadata=metadata, timeout=timeout_s)

    async def refused(
        status: int, code: grpc.StatusCode, message: str, media: str, metadata: list[Any]
    ) -> Response:
        """The gateway's own refusal of the body (its type, encoding, size or shape), once
        the collector has authenticated the caller: an empty export (valid OTLP, nothing
        written) carries the credentials, so a caller without valid ones gets the same 401
        or 403 as for a good body and learns nothing about the body rules first."""
        try:
            await export(b"", metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return _rpc_error(exc, media)
        return _error(status, code, message, media)

    async def export_traces(request: Request) -> Response:
        """OTLP/HTTP trace export (protobuf or JSON, optionally gzip); calls
        `opentelemetry.proto.collector.trace.v1.TraceService/Export`."""
        metadata = forwarder.metadata(request)  # Basic failures count per caller address
        if auth := request.headers.get("authorization"):
            metadata.append(("authorization", auth))
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (PROTOBUF, JSON):
            return await refused(
                415,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"header Content-Type: {_quoted(media)} is not supported; "
                f'expected "{PROTOBUF}" or "{JSON}"',
                JSON,
                metadata,
            )
        try:
            raw = await request.body()
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            if encoding == "gzip":
                raw = gunzip(raw, max_bytes)
            elif encoding not in ("", "identity"):
                raise _Refused(
                    415,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"header Content-Encoding: {_quoted(encoding)} is not supported; "
                    'expected "gzip"',
                )
            if media == JSON:
                raw = parse_traces(raw).SerializeToString()
        except BadRequest as exc:
            return await refused(400, grpc.StatusCode.INVALID_ARGUMENT, str(exc), media, metadata)
        except _Refused as exc:
            return await refused(exc.http_status, exc.code, exc.message, media, metadata)
        try:
            reply = await export(raw, metadata)
        except grpc.aio.AioRpcError as exc:
            return _rpc_error(exc, media)
        if media == JSON:
            return Response(response_json(reply), 200, media_type=JSON)
        return Response(reply, 200, media_type=PROTOBUF)

    app.add_api_route(
        PATH,
        export_traces,
        methods=["POST"],
        tags=["otlp"],
        response_class=Response,  # no JSON 200 of FastAPI's: the content comes from the extra
        openapi_extra=export_operation(),
    )
