"""The gRPC API: the interceptor (tokens, scopes, status mapping, request limits), one
servicer per service, and the protobuf ↔ domain conversion. Protobuf stops here: below this
package everything takes and returns plain Python.

May import auth, ingest, query, alerts, rollups, store and the base modules; not otlp, jobs
or app."""
