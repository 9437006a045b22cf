"""Plans: the result tables of a solve, their invariant checks and their writers."""

from linkage.plan.result import Plan

__all__ = ["Plan"]
