"""Alert rules: the rules service, the metric values rules are judged on, evaluation (the
ok/firing/resolved state machine), signed webhook attempts (webhooks), the deliverer that
runs them in the background (delivery), and the SSRF guard for webhook URLs.

Plain Python only: no protobuf or gRPC here (collector.api is the edge). Modules here may
import collector.store, collector.rollups, collector.query (rounding), collector.auth (rate
limits, audit) and the base modules; the job entry point (collector.alerts.job.alerts_job) is
wired into the scheduler by collector/app/server.py, never imported by collector.jobs.
"""
