"""The protobuf values every service converts: Timestamp ⇄ datetime and dict → Struct (reading a
Struct is aegis_shared.structs, shared with the gateway)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_OUT_OF_RANGE = dt.datetime.max.replace(tzinfo=dt.UTC)


def time_from_proto(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    # ~30% cheaper than Timestamp.ToDatetime. Whole milliseconds, as BSON stores them, so that
    # what rollups compute in memory is what a query over the stored events finds.
    try:
        # timedelta(days, seconds, microseconds), positional: ~20 % cheaper than keywords.
        return _EPOCH + dt.timedelta(0, ts.seconds, ts.nanos // 1_000_000 * 1000)
    except OverflowError:  # past year 9999 (or before 1): validation rejects it, per event
        return _OUT_OF_RANGE


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def struct(data: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message
