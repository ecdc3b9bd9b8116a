"""The two hand-written routes that relay server-streaming RPCs; they hold no logic.

- `GET /export/{kind}` relays ExportEvents: the collector formats the export and names its
  content type; the response starts once the first chunk (or the error) is in, so a bad
  request is still a 4xx with the usual error body, and is streamed from then on.
- `GET /ws/events` relays TailEvents over a WebSocket. A browser cannot set an
  Authorization header on a WebSocket, so the first client message is `{"token": "<jwt>"}`,
  within TOKEN_WAIT_S; then every message is `{"kind": "ml"|"llm", "event": {...}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import grpc
from fastapi import Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from aegis.v1 import export_pb2, export_pb2_grpc, tail_pb2, tail_pb2_grpc
from gateway import openapi
from gateway.marshal import to_json
from gateway.routes import NO_STORE, status_response

TOKEN_WAIT_S = 5.0
POLICY_VIOLATION = 1008  # WebSocket close codes (RFC 6455)
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
# What a tail error closes the WebSocket with: auth and bad requests are the caller's to fix.
CLOSE_CODES = {
    grpc.StatusCode.UNAUTHENTICATED: POLICY_VIOLATION,
    grpc.StatusCode.PERMISSION_DENIED: POLICY_VIOLATION,
    grpc.StatusCode.INVALID_ARGUMENT: POLICY_VIOLATION,
    grpc.StatusCode.RESOURCE_EXHAUSTED: POLICY_VIOLATION,
    grpc.StatusCode.UNAVAILABLE: TRY_AGAIN_LATER,
}
MAX_REASON_BYTES = 123  # a close frame's reason


def _metadata(authorization: str | None) -> list[tuple[str, str]]:
    return [("authorization", authorization)] if authorization else []


EXPORT_METHOD = export_pb2.DESCRIPTOR.services_by_name["ExportService"].methods_by_name[
    "ExportEvents"
]


def export_operation(path: str) -> dict[str, object]:
    """The OpenAPI operation of the export route, by gateway.openapi's rules from
    ExportEventsRequest; its 200 is the export itself, in either format."""
    text = {"schema": {"type": "string"}}
    return openapi.operation(
        path,
        "",
        EXPORT_METHOD,
        success_content={"application/x-ndjson": text, "text/csv": text},
    )


def export_endpoint(channel: Callable[[], grpc.aio.Channel]) -> Callable[..., object]:
    async def export(request: Request) -> Response:
        """Streams the export; query: start_date, end_date, model, format (ndjson | csv)."""
        params = request.query_params
        message = export_pb2.ExportEventsRequest(
            kind=request.path_params["kind"],
            start_date=params.get("start_date", ""),
            end_date=params.get("end_date", ""),
            model=params.get("model", ""),
            format=params.get("format", ""),
        )
        call = export_pb2_grpc.ExportServiceStub(channel()).ExportEvents(
            message, metadata=_metadata(request.headers.get("authorization"))
        )
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            return status_response(
                exc.code(), exc.details() or exc.code().name, exc.trailing_metadata()
            )
        if first is grpc.aio.EOF:  # the collector always sends a first chunk
            return status_response(grpc.StatusCode.INTERNAL, "the export ended before it began")

        async def body() -> AsyncIterator[bytes]:
            try:
                chunk = first
                while chunk is not grpc.aio.EOF:
                    yield chunk.data
                    # A failure from here on cuts the response short: the client sees an
                    # incomplete body, never a complete-looking one.
                    chunk = await call.read()
            finally:
                call.cancel()  # the client went away: stop the collector paging

        return StreamingResponse(body(), media_type=first.content_type, headers=NO_STORE)

    return export


async def _first_token(ws: WebSocket) -> str | None:
    with contextlib.suppress(TimeoutError, ValueError, WebSocketDisconnect):
        text = await asyncio.wait_for(ws.receive_text(), TOKEN_WAIT_S)
        token = json.loads(text).get("token") if text.lstrip().startswith("{") else None
        if isinstance(token, str) and token.strip():
            return token.strip()
    return None


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code, reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore"))


def tail_endpoint(channel: Callable[[], grpc.aio.Channel]) -> Callable[..., object]:
    async def tail(ws: WebSocket) -> None:
        """Live events of the caller's tenant; query: kind (ml | llm, default both)."""
        await ws.accept()
        token = await _first_token(ws)
        if token is None:
            await _close(ws, POLICY_VIOLATION, 'send {"token": "<jwt>"} first, within 5 s')
            return
        call = tail_pb2_grpc.TailServiceStub(channel()).TailEvents(
            tail_pb2.TailEventsRequest(kind=ws.query_params.get("kind", "")),
            metadata=_metadata(f"Bearer {token}"),
        )
        relay = asyncio.ensure_future(_relay(ws, call))
        # Reading the socket is how a client's close is noticed while no event comes.
        closed = asyncio.ensure_future(_until_closed(ws))
        try:
            await asyncio.wait({relay, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            relay.cancel()
            call.cancel()
        if not relay.done() or relay.cancelled():
            return  # the client left
        exc = relay.exception()
        if isinstance(exc, grpc.aio.AioRpcError):
            reason = exc.details() or exc.code().name
            await _close(ws, CLOSE_CODES.get(exc.code(), INTERNAL_ERROR), reason)
        elif exc is None:
            await _close(ws, TRY_AGAIN_LATER, "the tail ended; reconnect")

    return tail


async def _relay(ws: WebSocket, call: grpc.aio.UnaryStreamCall) -> None:
    async for reply in call:
        for event in reply.events:  # none in the first reply (`started`)
            await ws.send_text(json.dumps({"kind": event.kind, "event": to_json(event.event)}))


async def _until_closed(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
