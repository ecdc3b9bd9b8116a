"""TailService: the tail hub's events out as protobuf, and their conversion (which the hub
calls once per event)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from aegis.v1 import tail_pb2, tail_pb2_grpc
from collector.api.interceptor import current_principal
from collector.api.proto_values import struct
from collector.query.tail import TailHub, parse_kinds

Context: TypeAlias = grpc.aio.ServicerContext


def tail_event(kind: str, data: dict[str, Any]) -> tail_pb2.TailEvent:
    return tail_pb2.TailEvent(kind=kind, event=struct(data))


class TailServicer(tail_pb2_grpc.TailServiceServicer):
    def __init__(self, hub: TailHub) -> None:
        self._hub = hub

    async def TailEvents(
        self, request: tail_pb2.TailEventsRequest, context: Context
    ) -> AsyncIterator[tail_pb2.TailEventsResponse]:
        kinds = parse_kinds(request.kind)
        async with self._hub.subscribe(current_principal().tenant, kinds) as subscription:
            yield tail_pb2.TailEventsResponse(started=True)
            async for events in subscription.batches():
                # Each TailEvent is built once per event by the hub (with tail_event).
                yield tail_pb2.TailEventsResponse(events=events)
