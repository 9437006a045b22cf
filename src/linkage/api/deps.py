"""Dependencies: the settings and the engine live on the app, made by ``create_app``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from linkage.api.errors import ApiError
from linkage.api.settings import Settings
from linkage.api.tables import TableCache
from linkage.scenario.problems import Problem


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_engine(request: Request) -> Engine:
    engine = request.app.state.engine
    assert isinstance(engine, Engine)
    return engine


def get_tables(request: Request) -> TableCache:
    tables = request.app.state.tables
    assert isinstance(tables, TableCache)
    return tables


def single_valued_query(request: Request) -> None:
    """422 when a query parameter the route declares is given more than once: each is a single
    value, and which of several counts would be a guess (FastAPI takes the last)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    names = [p.alias for p in dependant.query_params] if dependant is not None else []
    repeated = [n for n in names if len(request.query_params.getlist(n)) > 1]
    if repeated:
        raise ApiError(
            422,
            "invalid_request",
            "the request is not valid",
            [Problem("query", None, name, None, "a single value") for name in repeated],
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
TablesDep = Annotated[TableCache, Depends(get_tables)]
EngineDep = Annotated[Engine, Depends(get_engine)]
