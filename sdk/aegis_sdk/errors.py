"""Errors the SDK raises to the application. Delivery problems are never raised from log_*:
they are retried, or counted in `stats` and logged."""

from __future__ import annotations


class AegisSDKError(Exception):
    """Base class of the SDK's own errors."""


class BufferFullError(AegisSDKError):
    """on_full="block": the buffer stayed full for `block_timeout` seconds; event dropped."""
