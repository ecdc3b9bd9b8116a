"""A stored datetime's milliseconds since the epoch, for the rows and partials ingest writes
with each batch (collector.explore.rows, collector.rollups.partials).

Hot path: `round(moment.timestamp() * 1000)` is the rule, and costs ~3,000 instructions an
event (timestamp() asks the zone for its offset and builds a timedelta);
collector.store.bson_documents.epoch_ms computes it from the datetime's fields in C, ~10x
cheaper, when built (tests/test_bson_documents.py holds it to the rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable


def timestamp_ms(moment: dt.datetime) -> int:
    # Stored times are whole milliseconds, so rounding the float is exact.
    return round(moment.timestamp() * 1000)


epoch_ms: Callable[[dt.datetime], int]
try:
    from collector.store.bson_documents import epoch_ms
except ImportError:  # not built
    epoch_ms = timestamp_ms
