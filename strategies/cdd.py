"""CDD: counter-based delta debugging (Zhang et al., ICSE 2025), in our own words.

CDD observes that in ProbDD all units keep the same probability, so one number does: a counter
of finished rounds. Round r removes chunks of size s_r = round(-1 / ln(1 - p_r)), the size that
maximizes the expected gain at probability p_r, testing every chunk once (removing those that
can go); then p_{r+1} = p_r / (1 - (1 - p_r)^s_r) and the chunks shrink. The round with chunks
of one unit is the last.

Parallel: the next W chunks are tested against the same configuration; the first that
reproduces is removed and the round continues after it, as the sequential round would.
"""
from __future__ import annotations

import math
from typing import List

from ltobisect.problem import Problem

from .base import Unit, UnitsOf, effective, singletons, union


def chunk_size(p: float, n: int) -> int:
    """The chunk size for probability ``p``, between 1 and ``n``."""
    if p >= 1.0:
        return 1
    return max(1, min(n, round(-1.0 / math.log(1.0 - p))))


class CDD:
    """Counter-based delta debugging over units, starting at probability ``p0``."""

    def __init__(self, p0: float = 0.1, units: UnitsOf = singletons, name: str = "cdd") -> None:
        self.p0 = p0
        self.units = units
        self.name = name

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        cur: List[Unit] = list(self.units(problem, problem.best))
        problem.rng.shuffle(cur)
        p = self.p0
        while cur:
            s = chunk_size(p, len(cur))
            at = 0
            while at < len(cur):
                # The chunks of this round, from position `at` of the current configuration.
                chunks = [cur[i: i + s] for i in range(at, len(cur), s)][: problem.workers]
                base = union(cur)
                verdicts = problem.consider_many([base - union(c) for c in chunks])
                hit = next((i for i, ok in enumerate(verdicts) if ok), None)
                if hit is None:
                    at += sum(len(c) for c in chunks)
                    continue
                at += sum(len(c) for c in chunks[:hit])
                eff = effective(problem, base - union(chunks[hit]))
                head = [u & eff for u in cur[:at] if u & eff]
                tail = [u & eff for u in cur[at + len(chunks[hit]):] if u & eff]
                cur, at = head + tail, len(head)
            if s == 1:
                return
            p = p / (1.0 - (1.0 - p) ** s)
