"""The database: the MongoDB handle with its collections, indexes and transactions, the
embedded SecantusDB child process, and database health.

May import only the base modules (errors, domain, prometheus)."""
