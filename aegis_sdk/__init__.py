"""AegisAI Python SDK (being written)."""
