"""Who is calling: JWT tokens, API clients and their secrets, the client-status cache (revoked
or rotated clients), Basic credentials (OTLP), rate limits and the audit log.

May import store and the base modules (errors, domain, dates, prometheus)."""
