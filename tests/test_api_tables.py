"""Parsed plan tables kept between requests: pages after the first parse nothing, the cache
stays within its rows, and the tenant check comes before it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from api_support import Api, api
from linkage.api.tables import TableCache
from test_api_jobs import solved

_ = (api, solved)  # fixtures


def test_cache_keeps_recent_tables_within_its_rows() -> None:
    """A table is loaded once; the least recently used ones go when the rows exceed the
    bound; a table larger than the bound is returned but not kept."""
    cache = TableCache(max_rows=10)
    loads: list[str] = []

    def loader(name: str, rows: int) -> Any:
        def load() -> pd.DataFrame:
            loads.append(name)
            return pd.DataFrame({"x": range(rows)})

        return load

    a = cache.get(("j", "a"), loader("a", 4))
    assert cache.get(("j", "a"), loader("a", 4)) is a and loads == ["a"]
    cache.get(("j", "b"), loader("b", 4))
    cache.get(("j", "a"), loader("a", 4))  # a is now the most recent
    cache.get(("j", "c"), loader("c", 4))  # 12 rows > 10: b goes
    cache.get(("j", "a"), loader("a", 4))
    cache.get(("j", "b"), loader("b", 4))
    assert loads == ["a", "b", "c", "b"]
    big = cache.get(("j", "big"), loader("big", 11))
    assert len(big) == 11 and len(cache) <= 3
    cache.get(("j", "big"), loader("big", 11))
    assert loads.count("big") == 2


def test_pages_parse_the_table_once_and_check_the_tenant_first(
    solved: tuple[Api, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging through a plan table parses its CSV once; another tenant still gets 404 for
    the cached table."""
    from linkage.api.routers import jobs as routes

    api, headers, job_id = solved
    parsed: list[str] = []
    parse = routes._parse

    def counting(csv: bytes, name: str) -> Any:
        parsed.append(name)
        return parse(csv, name)

    monkeypatch.setattr(routes, "_parse", counting)
    url = f"/v1/jobs/{job_id}/plan/tables/targets"
    first = api.client.get(url, params={"limit": 1}, headers=headers).json()
    second = api.client.get(url, params={"limit": 1, "offset": 1}, headers=headers).json()
    assert first["total"] == second["total"] == 3
    assert first["rows"] != second["rows"] and parsed == ["targets"]
    other = api.client.get(url, params={"limit": 1}, headers=api.headers("t2"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
