"""Helpers for the API tests: an app on a fresh SQLite file, keys, and small scenarios."""

from __future__ import annotations

import copy
import io
import warnings
import zipfile
from collections.abc import Iterator
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


def make_api(tmp_path: Path, **limits: Any) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data", **limits)
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


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
