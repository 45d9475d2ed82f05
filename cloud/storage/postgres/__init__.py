"""PostgreSQL (optionally TimescaleDB) storage via psycopg 3."""
