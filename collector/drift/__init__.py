"""Drift: what ML events' features and predictions look like, summarised at ingest.

Raw feature values are never stored. Ingest summarises each (model, feature or "prediction",
hour) of a batch into a mergeable sketch (`sketches.py`) and writes the summaries as
insert-only `drift_partials` documents in the batch's own transaction (`partials.py`), so a
duplicate event adds nothing. A job (`fold.py`) merges them into `drift_hour` and `drift_day`
sketches exactly once; `reader.py` merges what covers a range.

May import: collector.store.storage, collector.errors, collector.domain. Nothing here knows
gRPC or HTTP.
"""
