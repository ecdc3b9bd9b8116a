"""Background jobs: the scheduler wiring, the leases that keep each job on one replica, and
retention.

Jobs are plain async functions with their dependencies bound in (functools.partial) by the
composition root, collector/app/server.py; they return a small summary dict or None. Modules here
may import collector.store, collector.errors and the other base modules; never the gRPC edge
(servicers, their conversions, protobuf) nor another job's internals (e.g. collector.alerts).
"""
