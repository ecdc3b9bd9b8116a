"""Send one GenAI chat span to AegisAI with the OpenTelemetry SDK, configured only by the
standard OTEL_EXPORTER_OTLP_* environment variables (see the README).

OTEL_EXPORTER_OTLP_PROTOCOL=grpc (default) or http/protobuf picks the exporter; the exporter
itself reads OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS.

.venv/bin/python examples/otel_genai.py

Exits 1, saying so on stderr, when the export failed (refused credentials, wrong endpoint):
a BatchSpanProcessor only logs that, so the exporter is wrapped to remember it.
"""

import os
import sys
from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


def exporter() -> SpanExporter:
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return OTLPSpanExporter()


class CountingExporter(SpanExporter):
    """The exporter, counting the spans it sent and those it failed to send."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.sent += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def main() -> int:
    counting = CountingExporter(exporter())
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-example"}))
    provider.add_span_processor(BatchSpanProcessor(counting))
    tracer = provider.get_tracer("examples.otel_genai")
    # What an instrumented OpenAI call records (GenAI semantic conventions).
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 1200)
        span.set_attribute("gen_ai.usage.output_tokens", 300)
        span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
    provider.force_flush()
    provider.shutdown()
    if counting.failed or not counting.sent:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "the default endpoint")
        print(
            f"the span was not accepted by {endpoint} (the exporter logged why above): check "
            "OTEL_EXPORTER_OTLP_ENDPOINT and the credentials in OTEL_EXPORTER_OTLP_HEADERS",
            file=sys.stderr,
        )
        return 1
    print("sent 1 span: gpt-4o-mini, 1200 input + 300 output tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
