"""Tenant-scoped storage: every query made through a ``TenantStore`` filters by its tenant."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linkage.api.errors import ApiError
from linkage.api.keys import Principal
from linkage.api.storage import new_id, scenarios, utcnow

CURSOR_VERSION = "1"


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_VERSION}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    version, sep, last_id = text.partition(":")
    if version != CURSOR_VERSION or not sep or not last_id:
        raise ApiError(400, "bad_cursor", "the cursor is not one this API returned")
    return last_id


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def scenario_out(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "source": row["source"],
        "created_at": aware(row["created_at"]),
        "rows": row["row_counts"],
        "warnings": row["warnings"],
    }


SUMMARY_COLUMNS = [c for c in scenarios.c if c.name != "document"]


@dataclass(frozen=True)
class TenantStore:
    engine: Engine
    principal: Principal

    @property
    def tenant(self) -> str:
        return self.principal.tenant_id

    def add_scenario(self, stored: dict[str, Any], source: str) -> dict[str, Any]:
        row = {
            "id": new_id("sc_"),
            "tenant_id": self.tenant,
            "source": source,
            "created_at": utcnow(),
            **stored,
        }
        with self.engine.begin() as conn:
            conn.execute(scenarios.insert().values(**row))
        return scenario_out(row)

    def list_scenarios(self, limit: int, cursor: str | None) -> dict[str, Any]:
        """Newest first; ``next_cursor`` continues after the last item shown."""
        query = sa.select(*SUMMARY_COLUMNS).where(scenarios.c.tenant_id == self.tenant)
        if cursor:
            query = query.where(scenarios.c.id < decode_cursor(cursor))
        query = query.order_by(scenarios.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        items = [scenario_out(r._mapping) for r in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}

    def _scenario_where(self, scenario_id: str) -> Any:
        return sa.and_(scenarios.c.id == scenario_id, scenarios.c.tenant_id == self.tenant)

    def get_scenario(self, scenario_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(*SUMMARY_COLUMNS).where(self._scenario_where(scenario_id))
            ).first()
        if row is None:
            raise not_found("scenario", scenario_id)
        return scenario_out(row._mapping)

    def get_document(self, scenario_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            document = conn.execute(
                sa.select(scenarios.c.document).where(self._scenario_where(scenario_id))
            ).scalar()
        if document is None:
            raise not_found("scenario", scenario_id)
        assert isinstance(document, dict)
        return document

    def delete_scenario(self, scenario_id: str) -> None:
        with self.engine.begin() as conn:
            deleted = conn.execute(
                scenarios.delete().where(self._scenario_where(scenario_id))
            ).rowcount
        if not deleted:
            raise not_found("scenario", scenario_id)


def not_found(what: str, ident: str) -> ApiError:
    """The same answer for a missing id and another tenant's: nothing tells them apart."""
    return ApiError(404, "not_found", f"no {what} {ident!r}")
