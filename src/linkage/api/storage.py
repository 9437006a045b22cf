"""Storage: the SQLAlchemy engine, the schema, and Alembic migrations.

SQLite by default (one file, WAL, foreign keys on, a busy timeout); PostgreSQL by URL. The schema
here is what the migrations in ``migrations/versions`` build; a test checks the two agree.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).parent / "migrations"

ROLES = ("viewer", "planner", "admin")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled", "interrupted")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    _ts("created_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the key's public prefix
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),  # sha256 hex of the whole key
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    _ts("created_at"),
    _ts("revoked_at", nullable=True),
    sa.CheckConstraint("role IN ('viewer', 'planner', 'admin')", name="role"),
    sa.Index(None, "tenant_id"),
)

scenarios = sa.Table(
    "scenarios",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # time-ordered: newest sorts last
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # json, xlsx, zip
    _ts("created_at"),
    sa.Column("document", sa.JSON, nullable=False),  # linkage.scenario.io.to_document
    sa.Column("row_counts", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),  # Problem.to_dict() each
    sa.Index(None, "tenant_id", "id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "scenario_id",
        sa.String(40),
        sa.ForeignKey("scenarios.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(16), nullable=False, server_default="solve"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("options", sa.JSON, nullable=False),  # stages, time limit, seed, ...
    sa.Column("progress", sa.JSON, nullable=False),  # stage, elapsed, objective, bound, gap
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("worker", sa.String(100), nullable=True),  # host:pid of the running worker
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    _ts("created_at"),
    _ts("started_at", nullable=True),
    _ts("heartbeat_at", nullable=True),
    _ts("finished_at", nullable=True),
    sa.CheckConstraint(
        "status IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'interrupted')",
        name="status",
    ),
    sa.Index(None, "tenant_id", "id"),
    sa.Index(None, "status"),
    sa.Index(None, "scenario_id"),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("summary", sa.JSON, nullable=False),  # Plan.summary()
    sa.Column("report_html", sa.Text, nullable=True),
    _ts("created_at"),
    sa.Index(None, "tenant_id"),
)

plan_tables = sa.Table(
    "plan_tables",
    metadata,
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("plans.job_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("csv", sa.LargeBinary, nullable=False),  # UTF-8 CSV as Plan.save writes it
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A time-ordered id: ``prefix`` + 12 hex digits of milliseconds + 12 random hex digits."""
    import secrets

    return f"{prefix}{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout per connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' is configparser's escape; the URL is only informative, env.py uses the engine
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def migrate(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the newest); safe to run on every start."""
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            config = _alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
