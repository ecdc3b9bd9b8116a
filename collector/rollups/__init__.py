"""Rollups: what dashboards and alerts read instead of raw events.

Ingest writes, in the same transaction as a batch's new events, one insert-only *partial*
document: the batch's aggregates per (model, minute) and its newest events (`partials.py`).
No shared document is touched on the hot path, so concurrent batches never conflict. A job
(`fold.py`), single-runner through a lease, folds partials into minute, hour and day buckets
in short rounds: each round merges some cells into buckets and deletes (or, for a partial
too large for one round, rewrites) the partials they came from, in one transaction, so every
stored event is counted exactly once.
Readers (`reader.py`) combine the coarsest tier covering a range, finer tiers at its edges,
the partials not yet folded, and raw events for sub-minute edges.

May import: collector.store.storage, collector.errors. Nothing here knows gRPC or HTTP.
"""
