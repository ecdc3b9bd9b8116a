"""`make bench`: ingest throughput, collector CPU and memory, on the embedded database.

One run starts SecantusDB, the collector and the gateway as child processes and measures,
with the same events, batch size and write concern: raw `insert_many` into the database,
gRPC streaming through the SDK, and REST through the gateway. See `python -m bench --help`.
"""
