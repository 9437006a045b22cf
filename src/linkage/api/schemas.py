"""Response bodies (request bodies are scenario documents and uploads, read by ``intake``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from linkage.api.errors import ProblemOut

Role = Literal["viewer", "planner", "admin"]

# the JSON scenario document, as `linkage convert scenario out.json` writes it
DOCUMENT_SCHEMA: dict[str, Any] = {
    "title": "ScenarioDocument",
    "type": "object",
    "description": 'A scenario: {"scenario": <scenario.yaml as an object>, "tables": '
    "{table name: [row objects]}} — the form `linkage convert` writes to a .json file.",
    "properties": {
        "scenario": {"type": "object", "additionalProperties": True},
        "tables": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": True},
            },
        },
    },
    "required": ["scenario", "tables"],
}


class ScenarioOut(BaseModel):
    id: str
    name: str
    source: Literal["json", "xlsx", "zip"] = Field(description="how it was uploaded")
    created_at: datetime
    rows: dict[str, int] = Field(description="rows per table")
    warnings: list[ProblemOut]


class ScenarioPage(BaseModel):
    items: list[ScenarioOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class ValidationOut(BaseModel):
    valid: Literal[True] = True
    name: str
    rows: dict[str, int]
    warnings: list[ProblemOut]


class KeyCreate(BaseModel):
    role: Role
    name: str = Field(default="", max_length=200, description="a note: who or what uses the key")


class KeyOut(BaseModel):
    id: str = Field(description="the key's public prefix")
    tenant: str
    role: Role
    name: str
    created_at: datetime


class KeyCreated(KeyOut):
    key: str = Field(description="the secret key; shown once, stored only hashed")


class KeyList(BaseModel):
    items: list[KeyOut]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    revision: str
