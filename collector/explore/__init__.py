"""Explore: event search, traces, sessions and users over the compact rows ingest writes."""
