"""Service settings: read from ``LINKAGE_*`` environment variables when asked, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "LINKAGE_"
MIB = 1024 * 1024


class Settings(BaseModel):
    """Where data lives and the limits every request is held to.

    Each field can be set by the environment variable ``LINKAGE_<FIELD>`` (``LINKAGE_DATA_DIR``,
    ``LINKAGE_DATABASE_URL``, ``LINKAGE_MAX_UPLOAD_BYTES``, ...) through ``from_env``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(default=Path("linkage-data"), description="folder for the database")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty: SQLite file data_dir/linkage.db"
    )
    max_upload_bytes: int = Field(default=20 * MIB, gt=0, description="largest request body")
    max_uncompressed_bytes: int = Field(
        default=200 * MIB, gt=0, description="largest total size of a zip's or workbook's entries"
    )
    max_zip_ratio: float = Field(default=200.0, gt=1, description="largest compression ratio")
    max_zip_entries: int = Field(default=200, gt=0, description="most files in a zip or workbook")
    max_rows_per_table: int = Field(default=500_000, gt=0, description="most rows in any table")
    max_solve_seconds: float = Field(
        default=600.0, gt=0, description="longest time limit of one stage of a solve"
    )
    max_job_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="longest wall-clock time of a whole job; it then stops, keeping its best plan",
    )
    max_variants: int = Field(default=200, gt=0, description="most variants in a what-if batch")
    max_concurrent_jobs: int = Field(
        default=2, gt=0, description="most queued or running jobs per tenant"
    )
    run_jobs: bool = Field(
        default=True, description="run queued jobs in this server's worker processes"
    )
    job_workers: int = Field(default=2, gt=0, description="most solves this server runs at once")
    job_poll_seconds: float = Field(default=0.5, gt=0, description="how often to look for jobs")
    job_heartbeat_seconds: float = Field(
        default=2.0, gt=0, description="how often a running job writes its heartbeat"
    )
    job_stale_seconds: float = Field(
        default=60.0, gt=0, description="a running job silent this long is marked interrupted"
    )
    page_limit_default: int = Field(default=50, gt=0)
    page_limit_max: int = Field(default=500, gt=0)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            db = (self.data_dir / "linkage.db").resolve()
            object.__setattr__(self, "database_url", f"sqlite:///{db}")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``LINKAGE_*`` variables (``environ`` defaults to ``os.environ``)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        values.update(overrides)
        return cls.model_validate(values)
