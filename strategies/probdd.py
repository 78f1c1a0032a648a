"""ProbDD: probabilistic delta debugging (Wang et al., FSE 2021), in our own words.

Every unit carries the probability that it is needed, ``p0`` at first. Each step removes the
subset of least-likely units whose size maximizes the expected gain ``|S| * prod(1 - p)``. If
the failure persists, the subset is gone; if not, the probabilities of its units rise by Bayes'
rule (``p / (1 - prod(1 - p))``), and a single unit that cannot go gets probability 1 and is
never tried again. Unlike ddmin it never tests subsets alone nor revisits complements.

Parallel: W disjoint subsets are chosen at once (each the best next one among what is left) and
tested against the same configuration; the first that reproduces is removed, every one that did
not reproduce before it updates its probabilities.
"""
from __future__ import annotations

from typing import Dict, List

from ltobisect.problem import Problem

from .base import Unit, UnitsOf, effective, singletons, union


def best_prefix(probs: List[float]) -> int:
    """The size s maximizing s * prod(1 - p) over the first s of ``probs`` (sorted ascending)."""
    best, best_gain, keep = 1, -1.0, 1.0
    for s, p in enumerate(probs, start=1):
        keep *= 1.0 - p
        gain = s * keep
        if gain > best_gain:
            best, best_gain = s, gain
    return best


class ProbDD:
    """Probabilistic delta debugging over units, starting every unit at probability ``p0``."""

    def __init__(self, p0: float = 0.1, units: UnitsOf = singletons, name: str = "probdd") -> None:
        self.p0 = p0
        self.units = units
        self.name = name

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        cur: List[Unit] = list(self.units(problem, problem.best))
        problem.rng.shuffle(cur)  # ties in probability are broken by a seeded order
        rank = {u: i for i, u in enumerate(cur)}
        p: Dict[Unit, float] = {u: self.p0 for u in cur}
        while True:
            open_ = sorted((u for u in cur if p[u] < 1.0), key=lambda u: (p[u], rank[u]))
            if not open_:
                return
            subsets: List[List[Unit]] = []
            while open_ and len(subsets) < problem.workers:
                s = best_prefix([p[u] for u in open_])
                subsets.append(open_[:s])
                open_ = open_[s:]
            base = union(cur)
            verdicts = problem.consider_many([base - union(s) for s in subsets])
            for subset, ok in zip(subsets, verdicts):
                if ok:
                    eff = effective(problem, base - union(subset))
                    gone = set(subset)
                    cur = [u & eff for u in cur if u not in gone and u & eff]
                    for u in cur:
                        if u not in p:  # a unit shrunk by normalization: keeps its standing
                            p[u], rank[u] = self.p0, len(rank)
                    break
                self._failed(p, subset)

    @staticmethod
    def _failed(p: Dict[Unit, float], subset: List[Unit]) -> None:
        if len(subset) == 1:
            p[subset[0]] = 1.0
            return
        keep = 1.0
        for u in subset:
            keep *= 1.0 - p[u]
        for u in subset:
            p[u] = min(1.0, p[u] / (1.0 - keep))
