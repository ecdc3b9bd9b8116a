"""ExportService: protobuf in → plain export call → protobuf out, and its conversions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from aegis.v1 import export_pb2, export_pb2_grpc
from collector.api.interceptor import current_principal
from collector.dates import parse_range
from collector.query.export import Exporter, ExportQuery, parse_format, parse_kind

Context: TypeAlias = grpc.aio.ServicerContext


def export_query(request: export_pb2.ExportEventsRequest) -> ExportQuery:
    return ExportQuery(
        kind=parse_kind(request.kind),
        dates=parse_range(request.start_date, request.end_date),
        model=request.model or None,
        format=parse_format(request.format),
    )


class ExportServicer(export_pb2_grpc.ExportServiceServicer):
    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    async def ExportEvents(
        self, request: export_pb2.ExportEventsRequest, context: Context
    ) -> AsyncIterator[export_pb2.ExportChunk]:
        query = export_query(request)
        async for chunk in self._exporter.export(current_principal().tenant, query):
            yield export_pb2.ExportChunk(
                data=chunk.data, events=chunk.events, content_type=chunk.content_type
            )
