"""Reading events back: dashboards (from rollups), export (by batch listings), the live tail
(a change stream), and stored events as JSON.

May import ingest (the batch listings' format), rollups, auth, store and the base modules."""
