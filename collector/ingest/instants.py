"""Epoch milliseconds as an aware UTC datetime, for the ingest hot path: a protobuf event's
Timestamp (collector.api.proto_values) and an OTLP span's start and end
(collector.otlp.records).

Building a timedelta costs ~0.3 µs (its constructor normalises every argument), so the
moment of each whole second is kept once made, and its milliseconds are added from a table:
a batch's events and spans fall within a few seconds of each other. At most KEEP seconds
are kept; then the memo starts again.
"""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
KEEP = 4096
_MILLIS = [dt.timedelta(0, 0, 0, milli) for milli in range(1000)]
_SECONDS: dict[int, dt.datetime] = {}


def from_epoch_ms(ms: int) -> dt.datetime:
    """EPOCH + `ms` milliseconds; OverflowError past the years 1 .. 9999, as datetime's."""
    second, milli = divmod(ms, 1000)
    if second in _SECONDS:
        return _SECONDS[second] + _MILLIS[milli]
    if len(_SECONDS) >= KEEP:
        _SECONDS.clear()
    moment = EPOCH + dt.timedelta(0, second)
    _SECONDS[second] = moment
    return moment + _MILLIS[milli]
