"""What every strategy shares: the protocol, splitting, batched tests, units, pipelines."""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Protocol, Sequence, Tuple

from ltobisect.model import Candidate, Change
from ltobisect.problem import Problem

#: A unit is a set of changes that a strategy keeps or removes together.
Unit = frozenset


class Strategy(Protocol):
    """An algorithm that reduces ``problem.best`` through the gate (see the package rules)."""

    name: str

    def run(self, problem: Problem) -> None: ...


def split(items: Sequence, parts: int) -> List[list]:
    """``items`` cut into ``parts`` contiguous pieces of sizes differing by at most one."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, at = [], 0
    for i in range(parts):
        step = size + (1 if i < extra else 0)
        out.append(list(items[at: at + step]))
        at += step
    return out


def union(units: Iterable[Iterable[Change]]) -> Candidate:
    """All changes of the given units."""
    out: set = set()
    for u in units:
        out |= u
    return frozenset(out)


def first_reproducing(problem: Problem, cands: Sequence[Candidate]) -> Optional[int]:
    """Index of the first candidate (in order) that reproduces, testing ``workers`` at a time.

    The answer is the one a sequential scan would give; with W workers the W - 1 candidates
    after the first one of each batch are speculation, run at once to save wall time.
    """
    w = problem.workers
    for at in range(0, len(cands), w):
        batch = list(cands[at: at + w])
        for i, ok in enumerate(problem.consider_many(batch)):
            if ok:
                return at + i
    return None


def effective(problem: Problem, cand: Iterable[Change]) -> Candidate:
    """``cand`` without the changes that take no effect in it (free: resolution, no build)."""
    return problem.resolve(cand).candidate


UnitsOf = Callable[[Problem, Candidate], List[Unit]]


def singletons(problem: Problem, best: Candidate) -> List[Unit]:
    """One unit per change; changes that others need come last.

    Searches take the first piece that matters first, so a culprit tends to be found before
    the changes it needs, and those then come with it for free (``structure.needs``).
    """
    needed_by: dict = {}
    for c in best:
        for d in problem.structure.needs.get(c, ()):
            needed_by[d] = needed_by.get(d, 0) + 1
    return [frozenset([c]) for c in sorted(best, key=lambda c: (needed_by.get(c, 0), c))]


class Pipeline:
    """Strategies run one after the other, each from the best the previous one left."""

    def __init__(self, name: str, steps: Sequence[Strategy]) -> None:
        self.name = name
        self.steps: Tuple[Strategy, ...] = tuple(steps)

    def run(self, problem: Problem) -> None:
        for step in self.steps:
            problem.begin(step.name)
            step.run(problem)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {[s.name for s in self.steps]})"
