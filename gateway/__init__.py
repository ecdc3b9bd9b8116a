"""AegisAI REST gateway: the seed's JSON contract, served by calling the collector over gRPC."""
