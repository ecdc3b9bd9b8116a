"""Taking events in: validation, pricing (genai-prices and tenants' overrides), the stream
pipeline with its backpressure, and the one-transaction-per-batch write of events, their
rollup partial, their batch listing and the span records of their traces.

May import auth, rollups, store and the base modules."""
