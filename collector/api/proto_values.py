"""The protobuf values every service converts: Timestamp ⇄ datetime and dict → Struct (reading a
Struct is aegis_shared.structs, shared with the gateway)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from collector.ingest.instants import from_epoch_ms

_OUT_OF_RANGE = dt.datetime.max.replace(tzinfo=dt.UTC)


def time_from_proto(ts: timestamp_pb2.Timestamp) -> dt.datetime:
    return time_from_parts(ts.seconds, ts.nanos)


def time_from_parts(seconds: int, nanos: int) -> dt.datetime:
    """A Timestamp's moment from its fields (collector.api.wire_events reads them off the
    wire). Cheaper than Timestamp.ToDatetime. Whole milliseconds, as BSON stores them, so
    that what rollups compute in memory is what a query over the stored events finds."""
    try:
        return from_epoch_ms(seconds * 1000 + nanos // 1_000_000)
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
