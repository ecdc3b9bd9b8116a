"""OTLP trace ingest: every span is kept as a span of its trace, and OpenTelemetry GenAI and
OpenInference LLM spans also become LLM events.

- spans.py: the edge — OTLP protobuf spans read into plain `Span`s (protobuf stops there);
- records.py: the span record every span becomes (collector.ingest.span_records);
- mapping.py: which spans are LLM calls, and the LLM event each becomes;
- content.py: an LLM span's input, output and system instructions, from the conventions'
  several shapes;
- service.py: one export — map, then write through collector.ingest (which prices events
  without a cost, for every transport, and writes the span records with the events), so
  rollups and dashboards see OTLP events like any other;
- servicer.py: the thin TraceService/Export servicer.

May import collector.api (the interceptor's principal), collector.ingest and the base modules.
"""
