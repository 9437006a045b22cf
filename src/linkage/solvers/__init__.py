"""Solvers: one module per stage, plus the shared pieces (candidates, reports)."""

from linkage.solvers.candidates import PairingInputs, build_candidates
from linkage.solvers.pairing import PairingResult, check_pairing_invariants, solve_pairing
from linkage.solvers.report import StageReport

__all__ = [
    "PairingInputs",
    "PairingResult",
    "StageReport",
    "build_candidates",
    "check_pairing_invariants",
    "solve_pairing",
]
