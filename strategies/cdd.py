"""CDD: counter-based delta debugging (Zhang et al., ICSE 2025), in our own words.

CDD observes that in ProbDD all units keep the same probability, so one number does: a counter
of finished rounds. Round r removes chunks of size s_r = round(-1 / ln(1 - p_r)), the size that
maximizes the expected gain at probability p_r, testing every chunk once (removing those that
can go); then p_{r+1} = p_r / (1 - (1 - p_r)^s_r) and the chunks shrink. The round with chunks
of one unit is the last.

Parallel: the next W chunks are tested against the same configuration. When one reproduces it
is removed and the round continues after it, as the sequential round would; when several do,
all of them are removed at once, speculatively: the next batch tests that configuration first,
next to the following chunks, and if it does not reproduce the round goes on from the first
chunk's removal alone.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

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
            # (all hits removed, position after the batch; first hit removed, its position)
            pending: Optional[Tuple[List[Unit], int, List[Unit], int]] = None
            while at < len(cur) or pending:
                base_units = pending[0] if pending else cur
                start = pending[1] if pending else at
                chunks = [base_units[i: i + s] for i in range(start, len(base_units), s)]
                chunks = chunks[: problem.workers - (1 if pending else 0)]
                base = union(base_units)
                queries = ([base] if pending else []) + [base - union(c) for c in chunks]
                verdicts = problem.consider_many(queries)
                if pending:
                    confirmed, verdicts = verdicts[0], verdicts[1:]
                    if not confirmed:  # not removable together: on from the first hit alone
                        cur, at, pending = pending[2], pending[3], None
                        continue
                    cur, at, pending = base_units, start, None
                hits = [i for i, ok in enumerate(verdicts) if ok]
                if not hits:
                    at += sum(len(c) for c in chunks)
                    continue
                first = at + sum(len(c) for c in chunks[: hits[0]])
                one, one_at = _without(problem, cur, [chunks[hits[0]]], first)
                if len(hits) == 1:
                    cur, at = one, one_at
                    continue
                # Several chunks could go, each against the same configuration: remove them all
                # and let the next batch confirm it; the chunks between them did not go.
                end = at + sum(len(c) for c in chunks)
                every, every_at = _without(problem, cur, [chunks[i] for i in hits], end)
                pending = (every, every_at, one, one_at)
            if s == 1:
                return
            p = p / (1.0 - (1.0 - p) ** s)


def _without(problem: Problem, cur: List[Unit], chunks: List[List[Unit]], at: int):
    """``cur`` without ``chunks`` and what no longer takes effect, and where position ``at``
    (in ``cur``) lands after the removal."""
    gone = {u for c in chunks for u in c}
    eff = effective(problem, union(u for u in cur if u not in gone))
    head = [u & eff for u in cur[:at] if u not in gone and u & eff]
    tail = [u & eff for u in cur[at:] if u not in gone and u & eff]
    return head + tail, len(head)
