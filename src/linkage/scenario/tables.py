"""Every scenario table declared once.

Validation, the format documentation (docs/scenario-format.md), the Excel template and the API
schema are all derived from these declarations; nothing else lists a table's columns.

Column kinds:
- ``code``: an identifier kept as text (leading zeros matter: region codes, ids);
- ``text``: free text (names);
- ``int`` / ``float``: quantities, with ``minimum``/``maximum`` bounds;
- ``bool``: yes/no (accepts true/false, 1/0, Y/N, 是/否);
- ``enum``: one value of ``choices``;
- ``codes``: a set of values of ``choices`` (or free codes when ``choices`` is None), written
  separated by ``;`` and kept in memory as a sorted ``;``-joined string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from linkage.scenario import vocabulary as vocab

Kind = Literal["code", "text", "int", "float", "bool", "enum", "codes"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str
    label_zh: str
    unit: str = ""
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: Mapping[str, str] | None = None
    references: str | None = None  # "table.column" this column points to

    @property
    def nullable(self) -> bool:
        return not self.required and self.default is None


@dataclass(frozen=True)
class Table:
    name: str
    label_zh: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    optional: bool = True
    column_index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_index", {c.name: c for c in self.columns})

    def __getitem__(self, name: str) -> Column:
        return self.column_index[name]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _count(what: str) -> Column:
    return Column(
        what,
        "float",
        f"number of {what.replace('_', ' ')}",
        {
            "population": "常住人口",
            "elderly": "60岁及以上老年人",
            "care_beds": "养老机构床位",
            "children_at_risk": "困境儿童",
            "left_behind_children": "留守儿童",
            "left_behind_women": "留守妇女",
            "disabled": "残疾人",
            "low_income": "低保对象",
            "extreme_poverty": "特困人员",
        }[what],
        unit="persons" if what != "care_beds" else "beds",
        minimum=0,
    )


def _pool_count() -> Column:
    return Column(
        "count",
        "int",
        "how many identical people this row stands for",
        "人数",
        unit="persons",
        default=1,
        minimum=1,
    )


# people counts of a region that cannot exceed its population
PERSON_COUNTS: tuple[str, ...] = (
    "elderly",
    "children_at_risk",
    "left_behind_children",
    "left_behind_women",
    "disabled",
    "low_income",
    "extreme_poverty",
)


REGIONS = Table(
    "regions",
    "行政区划",
    "The administrative hierarchy with the indicators that drive need, and the designations "
    "that make a county a pairing target.",
    (
        Column(
            "code",
            "code",
            "统计用区划代码 (6 digits for province/city/county, 9 for township, 12 for village)",
            "区划代码",
            required=True,
        ),
        Column("name", "text", "official name", "名称", required=True),
        Column(
            "level", "enum", "administrative level", "层级", required=True, choices=vocab.LEVELS
        ),
        Column(
            "parent",
            "code",
            "code of the region one level up (empty for a province)",
            "上级区划",
            references="regions.code",
        ),
        Column("lat", "float", "latitude (WGS-84)", "纬度", unit="degree", minimum=-90, maximum=90),
        Column(
            "lon", "float", "longitude (WGS-84)", "经度", unit="degree", minimum=-180, maximum=180
        ),
        _count("population"),
        _count("elderly"),
        _count("care_beds"),
        _count("children_at_risk"),
        _count("left_behind_children"),
        _count("left_behind_women"),
        _count("disabled"),
        _count("low_income"),
        _count("extreme_poverty"),
        Column(
            "key_assistance",
            "bool",
            "national rural-revitalization key-assistance county",
            "乡村振兴重点帮扶县",
            default=False,
        ),
        Column(
            "old_revolutionary", "bool", "old revolutionary base area", "革命老区", default=False
        ),
        Column(
            "ethnic",
            "bool",
            "ethnic-minority area (autonomous unit or ethnic township)",
            "民族地区",
            default=False,
        ),
        Column(
            "has_station",
            "bool",
            "a township social-work station exists (or is planned)",
            "设有社工站",
            default=False,
        ),
        Column(
            "figures",
            "text",
            "where the indicator figures come from, e.g. census2020, "
            "apportioned from county, synthetic",
            "数据来源",
            default="",
        ),
    ),
    key=("code",),
    optional=False,
)

ORGANIZATIONS = Table(
    "organizations",
    "社会组织",
    "Social organizations, among them social-work service agencies that can send partners "
    "(援派机构).",
    (
        Column("id", "code", "unique id", "机构编号", required=True),
        Column("name", "text", "name", "机构名称", required=True),
        Column(
            "region",
            "code",
            "region where the organization is based",
            "所在区划",
            required=True,
            references="regions.code",
        ),
        Column(
            "kind",
            "enum",
            "kind of organization",
            "机构类型",
            default="social_work",
            choices=vocab.ORGANIZATION_KINDS,
        ),
        Column(
            "specialties",
            "codes",
            "service domains it is strong in",
            "专长领域",
            default="",
            choices=vocab.DOMAINS,
        ),
        Column("staff", "int", "full-time staff", "专职人员", unit="persons", default=0, minimum=0),
        Column(
            "rating",
            "int",
            "social-organization assessment grade (0 = not rated, 1–5 = 1A–5A)",
            "评估等级",
            default=0,
            minimum=0,
            maximum=5,
        ),
        Column(
            "pairing_capacity",
            "int",
            "how many pairing load units it can take (0 = not a sending agency)",
            "可承接结对数",
            unit="load units",
            default=0,
            minimum=0,
        ),
    ),
    key=("id",),
)

SOCIAL_WORKERS = Table(
    "social_workers",
    "社会工作者",
    "Social workers, one row per person or per pool of identical people (count).",
    (
        Column("id", "code", "unique id", "编号", required=True),
        Column(
            "region",
            "code",
            "region where they live or work",
            "所在区划",
            required=True,
            references="regions.code",
        ),
        Column(
            "org",
            "code",
            "employing organization, if any",
            "所属机构",
            references="organizations.id",
        ),
        Column(
            "level",
            "enum",
            "certification level",
            "职业水平",
            default="none",
            choices=vocab.CERTIFICATION_LEVELS,
        ),
        Column(
            "specialties", "codes", "service domains", "专长领域", default="", choices=vocab.DOMAINS
        ),
        Column(
            "fte",
            "float",
            "full-time equivalent per person",
            "折算全职",
            unit="FTE",
            default=1.0,
            minimum=0,
            maximum=1,
        ),
        Column(
            "max_km",
            "float",
            "how far they can travel to a station (empty: the policy's reach)",
            "服务半径",
            unit="km",
            minimum=0,
        ),
        _pool_count(),
    ),
    key=("id",),
)

VOLUNTEERS = Table(
    "volunteers",
    "志愿者",
    "Volunteers, one row per person or per pool of identical people (count).",
    (
        Column("id", "code", "unique id", "编号", required=True),
        Column(
            "region",
            "code",
            "region where they live",
            "所在区划",
            required=True,
            references="regions.code",
        ),
        Column(
            "skills",
            "codes",
            "service domains they can help in",
            "服务技能",
            default="",
            choices=vocab.DOMAINS,
        ),
        Column(
            "hours",
            "float",
            "hours per person per year",
            "年服务时长",
            unit="hours",
            required=True,
            minimum=0,
        ),
        Column(
            "max_km",
            "float",
            "how far they travel (empty: the policy's reach)",
            "服务半径",
            unit="km",
            minimum=0,
        ),
        _pool_count(),
    ),
    key=("id",),
)

RESOURCES = Table(
    "resources",
    "慈善资源",
    "Donor lots: charitable funds, goods and purchased services, with their restrictions.",
    (
        Column("id", "code", "unique id", "编号", required=True),
        Column("donor", "text", "donor name", "捐赠方", required=True),
        Column(
            "donor_type",
            "enum",
            "kind of donor",
            "资金来源",
            default="foundation",
            choices=vocab.DONOR_TYPES,
        ),
        Column(
            "kind",
            "enum",
            "funds, goods or service",
            "资源类型",
            default="funds",
            choices=vocab.RESOURCE_KINDS,
        ),
        Column("amount", "float", "amount in the lot's unit", "数额", required=True, minimum=0),
        Column("unit", "text", "unit of amount (yuan for funds)", "单位", default="yuan"),
        Column(
            "eligible",
            "codes",
            "designations the money may go to (empty: any area)",
            "限定地区类型",
            default="",
            choices=vocab.DESIGNATIONS,
        ),
        Column(
            "regions",
            "codes",
            "region codes the money may go to, with everything below them (empty: anywhere)",
            "限定区划",
            default="",
        ),
        Column(
            "domains",
            "codes",
            "service domains it may fund (empty: any)",
            "限定领域",
            default="",
            choices=vocab.DOMAINS,
        ),
        Column(
            "earmark", "enum", "earmarked use", "专项用途", default="none", choices=vocab.EARMARKS
        ),
        Column(
            "min_grant",
            "float",
            "smallest grant allowed (0: none)",
            "最小资助额",
            unit="yuan",
            default=0.0,
            minimum=0,
        ),
    ),
    key=("id",),
)

NEEDS = Table(
    "needs",
    "需求",
    "Explicit needs per region and domain; where given they replace the policy's need rules.",
    (
        Column("region", "code", "region", "区划", required=True, references="regions.code"),
        Column(
            "domain", "enum", "service domain", "服务领域", required=True, choices=vocab.DOMAINS
        ),
        Column(
            "social_workers", "float", "social workers needed", "社工需求", unit="FTE", minimum=0
        ),
        Column(
            "volunteer_hours",
            "float",
            "volunteer hours needed per year",
            "志愿服务需求",
            unit="hours",
            minimum=0,
        ),
        Column("funds", "float", "funds needed per year", "资金需求", unit="yuan", minimum=0),
    ),
    key=("region", "domain"),
)

PAIR_OVERRIDES = Table(
    "pair_overrides",
    "结对调整",
    "Planner decisions on single pairs: fix, forbid, or prefer (add as a candidate) with a score "
    "and a load.",
    (
        Column(
            "org",
            "code",
            "sending organization",
            "援派机构",
            required=True,
            references="organizations.id",
        ),
        Column(
            "target", "code", "target region", "受援地区", required=True, references="regions.code"
        ),
        Column(
            "action",
            "enum",
            "what to do with the pair",
            "操作",
            required=True,
            choices=vocab.OVERRIDE_ACTIONS,
        ),
        Column("score", "int", "score replacing the computed one (empty: computed)", "评分"),
        Column(
            "load",
            "int",
            "load units of the organization's capacity the pair uses (empty: 1)",
            "占用能力",
            unit="load units",
            minimum=0,
        ),
    ),
    key=("org", "target"),
)

EXISTING_PAIRS = Table(
    "existing_pairs",
    "既有结对",
    "Last period's pairs; keeping them earns the policy's continuity bonus.",
    (
        Column(
            "org",
            "code",
            "sending organization",
            "援派机构",
            required=True,
            references="organizations.id",
        ),
        Column(
            "target", "code", "target region", "受援地区", required=True, references="regions.code"
        ),
        Column("since", "int", "year the pair started", "开始年份", minimum=1949, maximum=2100),
    ),
    key=("org", "target"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        REGIONS,
        ORGANIZATIONS,
        SOCIAL_WORKERS,
        VOLUNTEERS,
        RESOURCES,
        NEEDS,
        PAIR_OVERRIDES,
        EXISTING_PAIRS,
    )
}
