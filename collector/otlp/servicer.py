"""The OTLP TraceService/Export servicer: OTLP request → plain spans → OtlpIngest → response.
Authentication (Bearer or Basic, scope `ingest`) and error statuses come from the interceptor,
as for every RPC of ours."""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from collector.api.interceptor import current_principal
from collector.ingest.pipeline import Admission, admitted
from collector.otlp.service import ExportOutcome, OtlpIngest
from collector.otlp.spans import Span, export_response, spans_of

log = logging.getLogger(__name__)

SERVICE_NAME = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name

# Compiled (collector.app.compiled.NATIVE), an export is read off the wire into Spans, without
# protobuf messages in between; a request it leaves, and every request when it is not built,
# is parsed by protobuf and read by spans_of.
read_spans: Callable[[bytes], list[Span] | None] | None
try:
    from collector.otlp.wire_spans import read_spans
except ImportError:  # not built
    read_spans = None


def export_request(data: bytes) -> list[Span] | trace_service_pb2.ExportTraceServiceRequest:
    """Export's request deserializer: the spans, read off the wire, or the message."""
    read = read_spans(data) if read_spans is not None else None
    return trace_service_pb2.ExportTraceServiceRequest.FromString(data) if read is None else read


def add_trace_servicer(servicer: TraceServicer, server: grpc.aio.Server) -> None:
    """trace_service_pb2_grpc.add_TraceServiceServicer_to_server, with export_request as
    Export's deserializer."""
    handlers = {
        "Export": grpc.unary_unary_rpc_method_handler(
            servicer.Export,
            request_deserializer=export_request,
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


class TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, otlp: OtlpIngest, admission: Admission) -> None:
        self._otlp = otlp
        self._admission = admission

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest | list[Span],
        context: grpc.aio.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        # Read off the wire already (export_request), or the message protobuf parsed.
        spans = request if isinstance(request, list) else spans_of(request)
        if not spans:
            return export_response(0, "")  # nothing to write: no batch
        principal = current_principal()
        # Admitted and counted like a batch of any other transport (aegis_inflight_batches,
        # aegis_ingest_batch_seconds).
        outcome: ExportOutcome = await admitted(
            self._admission, lambda: self._otlp.export(principal, spans)
        )
        log.debug(
            "otlp export: %d LLM events stored, %d duplicates; %d spans stored, %d duplicates; "
            "%d rejected, %d LLM spans not stored as events",
            outcome.accepted,
            outcome.duplicates,
            outcome.spans_stored,
            outcome.span_duplicates,
            outcome.rejected,
            outcome.not_events,
        )
        return export_response(outcome.rejected, outcome.error_message)
