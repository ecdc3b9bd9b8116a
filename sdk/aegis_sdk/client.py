"""The two front doors over one delivery core (sender.Sender).

- AegisClient: for ordinary code. log_* never touches the network: it queues the event and
  returns. The core runs on a private event loop in a daemon thread; flush/close hop onto it.
  close() is registered with atexit, so a script that forgets it still delivers on exit.
- AsyncAegisClient: for asyncio code. The core runs as a task on the caller's own loop, and
  log_* is awaitable only so that on_full="block" can wait without blocking the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc

from aegis_sdk.buffer import Buffer
from aegis_sdk.config import Config, OnFull, TransportName
from aegis_sdk.events import (
    Event,
    Kind,
    LLMFields,
    MLFields,
    llm_event,
    ml_event,
    prediction_event,
)
from aegis_sdk.sender import Sender
from aegis_sdk.stats import Stats

log = logging.getLogger("aegis_sdk")
T = TypeVar("T")


class _Client:
    """What both clients share: settings, the buffer, the sender. See README for each option."""

    def __init__(
        self,
        target: str | None,
        client_id: str,
        client_secret: str,
        *,
        rest_url: str | None = None,
        transport: TransportName = "grpc",
        credentials: grpc.ChannelCredentials | None = None,
        batch_size: int = 500,
        max_batch_bytes: int = 1024 * 1024,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        on_full: OnFull = "block",
        block_timeout: float | None = 5.0,
        max_in_flight: int = 8,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        ack_timeout: float = 30.0,
        fallback_after: int = 3,
        fallback_period: float = 60.0,
        request_timeout: float = 30.0,
    ) -> None:
        self.config = Config(
            target=target,
            rest_url=rest_url,
            transport=transport,
            credentials=credentials,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            max_buffer=max_buffer,
            on_full=on_full,
            block_timeout=block_timeout,
            max_in_flight=max_in_flight,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            ack_timeout=ack_timeout,
            fallback_after=fallback_after,
            fallback_period=fallback_period,
            request_timeout=request_timeout,
        )
        self.client_id = client_id
        self._buffer = Buffer(self.config.max_buffer, self.config.batch_size)
        self._block = self.config.on_full == "block"
        self._sender = Sender(self.config, self._buffer, client_id, client_secret)
        self._closed = False
        self._warned_closed = False
        self._open()

    def _open(self) -> None:
        """Where a client starts what it runs on."""

    def __repr__(self) -> str:
        where = self.config.target if self.config.transport == "grpc" else self.config.rest_url
        return f"{type(self).__name__}({where!r}, client_id={self.client_id!r})"

    @property
    def stats(self) -> Stats:
        return self._sender.stats()

    def _after_close(self) -> None:
        if self._buffer.closed and not self._warned_closed:
            self._warned_closed = True
            log.warning("AegisAI client used after close(): events are dropped")


class AegisClient(_Client):
    """Synchronous client; log_* may be called from any thread."""

    def _open(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aegis-sdk-sender", daemon=True
        )
        self._thread.start()
        self._close_lock = threading.Lock()
        self._on_loop(self._start())
        atexit.register(self.close)

    async def _start(self) -> None:
        self._sender.start()

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def log_ml(self, **fields: Unpack[MLFields]) -> str:
        """Queue one ML prediction event; returns its event_id (given, or a fresh UUIDv7).
        Fields: model_type, model_id (required), input_shape, prediction_count, timestamp,
        metadata, latency_ms, event_id, error; attribution: user_id, session_id, trace_id,
        span_id, parent_span_id, environment, release, tags (trace_id and span_id default to
        the active OpenTelemetry span's when neither is given)."""
        return self._queue("ml", ml_event(**fields))

    def log_predictions(
        self,
        *,
        features: Any = None,
        predictions: Any = None,
        feature_names: Sequence[str] | None = None,
        **fields: Unpack[MLFields],
    ) -> str:
        """Queue one ML event with what the model saw and answered, for drift; returns its
        event_id. `features`: a pandas DataFrame, a mapping of feature name to its column (a
        list, NumPy array or Series), or rows (a 2-D array or list of lists) named by
        `feature_names`; `predictions`: one per row (a list, array, Series or one-column
        DataFrame). Each column is all numbers (finite) or all strings. The other fields are
        log_ml's; prediction_count defaults to the rows, input_shape to [rows, features]."""
        return self._queue("ml", prediction_event(features, predictions, feature_names, **fields))

    def log_llm(self, **fields: Unpack[LLMFields]) -> str:
        """Queue one LLM call event; returns its event_id (given, or a fresh UUIDv7).
        Fields: model_name (required), prompt_length, response_length, tokens_used, cost,
        timestamp, metadata, latency_ms, event_id, error, input_tokens, output_tokens,
        provider, cache_read_tokens, cache_write_tokens, reasoning_tokens; content: input,
        output (each a string or a list of {"role", "content"} messages), system; and the
        attribution fields of log_ml."""
        return self._queue("llm", llm_event(**fields))

    def _queue(self, kind: Kind, event: Event) -> str:
        if not self._buffer.put(kind, event, block=self._block, timeout=self.config.block_timeout):
            self._after_close()
        return event.event_id

    def flush(self, timeout: float | None = None) -> None:
        """Return once every event logged so far is acknowledged; TimeoutError otherwise."""
        if self._closed:
            return
        self._on_loop(self._sender.flush(timeout))

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to `timeout`), then stop. What is still unacknowledged counts as dropped."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        try:
            self._on_loop(self._sender.close(timeout))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> AegisClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncAegisClient(_Client):
    """asyncio client: use it from one event loop; `async with` or `await aclose()` at the end."""

    _started = False

    def _running(self) -> Sender:
        if not self._started:
            self._started = True
            self._sender.start()
        elif self._sender.loop is not asyncio.get_running_loop():
            raise RuntimeError("AsyncAegisClient is bound to the event loop it started on")
        return self._sender

    async def log_ml(self, **fields: Unpack[MLFields]) -> str:
        """Queue one ML prediction event; see AegisClient.log_ml."""
        return await self._queue("ml", ml_event(**fields))

    async def log_predictions(
        self,
        *,
        features: Any = None,
        predictions: Any = None,
        feature_names: Sequence[str] | None = None,
        **fields: Unpack[MLFields],
    ) -> str:
        """Queue one ML event with its features and predictions; see
        AegisClient.log_predictions."""
        event = prediction_event(features, predictions, feature_names, **fields)
        return await self._queue("ml", event)

    async def log_llm(self, **fields: Unpack[LLMFields]) -> str:
        """Queue one LLM call event; see AegisClient.log_llm."""
        return await self._queue("llm", llm_event(**fields))

    async def _queue(self, kind: Kind, event: Event) -> str:
        await self._running().put(kind, event, block=self._block, timeout=self.config.block_timeout)
        self._after_close()
        return event.event_id

    # A timeout argument rather than asyncio.timeout(): the same call as the sync client's.
    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once every event logged so far is acknowledged; TimeoutError otherwise."""
        if self._started and not self._closed:
            await self._sender.flush(timeout)

    # The budget is for the flush; stopping afterwards must happen whatever it left undone.
    async def aclose(self, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Flush (up to `timeout`), then stop. What is still unacknowledged counts as dropped."""
        if self._closed:
            return
        self._closed = True
        await self._running().close(timeout)

    async def __aenter__(self) -> AsyncAegisClient:
        self._running()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
