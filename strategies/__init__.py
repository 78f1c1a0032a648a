"""Reduction strategies. Installed as ``ltobisect.strategies`` (see pyproject.toml).

A strategy is an object with a ``name`` and a ``run(problem)`` method. It proposes candidates
(sets of changes) to the :class:`ltobisect.problem.Problem` and learns from the answers. The
rules every strategy obeys:

1. It tests only through ``problem.consider()``, ``problem.consider_many()`` or
   ``problem.test_many()``: never a build, never kconfiglib, never a print, never the UI.
2. It starts from ``problem.best`` and may rely on it reproducing; it returns when it can make no
   further progress. ``problem.best`` is updated by the gate itself whenever a smaller candidate
   reproduces, so a strategy never loses a result by being stopped.
3. It lets :class:`ltobisect.errors.Stopped` (limits, Ctrl-C) and
   :class:`ltobisect.errors.InfraError` propagate: the session owns what happens next.
4. It is deterministic for a given ``problem.rng`` seed and sequence of verdicts (and of the
   answers of ``problem.known()``), and a deep copy of it taken before it runs behaves the
   same: :mod:`ltobisect.speculate` replays such a copy to learn what it will ask next.
5. It tolerates non-monotonic verdicts (a subset passes while its own subset fails): it never
   loops on them and never assumes a verdict it has not been given.
6. With ``problem.workers`` > 1 it proposes batches of about that many candidates to
   ``consider_many`` so the executor can run them in parallel.
7. ``problem.prior`` (changes the failure's log pointed at, which did not reproduce alone) is
   a hint it may follow first, never a verdict; bisect does (``Bisect._lead``) and sets
   ``problem.led``.
"""
from __future__ import annotations

from typing import Callable, Dict

from ltobisect.errors import UserError

from .base import Pipeline, Strategy
from .bisect import Bisect
from .cdd import CDD
from .ddmin import DDMin
from .grouping import closures, grouped, menus
from .one_at_a_time import OneAtATime
from .probdd import ProbDD
from .swap import Swap


def default() -> Pipeline:
    """The default pipeline: bisect, then swap (the one-at-a-time pass that proves
    1-minimality, swaps of parts of the result for smaller removed alternatives, and merges
    of its changes into one removed change that brings them about).

    Why these two: bisect names the culprits one at a time by halving, so its builds grow as
    k * log2(n), near the information bound log2 C(n, k) + k, where ddmin, CDD and ProbDD spend
    builds on removals a culprit-by-culprit search never tries and one-at-a-time needs a build
    per change. Grouping by dependency closures or by menus is left out of the default: the
    pass that refines inside the groups costs more builds than the fewer halvings save. Bisect
    fills a slot per worker in every round, so more workers shorten the wall time. Parallel
    rounds can end on a larger alternative of the same failure (two changes where one would
    do, or several where one brings them all about); swap replaces and merges such parts, so
    that results of different worker counts have the same size where the Kconfig model names
    the smaller alternative.
    ``benchmarks/strategy_bench.py`` measures these claims; ``benchmarks/README.md`` has its
    latest figures.
    """
    return Pipeline("default", [Bisect(), Swap()])


#: Every strategy by the name the CLI (``--strategy``) and the benchmark use: name -> factory.
STRATEGIES: Dict[str, Callable[[], Strategy]] = {
    "default": default,
    "bisect": Bisect,
    "ddmin": DDMin,
    "cdd": lambda: Pipeline("cdd", [CDD(), OneAtATime()]),
    "probdd": lambda: Pipeline("probdd", [ProbDD(), OneAtATime()]),
    "closure-bisect": lambda: Pipeline(
        "closure-bisect", [grouped(closures, "closure-bisect"), OneAtATime()]
    ),
    "menu-bisect": lambda: Pipeline("menu-bisect", [grouped(menus, "menu-bisect"), OneAtATime()]),
    "one-at-a-time": OneAtATime,
}


def get(name: str) -> Strategy:
    """A fresh strategy by name; a :class:`UserError` naming the valid ones otherwise."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise UserError(
            f"unknown strategy {name!r}", hint="valid strategies: " + ", ".join(sorted(STRATEGIES))
        )
    return factory()


__all__ = ["STRATEGIES", "Strategy", "Pipeline", "get", "default"]
