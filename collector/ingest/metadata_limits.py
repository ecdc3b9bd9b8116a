"""The bounds of an event's metadata: collector.ingest.validation and its walk in C,
collector.ingest.metadata_walk, both hold to them."""

MAX_METADATA_DEPTH = 8
MAX_METADATA_NODES = 2000
MAX_METADATA_STRING = 16_384
MAX_METADATA_KEY = 256
# Characters of all keys and strings of one event's metadata: what it costs to store.
MAX_METADATA_CHARS = 65_536
