"""Scenarios: tables declared once, policy, validation, loading and saving."""

from linkage.scenario.core import Scenario
from linkage.scenario.io import from_document, load, save, to_document
from linkage.scenario.policy import Policy, ScenarioMeta
from linkage.scenario.problems import Problem, ScenarioError
from linkage.scenario.tables import TABLES

__all__ = [
    "TABLES",
    "Policy",
    "Problem",
    "Scenario",
    "ScenarioError",
    "ScenarioMeta",
    "from_document",
    "load",
    "save",
    "to_document",
]
