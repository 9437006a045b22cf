"""API keys of the caller's tenant: create, list, revoke (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from linkage.api import keys
from linkage.api.auth import AsAdmin
from linkage.api.errors import errors
from linkage.api.repo import aware, not_found
from linkage.api.schemas import KeyCreate, KeyCreated, KeyList

router = APIRouter(prefix="/keys", tags=["keys"])


def _key_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenant": row["tenant_id"],
        "role": row["role"],
        "name": row["name"],
        "created_at": aware(row["created_at"]),
        **({"key": row["key"]} if "key" in row else {}),
    }


@router.post(
    "",
    operation_id="create_key",
    status_code=201,
    response_model=KeyCreated,
    responses=errors(400, 401, 403, 413),
)
def create_key(body: KeyCreate, store: AsAdmin) -> Any:
    with store.engine.begin() as conn:
        return _key_out(keys.issue_key(conn, store.tenant, body.role, body.name))


@router.get("", operation_id="list_keys", response_model=KeyList, responses=errors(401, 403))
def list_keys(store: AsAdmin) -> Any:
    with store.engine.connect() as conn:
        return {"items": [_key_out(r) for r in keys.list_keys(conn, store.tenant)]}


@router.delete(
    "/{key_id}",
    operation_id="revoke_key",
    status_code=204,
    response_class=Response,
    responses=errors(401, 403, 404),
)
def revoke_key(key_id: str, store: AsAdmin) -> Response:
    with store.engine.begin() as conn:
        if not keys.revoke_key(conn, store.tenant, key_id):
            raise not_found("key", key_id)
    return Response(status_code=204)
