"""The database: SQLAlchemy 2 tables, the unit of work, connection set-up and migrations."""
