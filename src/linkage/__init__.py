"""linkage — planning China's five-society linkage (五社联动) and 牵手 partner pairing.

import linkage
scenario = linkage.load("scenarios/henan")
plan = linkage.solve(scenario, stages=["pairing"])
plan.pairs, plan.targets
plan.save("out/henan")
"""

from linkage.batch import batch
from linkage.pipeline import InvariantViolation, solve
from linkage.plan import Plan
from linkage.plan.compare import compare, load_plan
from linkage.scenario import Problem, Scenario, ScenarioError, load, save
from linkage.whatif import WhatIf, load_whatif, variants

__all__ = [
    "InvariantViolation",
    "Plan",
    "Problem",
    "Scenario",
    "ScenarioError",
    "WhatIf",
    "batch",
    "compare",
    "load",
    "load_plan",
    "load_whatif",
    "save",
    "solve",
    "variants",
]
__version__ = "0.1.0"
