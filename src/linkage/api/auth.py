"""Authentication (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``) and role checks."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from linkage.api.deps import get_engine
from linkage.api.errors import ApiError
from linkage.api.keys import Principal, lookup
from linkage.api.repo import TenantStore

bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer", description="an API key")
header_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="an API key"
)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authenticate(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header: Annotated[str | None, Depends(header_scheme)],
    engine: Annotated[Engine, Depends(get_engine)],
) -> Principal:
    key = header or (bearer.credentials if bearer is not None else None)
    if not key:
        raise ApiError(
            401,
            "unauthenticated",
            "an API key is required: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            headers=CHALLENGE,
        )
    principal = lookup(engine, key)
    if principal is None:
        raise ApiError(401, "invalid_key", "the API key is unknown or revoked", headers=CHALLENGE)
    return principal


def require(role: str) -> Callable[..., Principal]:
    """A dependency: the caller, who must hold ``role`` or a higher one."""

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.allows(role):
            raise ApiError(
                403, "forbidden", f"this needs the {role} role; the key is a {principal.role} key"
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def tenant_store(role: str) -> Callable[..., TenantStore]:
    """A dependency: the caller's tenant's store, once the caller is known to hold ``role``."""

    checked = require(role)

    def dependency(
        principal: Annotated[Principal, Depends(checked)],
        engine: Annotated[Engine, Depends(get_engine)],
    ) -> TenantStore:
        return TenantStore(engine, principal)

    dependency.__name__ = f"store_{role}"
    return dependency


# the caller's tenant's store, for a caller holding at least the named role
AsViewer = Annotated[TenantStore, Depends(tenant_store("viewer"))]
AsPlanner = Annotated[TenantStore, Depends(tenant_store("planner"))]
AsAdmin = Annotated[TenantStore, Depends(tenant_store("admin"))]
