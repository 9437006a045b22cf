"""Alembic migrations of the API's database (run by ``linkage.api.storage.migrate``)."""
