"""Alert rules: the rules service, the metric values rules are judged on, evaluation (the
ok/firing/resolved state machine), signed webhook attempts (webhooks), the deliverer that
runs them in the background (delivery), and the SSRF guard for webhook URLs.

Plain Python only: no protobuf or gRPC here (collector.servicers and collector.convert are the
edge). Modules here may import collector.storage, collector.errors, collector.ratelimit and
collector.tokens; the job entry point (collector.alerts.job.alerts_job) is wired into the
scheduler by collector/server.py, never imported by collector.jobs.
"""
