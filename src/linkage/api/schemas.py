"""Response bodies (request bodies are scenario documents and uploads, read by ``intake``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


Stage = Literal["pairing", "staffing", "volunteers", "funds"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled", "interrupted"]


class SolveRequest(BaseModel):
    """What to solve: the stages (default: all, in pipeline order), a time limit per stage
    (default: the policy's, at most the server's ``max_solve_seconds``) and a seed."""

    model_config = ConfigDict(extra="forbid")

    stages: list[Stage] | None = Field(
        default=None, min_length=1, description="stages to solve; null: all of them"
    )
    time_limit_s: float | None = Field(
        default=None, gt=0, description="time limit per stage, seconds; null: the policy's"
    )
    seed: int | None = Field(default=None, ge=0, description="random seed; null: the policy's")


class WhatIfRequest(BaseModel):
    """What-if variants of the scenario, as in a what-if file without ``base`` (see
    ``linkage.whatif``): ``variants`` (name, description, changes) and ``grids`` (name, axes,
    ...), solved with the same ``solve`` settings; every variant's changes are checked against
    the scenario when the batch is submitted."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)
    solve: SolveRequest | None = Field(
        default=None, description="stages, time limit per stage and seed for every variant"
    )
    variants: list[dict[str, Any]] = Field(
        default_factory=list,
        description="variants: {name, description, changes: [{scale|add|drop|set|designate}]}",
    )
    grids: list[dict[str, Any]] = Field(
        default_factory=list,
        description="grids: {name, names, changes, axes: {axis: {scale|set, values} | "
        "{options}}}, expanded to their cartesian product",
    )


class JobProgress(BaseModel):
    stage: str | None = Field(default=None, description="the stage running or last finished")
    stages_done: list[str] = Field(default_factory=list)
    stages_total: int = 0
    elapsed_s: float | None = Field(default=None, description="seconds since the job started")
    objective_name: str | None = Field(
        default=None, description="which objective `objective` and `bound` are about"
    )
    objective: float | None = Field(
        default=None,
        description="the best value so far: of the running stage while its solver reports "
        "better plans (CP-SAT), else the last finished stage's first (lexicographic) objective",
    )
    bound: float | None = Field(default=None, description="the proven bound on that objective")
    gap: float | None = Field(default=None, description="their relative gap")
    variant: str | None = Field(default=None, description="what-if: the variant being solved")
    variants_done: int | None = Field(default=None, description="what-if: variants solved")
    variants_total: int | None = Field(default=None, description="what-if: variants in all")


class JobError(BaseModel):
    code: str
    message: str
    problems: list[ProblemOut] = Field(default_factory=list)


class JobOut(BaseModel):
    id: str
    scenario_id: str
    kind: Literal["solve", "whatif"] = Field(
        description="solve: one plan; whatif: a batch of variants, its plan the comparison table"
    )
    status: JobStatus = Field(
        description="queued → running → succeeded, failed or canceled; interrupted when the "
        "server stopped while it ran (re-run it with POST /v1/jobs/{id}/rerun)"
    )
    options: SolveRequest = Field(description="the solve settings (of every variant, for whatif)")
    variants: int | None = Field(default=None, description="whatif: the number of variants")
    progress: JobProgress
    error: JobError | None
    cancel_requested: bool
    has_plan: bool = Field(description="a plan is stored (also a partial one, when canceled)")
    rerun_of: str | None = Field(default=None, description="the job this one re-runs")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class PlanTableInfo(BaseModel):
    name: str
    rows: int
    columns: list[str]


class PlanOut(BaseModel):
    job_id: str
    scenario_id: str
    complete: bool = Field(description="every requested stage was solved (false: canceled early)")
    summary: dict[str, Any] = Field(
        description="Plan.summary(): scenario, solved, stage reports, table sizes, violations"
    )
    tables: list[PlanTableInfo]
    created_at: datetime


class ComparisonOut(BaseModel):
    """Plan A (this job's) against plan B (the ``with`` job's): ``linkage compare`` over HTTP."""

    job_a: str
    job_b: str
    summary_text: str = Field(description="the comparison in plain Chinese with English")
    pairs_changed: list[dict[str, Any]] = Field(
        description="one row per 牵手 pair of either plan: target, org, in_a, in_b, change"
    )
    indicator_deltas: list[dict[str, Any]] = Field(
        description="indicator, label, unit, better, after_a, after_b, delta (B − A), improved"
    )
    by_county: list[dict[str, Any]] = Field(
        description="per county: staffing, volunteer hours and funds in A and B, pairs changed"
    )


class PlanTablePage(BaseModel):
    name: str
    columns: list[str]
    total: int
    offset: int
    limit: int
    next_offset: int | None
    rows: list[dict[str, Any]]
