"""Stopping rules: the small rule objects, and solves that stop early keep a valid plan."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from linkage.solvers.pairing import check_pairing_invariants, solve_pairing
from linkage.solvers.stopping import AnyOf, Deadline, StopFlag, interrupting, never

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
from gap_scenario import gap_scenario  # noqa: E402


def test_rules_say_stop_when_they_should() -> None:
    """never never stops; a deadline stops once passed; a flag once requested, with the first
    reason; AnyOf as soon as one of its rules does."""
    assert never() is False
    assert Deadline.after(-1)() and not Deadline.after(60)()
    flag = StopFlag()
    assert not flag() and flag.reason == ""
    flag.request("canceled")
    flag.request("later")
    assert flag() and flag.reason == "canceled"
    assert AnyOf((never, flag))() and not AnyOf((never, Deadline.after(60)))()


def test_interrupting_calls_the_solver_stop_once_and_only_when_asked() -> None:
    """The watcher calls interrupt once after the rule holds, and never for a rule that
    does not."""
    calls: list[float] = []
    flag = StopFlag()
    threading.Timer(0.2, flag.request, args=("now",)).start()
    with interrupting(flag, lambda: calls.append(time.monotonic())):
        time.sleep(0.6)
    assert len(calls) == 1
    quiet: list[int] = []
    with interrupting(Deadline.after(60), lambda: quiet.append(1)):
        time.sleep(0.15)
    assert quiet == []


@pytest.mark.parametrize("method", ["cp_sat", "mip"])
def test_a_stopped_pairing_returns_its_best_plan_with_bound(method: str) -> None:
    """A hard GAP with a 60 s limit stopped after 2 s returns a feasible plan that keeps every
    rule, with its bound, a positive gap and the reason in its message."""
    scenario = gap_scenario(BENCH / "data" / "gap" / "chu1997" / "d10100", "min", time_limit_s=60)
    started = time.monotonic()
    result = solve_pairing(scenario, method=method, stop=Deadline.after(2))  # type: ignore[arg-type]
    assert time.monotonic() - started < 15
    report = result.report
    assert report.status == "feasible" and "stopped on request" in report.message
    assert report.objectives["weighted_shortfall"] == 0
    assert report.bound["score"] >= report.objectives["score"] and report.gap > 0
    assert check_pairing_invariants(scenario, result) == []


def test_a_stopped_pipeline_skips_the_later_stages(tiny_folder: Path) -> None:
    """linkage.solve with a rule that already holds solves nothing; with one that holds after
    the pairing stage, only pairing is in the plan."""
    import linkage
    from linkage import pipeline

    scenario = linkage.load(tiny_folder)
    assert linkage.solve(scenario, stop=Deadline.after(-1)).reports == ()
    flag = StopFlag()
    pairing = pipeline.STAGES["pairing"]

    def pairing_then_stop(*args: object) -> pipeline.StageOutcome:
        outcome = pairing(*args)  # type: ignore[arg-type]
        flag.request("enough")
        return outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(pipeline.STAGES, "pairing", pairing_then_stop)
        plan = linkage.solve(scenario, stop=flag)
    assert [r.stage for r in plan.reports] == ["pairing"]
