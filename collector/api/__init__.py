"""The gRPC API. Protobuf stops here: below this package everything takes and returns plain
Python.

- interceptor: tokens, scopes, status mapping, request limits.
- one module per service, holding its servicer and its protobuf ↔ domain conversions:
  auth_service, ingest_service, export_service, tail_service, dashboard_service,
  alert_service, price_service.
- ingest's events, read into plain Python: proto_events (MLEvent, LLMEvent) and json_events
  (the events of JSON batches, one by one).
- proto_values: the protobuf values every service converts (Timestamp, Struct).

May import auth, ingest, query, alerts, rollups, store and the base modules; not otlp, jobs
or app."""
