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
    """One unit per change that no other change of ``best`` needs: it and all it needs.

    A change that only takes effect with its dependencies is never tried without them, and
    the dependencies shared by several units are kept while any of those units is.
    """
    needs = {c: frozenset(problem.structure.needs.get(c, frozenset())) & best for c in best}
    needed: set = set()
    for deps in needs.values():
        needed |= deps
    tops = [c for c in ordered(best) if c not in needed]
    units = {frozenset({c}) | needs[c] for c in tops}
    covered = union(units)
    # Dependency cycles leave changes that are all needed by one another: one unit each.
    units |= {frozenset({c}) | needs[c] for c in best - covered}
    return sorted(units, key=lambda u: ordered(u))


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
