"""`make run`: supervise the whole stack (collector with its embedded database, gateway)."""
