"""The client's settings: one frozen object, checked once, shared by the sync and async clients."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import grpc

log = logging.getLogger("aegis_sdk")

OnFull = Literal["block", "drop"]
TransportName = Literal["grpc", "rest"]

# The collector refuses gRPC messages over 4 MiB; a batch stays well under it.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# The collector refuses a batch of more events than this (INVALID_ARGUMENT, final: the whole
# batch would be dropped), so batch_size is capped at it.
MAX_BATCH_EVENTS = 10_000


@dataclass(frozen=True)
class Config:
    target: str | None
    rest_url: str | None = None
    transport: TransportName = "grpc"
    credentials: grpc.ChannelCredentials | None = None  # None → plaintext gRPC
    batch_size: int = 500
    max_batch_bytes: int = 1024 * 1024
    flush_interval: float = 1.0  # the oldest buffered event waits at most this long
    max_buffer: int = 100_000  # events held in memory: queued plus sent-but-unacked
    on_full: OnFull = "block"
    block_timeout: float | None = 5.0  # on_full="block": None waits for ever
    max_in_flight: int = 8  # batches sent and not yet acknowledged, per stream
    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    ack_timeout: float = 30.0  # a batch unacknowledged this long means the stream is dead
    fallback_after: int = 3  # failed gRPC connections in a row before trying REST (needs rest_url)
    fallback_period: float = 60.0  # then REST for this long before gRPC is tried again
    request_timeout: float = 30.0  # login and REST requests

    def __post_init__(self) -> None:
        if self.transport not in ("grpc", "rest"):
            raise ValueError('transport must be "grpc" or "rest"')
        if self.transport == "grpc" and not self.target:
            raise ValueError('transport="grpc" needs a target ("host:port")')
        if self.transport == "rest" and not self.rest_url:
            raise ValueError('transport="rest" needs rest_url ("http://host:8000")')
        if self.on_full not in ("block", "drop"):
            raise ValueError('on_full must be "block" or "drop"')
        if self.batch_size < 1 or self.max_in_flight < 1 or self.fallback_after < 1:
            raise ValueError("batch_size, max_in_flight and fallback_after must be at least 1")
        if self.batch_size > MAX_BATCH_EVENTS:
            log.warning(
                "AegisAI: batch_size %d is more than the collector takes in one batch; "
                "batches of at most %d events are sent",
                self.batch_size,
                MAX_BATCH_EVENTS,
            )
            object.__setattr__(self, "batch_size", MAX_BATCH_EVENTS)
        if self.max_buffer < self.batch_size:
            raise ValueError("max_buffer must hold at least one batch (>= batch_size)")
        if not 0 < self.max_batch_bytes <= MAX_MESSAGE_BYTES // 2:
            raise ValueError(f"max_batch_bytes must be in 1..{MAX_MESSAGE_BYTES // 2}")
        for name in ("flush_interval", "initial_backoff", "max_backoff", "ack_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.block_timeout is not None and self.block_timeout < 0:
            raise ValueError("block_timeout must be >= 0 or None")
