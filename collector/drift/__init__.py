"""Drift: what ML events' features and predictions look like, summarised at ingest, and how far
they moved.

Raw feature values are never stored. Ingest summarises each (model, feature or "prediction",
hour) of a batch into a mergeable sketch (`sketches.py`) and writes the summaries as
insert-only `drift_partials` documents in the batch's own transaction (`partials.py`), so a
duplicate event adds nothing. A job (`fold.py`) merges them into `drift_hour` and `drift_day`
sketches exactly once; `reader.py` merges what covers a range. `compare.py` turns two windows'
sketches into PSI, Jensen-Shannon distance and a status; `report.py` is the ml-drift answer.

May import: collector.store.storage, collector.errors, collector.domain, collector.dates,
collector.rollups.reader. Nothing here knows gRPC or HTTP.
"""
