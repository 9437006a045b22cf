"""Coded values used across scenario tables, with their Chinese labels (DESIGN §2)."""

from __future__ import annotations

LEVELS: dict[str, str] = {
    "province": "省",
    "city": "市",
    "county": "县",
    "township": "乡镇街道",
    "village": "村社区",
}
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}

DESIGNATIONS: dict[str, str] = {
    "key_assistance": "乡村振兴重点帮扶地区",
    "old_revolutionary": "革命老区",
    "ethnic": "民族地区",
}

DOMAINS: dict[str, str] = {
    "elderly": "老年人服务",
    "children": "困境儿童与未成年人保护",
    "disability": "残疾人康复",
    "hardship": "困难群众帮扶与社会救助",
    "family": "婚姻家庭与留守妇女",
    "community": "社区建设与参与",
    "volunteer_dev": "志愿服务组织培育",
}

CERTIFICATION_LEVELS: dict[str, str] = {
    "none": "无",
    "assistant": "助理社会工作师",
    "intermediate": "社会工作师",
    "senior": "高级社会工作师",
}

ORGANIZATION_KINDS: dict[str, str] = {
    "social_work": "社会工作服务机构",
    "social_org": "其他社会组织",
    "foundation": "基金会",
    "volunteer_org": "志愿服务组织",
    "community": "社区/村委会",
    "government": "政府部门",
    "enterprise": "企业",
}

RESOURCE_KINDS: dict[str, str] = {"funds": "资金", "goods": "物资", "service": "服务"}

DONOR_TYPES: dict[str, str] = {
    "foundation": "基金会",
    "enterprise": "企业",
    "government": "政府购买服务",
    "lottery": "福彩公益金",
    "individual": "个人",
}

EARMARKS: dict[str, str] = {
    "none": "无指定用途",
    "social_work": "社会工作专项资金",
    "child_welfare": "儿童福利资金",
}

OVERRIDE_ACTIONS: dict[str, str] = {
    "fix": "指定结对",
    "forbid": "禁止结对",
    "prefer": "优先/列入候选",
}
