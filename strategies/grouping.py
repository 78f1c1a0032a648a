"""Grouping: search over units that belong together, then refine inside them.

Two kinds of units, both from the Kconfig layer's :class:`~ltobisect.model.Structure`:

- *closures*: a change together with every change it needs (``structure.needs``), one unit per
  change that nothing else needs. A change that only takes effect with its dependency is never
  tried without it, so no test is spent on a candidate that resolves to nothing new.
- *menus*: the changes of one Kconfig menu (``structure.menu``) go together.

A grouped strategy runs :class:`~ltobisect.strategies.bisect.Bisect` over the units (fewer
items, so fewer halvings), then over single changes inside the units that remained.
"""
from __future__ import annotations

from typing import List, Tuple

from ltobisect.model import Candidate, ordered
from ltobisect.problem import Problem

from .base import Pipeline, Unit, UnitsOf, union
from .bisect import Bisect


def closures(problem: Problem, best: Candidate) -> List[Unit]:
    """A partition into dependency closures: each change nothing else needs, with what it alone needs.

    A change that only takes effect with its dependencies is never tried without them. A
    dependency that several of those changes need stays a unit of its own, so removing one
    unit never breaks another; when a unit turns out to matter, the shared dependencies it
    needs follow it without a test (bisect's use of ``structure.needs``).
    """
    needs = {c: frozenset(problem.structure.needs.get(c, frozenset())) & best for c in best}
    needed: set = set()
    for deps in needs.values():
        needed |= deps
    tops = [c for c in ordered(best) if c not in needed]
    owners: dict = {}
    for t in tops:
        for d in needs[t]:
            owners.setdefault(d, []).append(t)
    private: dict = {t: {t} for t in tops}
    for d, ts in owners.items():
        if len(ts) == 1:
            private[ts[0]].add(d)
    units = [frozenset(u) for u in private.values()]
    covered = union(units)
    units += [frozenset({c}) for c in ordered(best - covered)]
    return sorted(units, key=lambda u: (len(u) == 1 and next(iter(u)) in needed, ordered(u)))


def menus(problem: Problem, best: Candidate) -> List[Unit]:
    """One unit per Kconfig menu (the full menu path); changes without a menu stand alone."""
    groups: dict = {}
    for c in ordered(best):
        path: Tuple[str, ...] = tuple(problem.structure.menu.get(c, ()))
        key = path if path else ("", c.name)
        groups.setdefault(key, []).append(c)
    return [frozenset(v) for _, v in sorted(groups.items())]


def grouped(units: UnitsOf, name: str) -> Pipeline:
    """Bisect over ``units``, then over the single changes that remain."""
    return Pipeline(name, [Bisect(units, name=f"{name}:units"), Bisect(name=f"{name}:changes")])
