"""Stopping rules: small objects a long solve asks "stop now?", keeping its best plan so far.

A rule is any zero-argument callable that returns True once the solve should stop; the solvers
check it between phases and hand it to the OR-Tools solvers through ``interrupting``, which
calls the solver's own stop (``CpSolver.stop_search``, ``model_builder.Solver.stop_search``)
from a watcher thread. A stopped solver returns its incumbent with its bound, so a stopped
stage still yields a valid plan with a reported gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

StopRule = Callable[[], bool]


def never() -> bool:
    """The rule of a solve nobody stops early (its time limits still apply)."""
    return False


@dataclass(frozen=True)
class StopFlag:
    """Set from another thread (a cancel request, a job's wall-clock cap) with a reason."""

    _event: threading.Event = field(default_factory=threading.Event)
    _reason: list[str] = field(default_factory=list)

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self._reason.append(reason)
            self._event.set()

    @property
    def reason(self) -> str:
        return self._reason[0] if self._reason else ""

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Deadline:
    """Stop at a moment of ``time.monotonic()``."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def __call__(self) -> bool:
        return time.monotonic() >= self.at


@dataclass(frozen=True)
class AnyOf:
    """Stop as soon as any of the rules says so."""

    rules: tuple[StopRule, ...]

    def __call__(self) -> bool:
        return any(rule() for rule in self.rules)


@contextmanager
def interrupting(
    stop: StopRule, interrupt: Callable[[], None], every_s: float = 0.05
) -> Iterator[None]:
    """While the block runs, call ``interrupt`` once as soon as ``stop`` holds.

    The solvers release the GIL while they search, so a watcher thread can poll the rule and
    call the solver's thread-safe stop; nothing is started for ``never``.
    """
    if stop is never:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(every_s):
            if stop():
                interrupt()
                return

    watcher = threading.Thread(target=watch, name="linkage-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
