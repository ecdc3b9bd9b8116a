"""IngestService: protobuf in → plain ingest call → protobuf out, and its conversions (its events
are read by collector.api.proto_events and collector.api.json_events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import grpc

from aegis.v1 import ingest_pb2, ingest_pb2_grpc
from collector.api import json_events
from collector.api.interceptor import current_principal
from collector.api.proto_events import llm_event_from_proto, ml_event_from_proto
from collector.domain import Kind
from collector.errors import InvalidArgument
from collector.ingest.batch import IngestResult, IngestService
from collector.ingest.pipeline import Admission, StreamBatch, admitted, run_stream

Context: TypeAlias = grpc.aio.ServicerContext


def stream_batch_from_proto(request: ingest_pb2.StreamEventsRequest | StreamBatch) -> StreamBatch:
    if isinstance(request, StreamBatch):
        return request  # read off the wire (stream_request)
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


# Compiled (collector.app.compiled.NATIVE), gRPC's batches are read off the wire into ingest's
# dicts, without protobuf messages in between; a request it leaves, and every request when it
# is not built, is parsed by protobuf and converted by collector.api.proto_events.
read_stream_request: Callable[[bytes], tuple[int, Kind, list[Any]] | None] | None
read_events: Callable[[bytes, bool], list[dict[str, Any]] | None] | None
try:
    from collector.api.wire_events import read_events, read_stream_request
except ImportError:  # not built
    read_stream_request = read_events = None


def stream_request(data: bytes) -> StreamBatch | ingest_pb2.StreamEventsRequest:
    """StreamEvents' request deserializer: the batch, read off the wire, or the message."""
    read = read_stream_request(data) if read_stream_request is not None else None
    if read is None:
        return ingest_pb2.StreamEventsRequest.FromString(data)
    return StreamBatch(*read)


def _events_request(
    message: type[ingest_pb2.IngestMLRequest] | type[ingest_pb2.IngestLLMRequest], llm: bool
) -> Callable[[bytes], Any]:
    """IngestML's (`llm`: IngestLLM's) request deserializer: the events, read off the wire
    (a list), or the message."""

    def deserialize(data: bytes) -> Any:
        read = read_events(data, llm) if read_events is not None else None
        return message.FromString(data) if read is None else read

    return deserialize


def add_ingest_servicer(servicer: IngestServicer, server: grpc.aio.Server) -> None:
    """ingest_pb2_grpc.add_IngestServiceServicer_to_server, with the deserializers above for
    the methods that carry events as protobuf (the JSON ones carry JSON text)."""
    response = ingest_pb2.IngestResponse.SerializeToString
    handlers = {
        "IngestML": grpc.unary_unary_rpc_method_handler(
            servicer.IngestML,
            request_deserializer=_events_request(ingest_pb2.IngestMLRequest, False),
            response_serializer=response,
        ),
        "IngestLLM": grpc.unary_unary_rpc_method_handler(
            servicer.IngestLLM,
            request_deserializer=_events_request(ingest_pb2.IngestLLMRequest, True),
            response_serializer=response,
        ),
        "IngestMLJson": grpc.unary_unary_rpc_method_handler(
            servicer.IngestMLJson,
            request_deserializer=ingest_pb2.IngestMLJsonRequest.FromString,
            response_serializer=response,
        ),
        "IngestLLMJson": grpc.unary_unary_rpc_method_handler(
            servicer.IngestLLMJson,
            request_deserializer=ingest_pb2.IngestLLMJsonRequest.FromString,
            response_serializer=response,
        ),
        "StreamEvents": grpc.stream_stream_rpc_method_handler(
            servicer.StreamEvents,
            request_deserializer=stream_request,
            response_serializer=ingest_pb2.StreamEventsResponse.SerializeToString,
        ),
    }
    service = "aegis.v1.IngestService"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


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
        self, request: ingest_pb2.IngestMLRequest | list[dict[str, Any]], context: Context
    ) -> ingest_pb2.IngestResponse:
        events = (
            request
            if isinstance(request, list)  # read off the wire (add_ingest_servicer)
            else [ml_event_from_proto(e) for e in request.events]
        )
        result = await admitted(
            self._admission, lambda: self._ingest.ingest(current_principal(), "ml", events)
        )
        return ingest_response(result)

    async def IngestLLM(
        self, request: ingest_pb2.IngestLLMRequest | list[dict[str, Any]], context: Context
    ) -> ingest_pb2.IngestResponse:
        events = (
            request
            if isinstance(request, list)  # read off the wire (add_ingest_servicer)
            else [llm_event_from_proto(e) for e in request.events]
        )
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
