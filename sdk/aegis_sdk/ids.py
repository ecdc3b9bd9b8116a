"""Event ids: UUIDv7 (RFC 9562), so ids sort by creation time and never collide across processes.

The id is what makes delivery exactly-once: the server stores (tenant, event_id) at most once,
so a batch resent after a lost ack is counted as duplicates, not stored twice.
"""

from __future__ import annotations

import os
import time
import uuid

_MS_MASK = (1 << 48) - 1
_RAND_B_MASK = (1 << 62) - 1


def _uuid7_int() -> int:
    """48-bit Unix ms, version 7, 12 bits of sub-millisecond time, variant, 62 random bits."""
    now_ns = time.time_ns()
    millis, sub_ns = divmod(now_ns, 1_000_000)
    # RFC 9562 §6.2 method 3: the sub-millisecond fraction keeps ids from one process in order.
    rand_a = sub_ns * 4096 // 1_000_000
    # os.urandom, not `random`: a forked child would repeat the parent's `random` sequence.
    rand_b = int.from_bytes(os.urandom(8), "big") & _RAND_B_MASK
    return (millis & _MS_MASK) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int())


def new_event_id() -> str:
    """A UUIDv7 in its canonical text form; formatted by hand, as it is on every log_* call."""
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
