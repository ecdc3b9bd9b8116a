"""Request ids: each HTTP request gets one, from a sane `X-Request-ID` header or a new one;
it is echoed in the response and set in aegis_shared.logs.REQUEST_ID, so every log line of the
request (JSON logs) carries it."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aegis_shared.logs import REQUEST_ID

HEADER = "x-request-id"
# A caller's id is kept only when it cannot forge a log line or bloat one.
SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if SANE.fullmatch(given) else uuid.uuid4().hex

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)
