"""Suite-wide fixtures. The database is the real one named by DATABASE_URL (PostgreSQL in `make test`)."""
