"""ddmin: Zeller and Hildebrandt's minimizing delta debugging, our reference.

The current configuration is cut into n parts. Each part alone is tried ("reduce to subset"),
then each complement ("reduce to complement"); the first that reproduces becomes the current
configuration (n back to 2 after a subset, n - 1 after a complement). When nothing reproduces
the granularity doubles, until the parts are single changes: the result is then 1-minimal.
The order is the usual one of ddmin implementations (subsets first, then complements, each in
part order).

Parallel: the candidates of a step are tested W at a time in order and the first reproducing
one wins, the same choice the sequential algorithm makes.
"""
from __future__ import annotations

from ltobisect.model import Candidate
from ltobisect.problem import Problem

from .base import UnitsOf, effective, first_reproducing, singletons, split, union


class DDMin:
    """Classic ddmin over units (single changes by default)."""

    def __init__(self, units: UnitsOf = singletons, name: str = "ddmin") -> None:
        self.units = units
        self.name = name

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        while True:
            start = problem.best
            end = self._reduce(problem)
            # A speculative test of a parallel batch may have reproduced with fewer changes
            # than the ddmin path kept (non-monotonic verdicts): go on from there.
            if end == problem.best or len(problem.best) >= len(start):
                return

    def _reduce(self, problem: Problem) -> Candidate:
        cur = list(self.units(problem, problem.best))
        n = 2
        while len(cur) >= 2:
            parts = split(cur, n)
            subsets: list[Candidate] = [union(p) for p in parts]
            hit = first_reproducing(problem, subsets)
            if hit is not None:
                cur, n = self._keep(problem, parts[hit]), 2
                continue
            if len(parts) > 2:
                comps = [union(cur) - s for s in subsets]
                hit = first_reproducing(problem, comps)
                if hit is not None:
                    rest = [u for i, p in enumerate(parts) if i != hit for u in p]
                    cur, n = self._keep(problem, rest), max(len(parts) - 1, 2)
                    continue
            if len(parts) >= len(cur):
                break
            n = min(len(cur), 2 * len(parts))
        return union(cur)

    @staticmethod
    def _keep(problem: Problem, units: list) -> list:
        """The units that still take effect once the rest is gone."""
        eff = effective(problem, union(units))
        return [u & eff for u in units if u & eff]
