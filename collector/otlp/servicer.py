"""The OTLP TraceService/Export servicer: OTLP request → plain spans → OtlpIngest → response.
Authentication (Bearer or Basic, scope `ingest`) and error statuses come from the interceptor,
as for every RPC of ours."""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from collector.api.interceptor import current_principal
from collector.ingest.pipeline import Admission, admitted
from collector.otlp.service import ExportOutcome, OtlpIngest
from collector.otlp.spans import export_response, spans_of

log = logging.getLogger(__name__)

SERVICE_NAME = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name


class TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, otlp: OtlpIngest, admission: Admission) -> None:
        self._otlp = otlp
        self._admission = admission

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        spans = spans_of(request)
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
