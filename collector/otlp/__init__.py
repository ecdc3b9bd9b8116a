"""OTLP trace ingest: OpenTelemetry GenAI and OpenInference spans become LLM events.

- spans.py: the edge — OTLP protobuf spans read into plain `Span`s (protobuf stops there);
- mapping.py: which spans are LLM calls, and the LLM event each becomes;
- service.py: one export — map, then write through collector.ingest (which prices events
  without a cost, for every transport), so rollups and dashboards see OTLP events like any
  other;
- servicer.py: the thin TraceService/Export servicer.

May import collector.api (the interceptor's principal), collector.ingest and the base modules.
"""
