"""One at a time: try removing each remaining change alone, until none can go.

As the closing pass of every pipeline it *proves* 1-minimality: it ends only after a full sweep
in which removing any single change of the result lost the failure. Run from the bad config it
is the baseline ktest's ``make_min_config`` stands for (about one build per change), against
which the other strategies are measured.

Parallel: the next W removals are tested at once against the same best; the first one that
reproduces (in canonical order) is taken, as a sequential sweep would, and the sweep goes on
after it. A sweep that removed something is followed by another, so non-monotonic verdicts
cannot leave a removable change behind; each sweep either shrinks the best or is the last.
"""
from __future__ import annotations

from ltobisect.model import ordered
from ltobisect.problem import Problem


class OneAtATime:
    """Sweeps of single-change removals until a sweep removes nothing."""

    def __init__(self, name: str = "one-at-a-time") -> None:
        self.name = name

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        w = problem.workers
        progress = True
        while progress:
            progress = False
            at = 0
            while True:
                best = problem.best
                order = ordered(best)
                if at >= len(order):
                    break
                batch = order[at: at + w]
                verdicts = problem.consider_many([best - {c} for c in batch])
                hit = next((i for i, ok in enumerate(verdicts) if ok), None)
                if hit is None:
                    at += len(batch)
                    continue
                progress = True
                gone = batch[hit]
                # Resume right after the removed change, in the new (smaller) best.
                at = sum(1 for c in problem.best if c < gone)
