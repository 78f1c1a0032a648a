"""ProbDD: probabilistic delta debugging (Wang et al., FSE 2021), in our own words.

Every unit carries the probability that it is needed, ``p0`` at first. Each step removes the
subset of least-likely units whose size maximizes the expected gain ``|S| * prod(1 - p)``. If
the failure persists, the subset is gone; if not, the probabilities of its units rise by Bayes'
rule (``p / (1 - prod(1 - p))``), and a single unit that cannot go gets probability 1 and is
never tried again. Unlike ddmin it never tests subsets alone nor revisits complements.

Parallel: W disjoint subsets are chosen at once (each the best next one among what is left) and
tested against the same configuration; every one that did not reproduce updates its
probabilities. When several reproduce, all of them are removed at once, speculatively: the
next batch tests that configuration first, next to new subsets of it; if it does not
reproduce, the search goes on from the first subset's removal (or a smaller one that the batch
found reproducing), and the batch's other answers are dropped.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

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
        self._rank = {u: i for i, u in enumerate(cur)}
        self._p: Dict[Unit, float] = {u: self.p0 for u in cur}
        p = self._p
        # Several subsets of one batch may each be removable: all of them are removed at once,
        # speculatively, and the next batch confirms it (its first query) while going on.
        pending: Optional[Tuple[List[Unit], List[Unit]]] = None  # (all removed, first only)
        while True:
            base_units = pending[0] if pending else cur
            open_ = sorted((u for u in base_units if p[u] < 1.0), key=lambda u: (p[u], self._rank[u]))
            if not open_ and not pending:
                return
            subsets: List[List[Unit]] = []
            while open_ and len(subsets) < problem.workers - (1 if pending else 0):
                s = best_prefix([p[u] for u in open_])
                subsets.append(open_[:s])
                open_ = open_[s:]
            base = union(base_units)
            queries = ([base] if pending else []) + [base - union(s) for s in subsets]
            verdicts = problem.consider_many(queries)
            if pending:
                confirmed, verdicts = verdicts[0], verdicts[1:]
                if not confirmed:
                    # Not removable together. A subset that reproduced without the others is
                    # still a smaller failing config; the failures say nothing (base did not fail).
                    hit = next((i for i, ok in enumerate(verdicts) if ok), None)
                    cur = self._without(problem, base_units, subsets[hit]) if hit is not None else pending[1]
                    pending = None
                    continue
                cur, pending = base_units, None
            for subset, ok in zip(subsets, verdicts):
                if not ok:
                    self._failed(p, subset)
            hits = [s for s, ok in zip(subsets, verdicts) if ok]
            if len(hits) == 1:
                cur = self._without(problem, cur, hits[0])
            elif hits:
                pending = (self._without(problem, cur, [u for h in hits for u in h]),
                           self._without(problem, cur, hits[0]))

    def _without(self, problem: Problem, cur: List[Unit], gone_units: List[Unit]) -> List[Unit]:
        """``cur`` without ``gone_units`` and without what no longer takes effect."""
        gone = set(gone_units)
        eff = effective(problem, union(u for u in cur if u not in gone))
        out = [u & eff for u in cur if u not in gone and u & eff]
        for u in out:
            if u not in self._p:  # a unit shrunk by normalization: keeps its standing
                self._p[u], self._rank[u] = self.p0, len(self._rank)
        return out

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
