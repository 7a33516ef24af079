"""Integration tests: real databases (SQLite and PostgreSQL), no mocks."""
