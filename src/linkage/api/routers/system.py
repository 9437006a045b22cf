"""Health (the process answers) and readiness (database reachable, migrations at head)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from linkage.api.deps import EngineDep
from linkage.api.errors import ApiError, errors
from linkage.api.schemas import Health, Ready
from linkage.api.storage import current_revision, head_revision

router = APIRouter(tags=["system"])


@router.get("/health", operation_id="health", response_model=Health)
def health() -> Health:
    from linkage import __version__

    return Health(version=__version__)


@router.get("/ready", operation_id="ready", response_model=Ready, responses=errors(503))
def ready(engine: EngineDep) -> Ready:
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise ApiError(
            503, "database_unavailable", f"the database is not reachable: {exc}"
        ) from None
    head = head_revision()
    if current != head:
        raise ApiError(
            503, "migrations_pending", f"the database is at revision {current}, not {head}"
        )
    return Ready(revision=str(current))
