"""Bisect: find the culprits one at a time by halving (adaptive group testing).

With a single culprit this is ktest's config-bisect: each test removes half of the suspects and
keeps the half that still matters, ceil(log2 n) tests. With k culprits it finds them one after
the other, about k * (log2 n + 1) tests, close to the information bound log2 C(n, k) + k.

The search keeps the changes in three kinds of groups:

- *culprits*: units that cannot be removed;
- *positive* groups: known to hold at least one culprit (removing the group lost the failure);
- *unknown* groups: not looked at yet.

A test always removes one group from everything still alive (culprits, positive and unknown
groups). If the failure persists, the group is clean and is dropped for good; if not, it holds a
culprit. A positive group is cut in pieces and all pieces but the last are tested; a clean
result everywhere proves the last piece positive without a test. When no positive group is
left, the unknown groups are merged and tested at once: if removing them all still reproduces,
the culprits alone reproduce and the search is over.

Parallel: with W workers each round fills W slots. Several positive groups are searched at
once (one slot each); a group with several slots is cut into more pieces, so a round with W
slots on one culprit narrows it (W + 1)-fold instead of twofold. Spare slots in the final round
test the 1-minimality checks the closing pass will need, so they are free by then.

Non-monotonic verdicts can make the deductions wrong. Then the culprits found do not reproduce
by themselves; the search restarts from the gate's best (which did reproduce) as long as that
keeps shrinking, and the pipeline's closing one-at-a-time pass proves the result 1-minimal.
"""
from __future__ import annotations

from typing import List

from ltobisect.model import Candidate, Verdict
from ltobisect.problem import Problem

from .base import Unit, UnitsOf, effective, singletons, split, union


def _flat(groups: List[List[Unit]]) -> List[Unit]:
    return [u for g in groups for u in g]


def _shrink(groups: List[List[Unit]], keep: Candidate) -> List[List[Unit]]:
    out = []
    for g in groups:
        g2 = [u & keep for u in g if u & keep]
        if g2:
            out.append(g2)
    return out


class Bisect:
    """Culprit-by-culprit halving over units (single changes unless ``units`` says otherwise)."""

    def __init__(self, units: UnitsOf = singletons, name: str = "bisect") -> None:
        self.units = units
        self.name = name

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        while problem.best:
            start = problem.best
            if self._search(problem, start):
                return
            if len(problem.best) >= len(start):
                return  # contradictory verdicts and no progress: leave it to the next pass

    def _search(self, problem: Problem, start: Candidate) -> bool:
        """One search from ``start``; True when the culprits found reproduce by themselves."""
        w = problem.workers
        culprits: List[Unit] = []
        positives: List[List[Unit]] = [[u for u in self.units(problem, start) if u]]
        positives = [g for g in positives if g]
        unknown: List[List[Unit]] = []
        while True:
            alive = culprits + _flat(positives) + _flat(unknown)
            every = union(alive)
            eff = effective(problem, every)
            if eff != every:  # changes whose dependencies were dropped: gone for free
                culprits = [u & eff for u in culprits if u & eff]
                positives = _shrink(positives, eff)
                unknown = _shrink(unknown, eff)
                every = eff
            # A single unit known to matter is a culprit: no test needed.
            still = []
            for g in positives:
                if len(g) == 1:
                    culprits.append(g[0])
                else:
                    still.append(g)
            positives, unknown = self._pull_needs(problem, culprits, still, unknown)
            if not positives:
                rest = _flat(unknown)
                unknown = []
                found = union(culprits)
                if not rest:
                    return problem.consider(found)
                if self._final_round(problem, every, found, rest, w, positives):
                    return True
                continue
            positives = self._halve(problem, every, union(culprits), positives, unknown, w)

    @staticmethod
    def _pull_needs(
        problem: Problem, culprits: List[Unit], positives: List[List[Unit]], unknown: List[List[Unit]]
    ):
        """Units holding what a culprit needs are culprits too, without a test.

        A culprit only takes effect with the changes it needs; without them the config is the
        one without the culprit, which does not reproduce. A positive group that gives up a
        unit this way may have lost its culprit with it, so it becomes unknown again.
        """
        needs = problem.structure.needs
        wanted: set = set()
        for c in union(culprits):
            wanted |= needs.get(c, frozenset())
        wanted -= union(culprits)
        if not wanted:
            return positives, unknown
        kept_pos, kept_unknown = [], []
        for groups, kept, is_positive in ((positives, kept_pos, True), (unknown, kept_unknown, False)):
            for g in groups:
                pulled = [u for u in g if u & wanted]
                rest = [u for u in g if not u & wanted]
                culprits.extend(pulled)
                if rest:
                    (kept if (is_positive and not pulled) else kept_unknown).append(rest)
        return kept_pos, kept_unknown

    def _final_round(
        self,
        problem: Problem,
        every: Candidate,
        found: Candidate,
        rest: List[Unit],
        w: int,
        positives: List[List[Unit]],
    ) -> bool:
        """Test whether the culprits alone reproduce; spare slots look into ``rest`` already."""
        if problem.known(found) is Verdict.REPRODUCES:  # guessed in an earlier round
            problem.consider(found)
            return True
        queries = [found]
        spare = w - 1
        checks: List[Candidate] = []
        if spare >= len(found) + 1:
            checks = [found - {c} for c in sorted(found)]
        parts = split(rest, spare - len(checks)) if spare - len(checks) >= 2 else []
        queries += checks + [every - union(p) for p in parts]
        verdicts = problem.consider_many(queries)
        if verdicts[0]:
            return True
        got = verdicts[1 + len(checks):]
        dirty = [p for p, clean in zip(parts, got) if not clean]
        positives.extend(dirty if dirty else [rest])
        return False

    def _halve(
        self,
        problem: Problem,
        every: Candidate,
        culprits: Candidate,
        positives: List[List[Unit]],
        unknown: List[List[Unit]],
        w: int,
    ) -> List[List[Unit]]:
        """One round over up to ``w`` positive groups; returns the positive groups after it."""
        tasks, waiting = positives[:w], positives[w:]
        slots = [w // len(tasks) + (1 if i < w % len(tasks) else 0) for i in range(len(tasks))]
        plans = []
        queries: List[Candidate] = []
        for group, s in zip(tasks, slots):
            pieces = split(group, min(s + 1, len(group)))
            plans.append((pieces, len(queries)))
            queries += [every - union(p) for p in pieces[:-1]]
        if len(tasks) == 1 and not waiting and len(queries) < w:
            # Spare slots: if a single-unit piece turns out to be the last culprit, the next
            # round would test the culprits alone; test those guesses now.
            pieces = plans[0][0]
            guesses = [culprits | p[0] for p in pieces if len(p) == 1]
            # Then the closing pass's checks of those guesses (each without one change).
            checks = [g - {c} for g in guesses for c in sorted(g)]
            queries += [q for q in dict.fromkeys(guesses + checks) if q not in queries][: w - len(queries)]
        verdicts = problem.consider_many(queries)
        found: List[List[Unit]] = []
        for pieces, at in plans:
            clean = verdicts[at: at + len(pieces) - 1]
            found += [p for p, ok in zip(pieces, clean) if not ok]
            if all(clean):
                found.append(pieces[-1])  # the group holds a culprit and the rest is clean
            else:
                unknown.append(pieces[-1])
        return found + waiting

