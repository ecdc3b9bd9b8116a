"""Drift of ML features and predictions: sketches of the values, and how far they moved.

May import: collector.store.storage, collector.errors. Nothing here knows gRPC or HTTP.
"""
