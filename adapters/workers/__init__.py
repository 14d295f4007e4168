"""Workers on a PostgreSQL-backed job queue (procrastinate): many accounts, many processes."""
