"""What a test is expected to cost, learnt from the builds of the session so far.

A kernel build's time grows with what the config builds: on Linux 6.1 with LTO a randconfig of
222 changes took 11 minutes, tinyconfig 5, candidates of 148 changes 12.5 and 14. The model
reads a config's *weight* off its resolved text (how many options are set to ``y`` or ``m``)
and interpolates between the finished builds of nearest weight. The bad config and the
baseline are the first two points (the session builds them before any strategy runs), every
finished build adds one, and a resumed session learns from its journal's recorded durations.

The estimate is a ranking aid, never a verdict: with fewer than two builds of different weight
it says nothing (``None``), and callers then keep the order they would have used without it.
"""
from __future__ import annotations

import bisect
from statistics import median
from typing import Dict, List, Optional, Sequence

from ltobisect.model import Resolved


def weight(config_text: str) -> int:
    """How many options the config sets to ``y`` or ``m``: what the build compiles grows with it."""
    n = 0
    for line in config_text.splitlines():
        if line.startswith("CONFIG_") and (line.endswith("=y") or line.endswith("=m")):
            n += 1
    return n


class CostModel:
    """Build seconds as a function of the config's weight, from the builds seen."""

    def __init__(self, learn: bool = True) -> None:
        self._learn = learn  # False: a model that never knows (benchmarks' "before")
        self._seconds: Dict[int, List[float]] = {}  # weight -> durations of builds of it
        self._weights: Dict[str, int] = {}  # digest -> weight (parsing a config is not free)

    def weigh(self, r: Resolved) -> int:
        w = self._weights.get(r.digest)
        if w is None:
            w = self._weights[r.digest] = weight(r.config_text)
        return w

    def add(self, r: Resolved, seconds: float) -> None:
        """One finished build of ``r`` that took ``seconds`` (ignored when nothing was timed)."""
        if seconds > 0 and self._learn:
            self._seconds.setdefault(self.weigh(r), []).append(seconds)

    @property
    def known(self) -> bool:
        """Whether the model can tell configs apart: builds of two weights or more."""
        return len(self._seconds) >= 2

    def expect(self, r: Resolved) -> Optional[float]:
        """Expected seconds of building ``r``; None until :attr:`known`.

        Linear between the two nearest weights built (the median where one weight was built
        several times), flat beyond the lightest and the heaviest: no extrapolation.
        """
        if not self.known:
            return None
        ws = sorted(self._seconds)
        at = [median(self._seconds[w]) for w in ws]
        w = self.weigh(r)
        i = bisect.bisect_left(ws, w)
        if i < len(ws) and ws[i] == w:
            return at[i]
        if i == 0:
            return at[0]
        if i == len(ws):
            return at[-1]
        lo, hi = ws[i - 1], ws[i]
        return at[i - 1] + (at[i] - at[i - 1]) * (w - lo) / (hi - lo)

    def longest_first(self, items: Sequence[Resolved]) -> List[int]:
        """Indices of ``items``, the most expensive first (a batch then ends soonest: the long
        builds start at once and the cheap ones fill the workers they leave); the given order
        where the model knows nothing or the estimates tie."""
        est = [self.expect(r) for r in items]
        if any(e is None for e in est):
            return list(range(len(items)))
        return sorted(range(len(items)), key=lambda i: (-float(est[i] or 0.0), i))
