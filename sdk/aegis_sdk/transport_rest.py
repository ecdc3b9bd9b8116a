"""The REST transport: POST /auth/token, then one POST /ingest/{ml,llm} per batch.

A session sends up to the in-flight window of requests at once. When one fails, it takes no
more batches, lets the others finish (their acks still count), then reports the failure with
the failed batch's sequence, so the sender knows exactly which batch to blame.
"""

from __future__ import annotations

import asyncio

import httpx

from aegis_sdk.batch import Ack, Batch, EventError
from aegis_sdk.retry import TransportError, from_http

_DONE = None


def _error(reply: httpx.Response) -> TransportError:
    try:
        message = str(reply.json().get("message", ""))
    except ValueError:
        message = reply.text[:200]
    return from_http(
        reply.status_code, message or reply.reason_phrase, reply.headers.get("retry-after")
    )


async def _post(http: httpx.AsyncClient, path: str, **kwargs: object) -> httpx.Response:
    try:
        return await http.post(path, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise TransportError("DEADLINE_EXCEEDED", f"{path}: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise TransportError("UNAVAILABLE", f"{path}: {type(exc).__name__}: {exc}") from None


class RestSession:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._results: asyncio.Queue[Ack | TransportError | None] = asyncio.Queue()
        self._posts: set[asyncio.Task[None]] = set()
        self._outstanding = 0
        self._failure: TransportError | None = None
        self._done = False

    async def send(self, sequence: int, batch: Batch) -> None:
        if self._failure is not None:
            raise self._failure
        self._outstanding += 1
        task = asyncio.create_task(self._deliver(sequence, batch))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _deliver(self, sequence: int, batch: Batch) -> None:
        try:
            result: Ack | TransportError = await self._request(sequence, batch)
        except TransportError as exc:
            exc.sequence = sequence
            result = exc
        self._results.put_nowait(result)

    async def _request(self, sequence: int, batch: Batch) -> Ack:
        reply = await _post(
            self._http, f"/ingest/{batch.kind}", content=batch.json_body(), headers=self._headers
        )
        if reply.status_code != 200:
            raise _error(reply)
        try:
            body = reply.json()
            errors = tuple(
                EventError(int(e["index"]), str(e.get("field", "")), str(e.get("reason", "")))
                for e in body.get("errors") or ()
            )
            return Ack(
                sequence,
                int(body["accepted"]),
                int(body["rejected"]),
                int(body["duplicates"]),
                errors,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Likely a proxy in the way; resending is safe, the event ids make it idempotent.
            raise TransportError("UNAVAILABLE", f"unreadable ingest response: {exc!r}") from None

    async def done_sending(self) -> None:
        self._done = True
        self._results.put_nowait(_DONE)

    async def next_ack(self) -> Ack | None:
        while True:
            if self._outstanding == 0:
                if self._failure is not None:
                    raise self._failure
                if self._done:
                    return None
            item = await self._results.get()
            if item is _DONE:
                continue
            self._outstanding -= 1
            if isinstance(item, TransportError):
                self._failure = self._failure or item
                continue
            return item

    def abort(self) -> None:
        for task in list(self._posts):
            task.cancel()


class RestTransport:
    name = "rest"

    def __init__(self, base_url: str, *, request_timeout: float) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = request_timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout)
        return self._http

    async def login(self, client_id: str, client_secret: str) -> tuple[str, float]:
        reply = await _post(
            self._client(),
            "/auth/token",
            json={"clientId": client_id, "clientSecret": client_secret},
        )
        if reply.status_code != 200:
            raise _error(reply)
        try:
            body = reply.json()
            return str(body["access_token"]), float(body["expires_in"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TransportError("UNAVAILABLE", f"unreadable token response: {exc!r}") from None

    async def open(self, token: str) -> RestSession:
        return RestSession(self._client(), token)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
