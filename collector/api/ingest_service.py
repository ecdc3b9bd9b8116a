"""IngestService: protobuf in → plain ingest call → protobuf out, and its conversions (its events
are read by collector.api.proto_events and collector.api.json_events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from aegis.v1 import ingest_pb2, ingest_pb2_grpc
from collector.api import json_events
from collector.api.interceptor import current_principal
from collector.api.proto_events import llm_event_from_proto, ml_event_from_proto
from collector.errors import InvalidArgument
from collector.ingest.batch import IngestResult, IngestService
from collector.ingest.pipeline import Admission, StreamBatch, admitted, run_stream

Context: TypeAlias = grpc.aio.ServicerContext


def stream_batch_from_proto(request: ingest_pb2.StreamEventsRequest) -> StreamBatch:
    which = request.WhichOneof("batch")
    if which == "ml":
        return StreamBatch(
            request.sequence, "ml", [ml_event_from_proto(e) for e in request.ml.events]
        )
    if which == "llm":
        return StreamBatch(
            request.sequence, "llm", [llm_event_from_proto(e) for e in request.llm.events]
        )
    raise InvalidArgument(f"batch {request.sequence}: neither 'ml' nor 'llm' is set")


def ingest_response(result: IngestResult) -> ingest_pb2.IngestResponse:
    return ingest_pb2.IngestResponse(
        accepted=result.accepted,
        rejected=result.rejected,
        duplicates=result.duplicates,
        errors=[
            ingest_pb2.EventError(index=e.index, field=e.field, reason=e.reason)
            for e in result.errors
        ],
    )


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self, ingest: IngestService, admission: Admission, *, window: int, shutdown: asyncio.Event
    ) -> None:
        self._ingest = ingest
        self._admission = admission
        self._window = window
        self._shutdown = shutdown

    async def IngestML(
        self, request: ingest_pb2.IngestMLRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [ml_event_from_proto(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "ml", events)
        )
        return ingest_response(result)

    async def IngestLLM(
        self, request: ingest_pb2.IngestLLMRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [llm_event_from_proto(e) for e in request.events]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "llm", events)
        )
        return ingest_response(result)

    async def IngestMLJson(
        self, request: ingest_pb2.IngestMLJsonRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [json_events.ml_event_from_data(e) for e in json_events.decoded_events(request)]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "ml", events)
        )
        return ingest_response(result)

    async def IngestLLMJson(
        self, request: ingest_pb2.IngestLLMJsonRequest, context: Context
    ) -> ingest_pb2.IngestResponse:
        events = [json_events.llm_event_from_data(e) for e in json_events.decoded_events(request)]
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "llm", events)
        )
        return ingest_response(result)

    async def StreamEvents(
        self, requests: AsyncIterator[ingest_pb2.StreamEventsRequest], context: Context
    ) -> AsyncIterator[ingest_pb2.StreamEventsResponse]:
        batches = (stream_batch_from_proto(request) async for request in requests)
        acks = run_stream(
            self._ingest,
            current_principal(),
            batches,
            window=self._window,
            admission=self._admission,
            shutdown=self._shutdown,
        )
        async for sequence, result in acks:
            yield ingest_pb2.StreamEventsResponse(sequence=sequence, result=ingest_response(result))
