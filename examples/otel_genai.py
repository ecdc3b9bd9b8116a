"""Send one GenAI chat span to AegisAI with the OpenTelemetry SDK, configured only by the
standard OTEL_EXPORTER_OTLP_* environment variables (see the README).

OTEL_EXPORTER_OTLP_PROTOCOL=grpc (default) or http/protobuf picks the exporter; the exporter
itself reads OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS.

.venv/bin/python examples/otel_genai.py
"""

import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def exporter() -> SpanExporter:
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return OTLPSpanExporter()


def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-example"}))
    provider.add_span_processor(BatchSpanProcessor(exporter()))
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
    print("sent 1 span: gpt-4o-mini, 1200 input + 300 output tokens")


if __name__ == "__main__":
    main()
