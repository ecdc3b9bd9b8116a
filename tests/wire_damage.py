"""Damaged protobuf bytes for the wire readers' tests (test_wire_events, test_wire_spans)."""

from __future__ import annotations

from hypothesis import strategies as st


def damaged(wire: bytes, data: st.DataObject) -> bytes:
    """`wire` with one to three bytes changed, then cut at any length."""
    out = bytearray(wire)
    if out:
        for _ in range(data.draw(st.integers(1, 3))):
            at = data.draw(st.integers(0, len(out) - 1))
            out[at] = data.draw(st.integers(0, 255))
    return bytes(out[: data.draw(st.integers(0, len(out)))])
