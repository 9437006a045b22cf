"""Storage: migrations, the schema they build, SQLite pragmas, settings from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import api_support  # skips without the api extra
from api_support import database_url
from linkage.api.settings import Settings
from linkage.api.storage import (
    current_revision,
    head_revision,
    make_engine,
    metadata,
    migrate,
    new_id,
    scenarios,
    utcnow,
)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new database in the PostgreSQL pass."""
    with database_url() as server_url:
        yield server_url or f"sqlite:///{tmp_path / 'new' / 'linkage.db'}"


def test_migrate_brings_a_fresh_database_to_head(url: str) -> None:
    """A new database is migrated to the newest revision, with every table."""
    migrate(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision() is not None
        names = set(sa.inspect(engine).get_table_names())
        assert {"tenants", "api_keys", "scenarios", "jobs", "plans", "plan_tables"} <= names
    finally:
        engine.dispose()


def test_migrate_twice_is_harmless(url: str) -> None:
    """Migrating a database already at head changes nothing and raises nothing."""
    migrate(url)
    migrate(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrations_build_the_declared_schema(url: str) -> None:
    """Alembic finds no difference between the migrated database and storage.metadata."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_sqlite_pragmas_are_in_effect(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with foreign keys on and a busy timeout."""
    engine = make_engine(f"sqlite:///{tmp_path / 'linkage.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(url: str) -> None:
    """A scenario of a tenant that does not exist is refused by the database."""
    engine = make_engine(url)
    try:
        migrate(engine)
        row = {
            "id": new_id("sc_"),
            "tenant_id": "nobody",
            "name": "x",
            "source": "json",
            "created_at": utcnow(),
            "document": {},
            "row_counts": {},
            "warnings": [],
        }
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(scenarios.insert().values(**row))
    finally:
        engine.dispose()


def test_new_ids_sort_by_creation() -> None:
    """Ids made later sort after earlier ones (pagination relies on it)."""
    import time

    first = new_id("sc_")
    time.sleep(0.002)
    assert new_id("sc_") > first


def test_settings_from_environment(tmp_path: Path) -> None:
    """LINKAGE_* variables set the data dir, database URL and limits; the default URL is a
    SQLite file in the data dir."""
    settings = Settings.from_env(
        {"LINKAGE_DATA_DIR": str(tmp_path), "LINKAGE_MAX_UPLOAD_BYTES": "1234"}
    )
    assert settings.max_upload_bytes == 1234
    assert settings.database_url == f"sqlite:///{(tmp_path / 'linkage.db').resolve()}"
    url = "postgresql+psycopg://u:p@db/linkage"
    assert Settings.from_env({"LINKAGE_DATABASE_URL": url}).database_url == url


def test_settings_reject_bad_limits() -> None:
    """A non-positive or non-numeric limit in the environment is an error, not a default."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings.from_env({"LINKAGE_MAX_ROWS_PER_TABLE": "0"})
    with pytest.raises(ValidationError):
        Settings.from_env({"LINKAGE_MAX_CONCURRENT_JOBS": "many"})


def test_the_postgresql_pass_runs_on_postgresql(url: str) -> None:
    """With LINKAGE_TEST_DATABASE_URL set, the API tests' databases are PostgreSQL ones."""
    if not api_support.on_postgresql():
        pytest.skip("the SQLite pass (no LINKAGE_TEST_DATABASE_URL)")
    engine = make_engine(url)
    try:
        assert engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW server_encoding").scalar() == "UTF8"
    finally:
        engine.dispose()
