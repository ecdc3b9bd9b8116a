"""Refuse request bodies over a size limit with 413, without reading them whole into memory;
refuse compressed bodies with 415 rather than inflate them (a small gzip body can inflate to
gigabytes, past any limit on what was received)."""

from __future__ import annotations

import json

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.status import error_body

# Past the limit the rest of the body is read and thrown away (up to this much) before the
# 413 goes out: closing a connection with unread data makes the kernel send a reset, and
# clients that write the whole body before reading then never see the 413.
DRAIN_MAX_BYTES = 64 * 1024 * 1024


class _TooLarge(Exception):
    pass


async def _send_error(send: Send, status: int, body: bytes, close: bool = False) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdentityEncodingOnly:
    """415 for a request body with a Content-Encoding other than identity, except on the
    `exempt` paths, which inflate bodies themselves under a cap (OTLP/HTTP must take gzip)."""

    def __init__(self, app: ASGIApp, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            for name, value in scope["headers"]:
                if name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                    body = json.dumps(
                        error_body(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            "Content-Encoding is not supported: send the JSON body uncompressed",
                        )
                    ).encode()
                    await _send_error(send, 415, body)
                    return
        await self.app(scope, receive, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, receive: Receive, send: Send, more_body: bool) -> None:
        drained = 0
        while more_body and drained < DRAIN_MAX_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            drained += len(message.get("body", b""))
            more_body = message.get("more_body", False)
        # 413, not the table's 429 for RESOURCE_EXHAUSTED: the API pins it for large bodies.
        body = json.dumps(
            error_body(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request body larger than {self.max_bytes} bytes",
            )
        ).encode()
        await _send_error(send, 413, body, close=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(receive, send, more_body=True)
                return
        seen = 0
        started = False
        more_body = True

        async def counting_receive() -> Message:
            nonlocal seen, more_body
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                more_body = message.get("more_body", False)
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(receive, send, more_body)
