"""The app factory and the server: ``create_app(settings)``, ``serve(settings, host, port)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from linkage.api.deps import single_valued_query
from linkage.api.errors import install_handlers
from linkage.api.limits import BodyLimitMiddleware
from linkage.api.settings import Settings
from linkage.api.storage import current_revision, head_revision, make_engine, migrate
from linkage.api.tables import TableCache

log = logging.getLogger("linkage.api")
API_VERSION = "1.0.0"  # the OpenAPI document's version; /v1 changes only with breaking changes
DESCRIPTION = """Plans for China's community social work (五社联动, 牵手计划) over HTTP.

Authenticate with an API key: `Authorization: Bearer KEY` or `X-API-Key: KEY`. Keys are
made by `linkage keys create --tenant T --role R` (viewer: read; planner: create and solve;
admin: keys). Every error answers `{"error": {"code", "message", "problems": [...]}}`.
"""


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    """A new app for ``settings`` (default: from the environment); migrates the database to
    head when it starts (unless ``run_migrations`` is false)."""
    settings = settings if settings is not None else Settings.from_env()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_migrations:
            await run_in_threadpool(migrate, engine)
        runner = None
        if settings.run_jobs and await run_in_threadpool(_at_head, engine):
            from linkage.api.worker import JobRunner

            runner = JobRunner(engine, settings)
            await run_in_threadpool(runner.recover)
            runner.start()
        app.state.runner = runner
        try:
            yield
        finally:
            if runner is not None:
                await run_in_threadpool(runner.stop)
            engine.dispose()

    app = FastAPI(
        title="linkage",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.tables = TableCache()
    install_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)

    from linkage.api.routers import jobs, keys, scenarios, system, whatifs

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(single_valued_query)])
    v1.include_router(system.router)
    v1.include_router(scenarios.router)
    v1.include_router(jobs.router)
    v1.include_router(whatifs.router)
    v1.include_router(keys.router)
    app.include_router(v1)
    return app


def _at_head(engine: Engine) -> bool:
    """Whether the database is reachable and migrated: jobs run only then (/v1/ready says
    what is wrong otherwise)."""
    try:
        return current_revision(engine) == head_revision()
    except SQLAlchemyError:
        log.warning("the database is not reachable: no jobs run", exc_info=True)
        return False


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory linkage.api.app:app_from_env`` (several worker processes)."""
    return create_app(Settings.from_env())


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn until interrupted (``linkage serve``)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
