"""Opaque page cursors: where a walk stopped and what it was asked for, as URL-safe text.

A cursor holds JSON data and a digest of the query it belongs to (its filters, or the key it
lists the events of); given back with another query, or garbled, it is refused naming
`cursor`. Cursors hold only positions (times, ids): nothing a caller could not see anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from collector.errors import InvalidArgument

_VERSION = 1


def digest_of(query: Any) -> str:
    text = json.dumps(query, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(data: dict[str, Any], digest: str) -> str:
    raw = json.dumps({"v": _VERSION, "f": digest, "d": data}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, digest: str) -> dict[str, Any]:
    """The cursor's data; InvalidArgument when it is not one of ours or belongs to another
    query."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        found = json.loads(raw)
        if not isinstance(found, dict) or found.get("v") != _VERSION:
            raise ValueError
        data, matches = found["d"], found["f"] == digest
        if not isinstance(data, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument(
            "cursor: not a cursor this API gave (pass next_cursor as is)"
        ) from None
    if not matches:
        raise InvalidArgument(
            "cursor: it was made for other filters; send the same filters with it"
        )
    return data
