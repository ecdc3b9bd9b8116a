"""A stored event as JSON-ready data, as export and the live tail deliver it: every stored
field but the internal `_id` and `tenant` (what the overview's recent_events show of it; the
tail and recent events leave out its content too), times as RFC 3339 strings, money to 12
significant digits (collector.query.rounding)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from collector.domain import CONTENT_FIELDS
from collector.query.rounding import event_money

HIDDEN = ("_id", "tenant")
HIDDEN_AND_CONTENT = (*HIDDEN, *CONTENT_FIELDS)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event_data(doc: dict[str, Any], *, content: bool = True) -> dict[str, Any]:
    """`content=False` leaves out an LLM event's content (input, output, system), as the live
    tail does: content goes only where the tenant reads one event or exports its data."""
    hidden = HIDDEN if content else HIDDEN_AND_CONTENT
    data = {
        k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in doc.items() if k not in hidden
    }
    if data.get("cost_source") == "unknown":
        data["cost"] = None  # stored as 0 before unknown costs were stored as null
    return event_money(data)
