"""Explore: from numbers to causes. Event search, whole traces, sessions, users and the
per-user sums grouped alert rules judge, over what ingest writes with each batch (compact rows
and a note) and what the explore job folds from the notes (a directory and summaries).

May import the base modules and `store` only; `ingest` writes through it, `query` and `alerts`
read through it (docs/architecture.md, "Layout")."""
