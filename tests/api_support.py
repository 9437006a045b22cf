"""Helpers for the API tests: an app on a fresh database (a SQLite file, or a database on the
test PostgreSQL server), keys, and small scenarios."""

from __future__ import annotations

import copy
import io
import os
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

with warnings.catch_warnings():  # newer Starlette warns about its httpx-based client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import write_scenario
from linkage.api.app import create_app
from linkage.api.keys import create_key
from linkage.api.settings import Settings
from linkage.scenario.io import load_folder, to_document


@dataclass
class Api:
    client: TestClient
    settings: Settings

    def headers(self, tenant: str = "t1", role: str = "planner") -> dict[str, str]:
        return {"Authorization": f"Bearer {create_key(self.settings, tenant, role)}"}


# A PostgreSQL server for the suite's second pass (``./run.sh test`` starts one with
# scripts/start-postgres.sh): each test then gets a database of its own on it.
SERVER_URL_VARIABLE = "LINKAGE_TEST_DATABASE_URL"


def on_postgresql() -> bool:
    return bool(os.environ.get(SERVER_URL_VARIABLE))


@contextmanager
def database_url() -> Iterator[str]:
    """A fresh, empty database on the test PostgreSQL server, dropped afterwards; or ``""``
    (the default SQLite file in the data dir) when no server is configured."""
    server = os.environ.get(SERVER_URL_VARIABLE, "")
    if not server:
        yield ""
        return
    import secrets

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"linkage_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def fresh_settings(tmp_path: Path, **limits: Any) -> Iterator[Settings]:
    """Settings on a fresh data dir and a fresh database (SQLite, or PostgreSQL in its pass)."""
    with database_url() as url:
        yield Settings(data_dir=tmp_path / "data", database_url=url, **limits)


def open_api(settings: Settings) -> Iterator[Api]:
    """An app (started, migrations run) on ``settings``' database."""
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


def make_api(tmp_path: Path, **limits: Any) -> Iterator[Api]:
    """An app on a fresh database."""
    with fresh_settings(tmp_path, **limits) as settings:
        yield from open_api(settings)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path)


_DOCUMENT: dict[str, Any] = {}


def tiny_document(tmp_path: Path) -> dict[str, Any]:
    """The tiny two-province scenario of conftest as a JSON document (a fresh copy)."""
    if not _DOCUMENT:
        _DOCUMENT.update(to_document(load_folder(write_scenario(tmp_path / "tiny-doc"))))
    return copy.deepcopy(_DOCUMENT)


def zip_bytes(entries: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            archive.writestr(name, data)
    return buffer.getvalue()


def folder_zip(folder: Path, prefix: str = "") -> bytes:
    return zip_bytes({prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir())})


def create_scenario(api: Api, headers: dict[str, str], document: dict[str, Any]) -> str:
    response = api.client.post("/v1/scenarios", json=document, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
