"""One at a time: try removing each remaining change alone, until none can go.

As the closing pass of every pipeline it *proves* 1-minimality: it ends only after a full sweep
in which removing any single change of the result lost the failure. Run from the bad config it
is the classic one-by-one minimization of a kernel config (about one build per change),
against which the other strategies are measured.

Parallel: the next W removals are tested at once against the same best. When several of them
reproduce, the next batch tries them all removed together, with the removals that follow
tried on top of that; if together they lose the failure, the gate has kept the first one that
reproduced and the sweep after it settles the others. A sweep that removed something is
followed by another, so non-monotonic verdicts cannot leave a removable change behind; each
sweep either shrinks the best or is the last.
"""
from __future__ import annotations

from typing import Callable, List, Optional

from ltobisect.model import Candidate, ordered
from ltobisect.problem import Problem


class OneAtATime:
    """Sweeps of single-change removals until a sweep removes nothing.

    ``fill(problem, best)``, when given, names candidates worth testing in the slots the last
    batch of a sweep leaves free (with W > 1): if the sweep removes nothing, ``best`` is the
    result and those answers are ready when the next step asks.
    """

    def __init__(self, name: str = "one-at-a-time",
                 fill: Optional[Callable[[Problem, Candidate], List[Candidate]]] = None) -> None:
        self.name = name
        self.fill = fill

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        w = problem.workers
        progress = True
        while progress:
            progress = False
            last = None  # the last change this sweep tried removing
            together: frozenset = frozenset()  # several removals that reproduced, untried as one
            while True:
                best = problem.best
                base = best - together
                order = ordered(base)
                at = 0 if last is None else sum(1 for c in order if c <= last)
                cands = [base] if together else []
                # A removal already answered costs no build: a batch holds up to W new ones.
                room = w - sum(1 for q in cands if problem.known(q) is None)
                batch = []
                for c in order[at:]:
                    new = problem.known(base - {c}) is None
                    if new and room <= 0:
                        break
                    batch.append(c)
                    room -= new
                cands += [base - {c} for c in batch]
                if not cands:
                    break
                if self.fill is not None and room > 0 and at + len(batch) == len(order):
                    spare = [q for q in self.fill(problem, best) if problem.known(q) is None]
                    cands += [q for q in dict.fromkeys(spare) if q not in cands][:room]
                off = 1 if together else 0
                verdicts = problem.consider_many(cands)[off: off + len(batch)]
                hit = [c for c, ok in zip(batch, verdicts) if ok]
                # A speculative candidate may also have shrunk the best: sweep again then.
                progress = progress or bool(hit) or problem.best != best
                together = frozenset(hit) if len(hit) > 1 else frozenset()
                if batch:
                    last = batch[-1]
