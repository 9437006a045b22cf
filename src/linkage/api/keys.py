"""API keys: ``lk_<id>_<secret>``, stored as a SHA-256 hash and looked up by their public id.

The secret is 256 random bits, so a fast hash is enough (no offline guessing is feasible); the id
lets a request find its row with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linkage.api.settings import Settings
from linkage.api.storage import ROLES, api_keys, make_engine, migrate, tenants, utcnow

PREFIX = "lk_"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and role."""

    tenant_id: str
    role: str
    key_id: str

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_tenant_and_role(tenant: str, role: str) -> None:
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(
            f"tenant {tenant!r}: expected 1-64 letters, digits, '_', '.' or '-' "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")


def issue_key(conn: Connection, tenant: str, role: str, name: str = "") -> dict[str, Any]:
    """Insert a new key (and the tenant, if new); the row plus ``key``, the only plaintext copy."""
    check_tenant_and_role(tenant, role)
    now = utcnow()
    if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant)).first() is None:
        conn.execute(tenants.insert().values(id=tenant, created_at=now))
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = {
        "id": key_id,
        "tenant_id": tenant,
        "role": role,
        "secret_hash": hash_key(key),
        "name": name,
        "created_at": now,
    }
    conn.execute(api_keys.insert().values(**row))
    return {**row, "key": key}


def create_key(settings: Settings, tenant: str, role: str, name: str = "") -> str:
    """Create a key for ``tenant`` with ``role`` (migrating the database first); return it.

    For ``linkage keys create --tenant T --role R``; raises ValueError for a bad tenant or role.
    """
    check_tenant_and_role(tenant, role)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            return str(issue_key(conn, tenant, role, name)["key"])
    finally:
        engine.dispose()


def lookup(engine: Engine, key: str) -> Principal | None:
    """The principal for a presented key, or None when it is malformed, unknown or revoked."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, _secret = key[len(PREFIX) :].partition("_")
    if not sep or not key_id:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_keys.c.tenant_id, api_keys.c.role, api_keys.c.secret_hash).where(
                api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, hash_key(key)):
        return None
    return Principal(tenant_id=row.tenant_id, role=row.role, key_id=key_id)


def list_keys(conn: Connection, tenant: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(api_keys)
        .where(api_keys.c.tenant_id == tenant, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [dict(r._mapping) for r in rows]


def revoke_key(conn: Connection, tenant: str, key_id: str) -> bool:
    """Revoke one of ``tenant``'s keys; False when it has no such live key."""
    result = conn.execute(
        api_keys.update()
        .where(
            api_keys.c.id == key_id,
            api_keys.c.tenant_id == tenant,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)
