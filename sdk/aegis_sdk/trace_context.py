"""The OpenTelemetry span active where log_* is called, so that an event joins its trace.

`opentelemetry-api` is optional: the SDK does not depend on it. When it is importable and the
current context holds a valid span (one being recorded here, or a parent propagated from
another process), `current_ids()` returns its trace and span ids as lowercase hex (32 and 16
characters, W3C trace-context's form, which the collector accepts); otherwise None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from opentelemetry import trace

    _current_span: Callable[[], Any] | None = trace.get_current_span
except ImportError:  # not installed: events carry the ids they are given, if any
    _current_span = None


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span, or None when there is none (or no
    OpenTelemetry)."""
    if _current_span is None:
        return None
    context = _current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
