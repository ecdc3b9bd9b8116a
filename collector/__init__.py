"""AegisAI collector: the gRPC server that owns auth, validation, storage and dashboards."""
