"""Swap: replace a part of a 1-minimal result by a smaller one that was removed early, and
merge changes of the result into one removed change that brings them all about.

A 1-minimal result is only locally smallest. When a culprit needs *one of* several options (a
``depends on A || B``, or either of two options that select what it needs), the search keeps
whichever alternative it happened to meet last, and that can be a change that brings its own
needs along (``GPIO_SIM`` with ``GPIOLIB``) where a single other change (``SYSFS``) would do. No
single removal can show that, so one-at-a-time cannot either; which alternative is kept then
depends on the order of the search, and with it on the number of workers.

The result falls into *parts*: a change that nothing else in the result needs, with the
changes of the result that only it needs (``structure.needs``). For each part of two or more
changes, one test puts back, instead of the part, every removed change that would bring fewer
new changes than the part holds (with what it needs), unless all of those together bring back
none of the settings the part gave (see :func:`checks`). The tests of all parts form one batch.
Where one reproduces, a single change that does it is looked for among those that bring back
one of those settings on their own (see :meth:`Swap._narrow`), and the gate adopts the smaller
config. After a swap the one-at-a-time pass runs again (what the new change brings
can make other changes removable, and it proves 1-minimality), and the parts are looked at
again; every swap shrinks the result, so this ends.

A part whose settings some smaller alternative could bring back costs one build; other parts
and single changes cost none.

The other way round, several changes of the result can each be the setting one removed change
brings about: turning ``EXPERT`` off gives ``TTY``, ``PROC_FS`` and ``MULTIUSER`` their
defaults, so a result holding those three (where one search order left them) is larger than
one holding ``EXPERT`` off (and ``EMBEDDED``, which selects it). ``structure.providers`` names
such a change; resolution keeps the changes it makes redundant (see :func:`merges`), and
each merge that would shrink the result costs one build, largest saving first, W a round.
Merges ride in the closing pass's free slots too.
"""
from __future__ import annotations

from typing import FrozenSet, List, Tuple

from ltobisect.model import Candidate, ordered
from ltobisect.problem import Problem

from .base import first_reproducing, split, union
from .one_at_a_time import OneAtATime


def parts(problem: Problem, best: Candidate) -> List[Candidate]:
    """The result's parts of two or more changes: a change nothing in the result needs, with
    the changes of the result only it needs."""
    structure = problem.structure
    needed = union(structure.needs.get(c, frozenset()) for c in best)
    out = []
    for top in ordered(best - needed):
        mine = structure.closure([top]) & best
        own = mine - structure.closure(best - mine)
        if len(own) >= 2:
            out.append(own)
    return out


def merges(problem: Problem, best: Candidate) -> List[Candidate]:
    """Smaller results that put one removed change (with what it needs) in place of several
    changes of ``best`` whose settings it brings about, largest saving first.

    ``structure.providers`` names, for a setting, the changes that can each bring it about: a
    removed change that provides the settings of two or more changes of the result is a
    candidate (turning off ``EXPERT`` gives ``TTY``, ``PROC_FS`` and ``MULTIUSER`` their
    defaults). Resolution, no build, keeps only the changes it makes redundant: adding such a
    change back to the smaller config changes nothing in it, so the kernel's tools read it
    from there. Only those candidates are resolved: a few, where a result has thousands of
    providers (what a change provides beyond its own setting would make hundreds).
    """
    structure = problem.structure
    offered: dict = {}
    for x in best:
        for c in structure.providers.get(x.line(), frozenset()) - best:
            offered.setdefault(c, set()).add(x)
    out = {}
    for c, mine in offered.items():
        brings = structure.closure([c])
        gone = set(mine) - brings
        while len(cand := best - gone | brings) < len(best):
            base = problem.resolve(cand).digest
            kept = {x for x in gone if problem.resolve(cand | {x}).digest == base}
            if kept == gone:
                out[cand] = len(best) - len(cand)
                break
            gone = kept
    return sorted(out, key=lambda cand: (-out[cand], sorted(c.name for c in cand)))


def alternatives(problem: Problem, best: Candidate, part: Candidate) -> List[Candidate]:
    """For each removed change that would bring fewer new changes than ``part`` holds: it and
    what it needs, outside the rest of the result."""
    structure = problem.structure
    rest = best - part
    out = []
    for c in problem.changes:
        if c in best:
            continue
        brings = structure.closure([c]) - rest
        if len(brings) < len(part):
            out.append(brings)
    return out


def settings(problem: Problem, cand: Candidate) -> FrozenSet[str]:
    """The lines of ``cand``'s resolved config that set a symbol (``X=v``, ``# X is not set``):
    all of them (``problem.settings``), not what a resolver keeps of the text."""
    return frozenset(line for line in problem.settings(cand)
                     if line.endswith(" is not set") or "=" in line and not line.startswith("#"))


def checks(problem: Problem, best: Candidate
           ) -> List[Tuple[Candidate, List[Candidate], FrozenSet[str]]]:
    """For each part of ``best`` that may have a smaller alternative: the rest of ``best``, the
    alternatives (each a removed change with what it needs) and the settings the part gave.

    The failure is a function of the resolved config, so an alternative must bring back some
    setting that the part gave and the rest alone lacks: its own values, or what they select,
    imply or satisfy (``SYSFS=y``, which ``GPIO_SIM`` selects through ``CONFIGFS_FS``). When
    the rest with every alternative together brings back none of them (resolution, no build),
    the part is skipped.
    """
    out = []
    for part in parts(problem, best):
        units = alternatives(problem, best, part)
        if not units:
            continue
        rest = best - part
        gave = settings(problem, best) - settings(problem, rest)
        if gave & settings(problem, rest | union(units)):
            out.append((rest, units, gave))
    return out


class Swap:
    """The closing one-at-a-time pass, then swaps of parts for smaller removed alternatives
    and merges of changes into one that provides them, until neither shrinks the result: it
    is 1-minimal, no part has a smaller single-change replacement, and no removed change the
    Kconfig model names stands for more changes of it than it brings."""

    def __init__(self, name: str = "swap") -> None:
        self.name = name
        # The checks of the result ride in the slots its last sweep leaves free.
        self.closing = OneAtATime(fill=self._closing_checks)
        self._last: Tuple[object, Candidate, tuple] = (None, frozenset(), ([], []))

    def _closing_checks(self, problem: Problem, best: Candidate) -> List[Candidate]:
        jobs, merged = self._checks(problem, best)
        return [rest | union(units) for rest, units, _ in jobs] + merged

    def _checks(self, problem: Problem, best: Candidate) -> tuple:
        """:func:`checks` and :func:`merges`, kept for the last best: the closing pass's fill
        and the steps that follow it ask about the same result (thousands of closures, big
        configs parsed)."""
        if self._last[0] is not problem or self._last[1] != best:
            self._last = (problem, best, (checks(problem, best), merges(problem, best)))
        return self._last[2]

    def run(self, problem: Problem) -> None:
        while True:
            self.closing.run(problem)
            problem.label = self.name
            jobs, merged = self._checks(problem, problem.best)
            if jobs:
                verdicts = problem.consider_many([rest | union(units) for rest, units, _ in jobs])
                if any(self._narrow(problem, rest, units, gave)
                       for (rest, units, gave), ok in zip(jobs, verdicts) if ok):
                    continue
            if not self._merge(problem, merged):
                return

    @staticmethod
    def _merge(problem: Problem, cands: List[Candidate]) -> bool:
        """Test the result's :func:`merges`, a batch of W at a time, until one reproduces;
        True when the gate took a smaller best."""
        size = len(problem.best)
        return first_reproducing(problem, cands) is not None and len(problem.best) < size

    @staticmethod
    def _narrow(problem: Problem, rest: Candidate, units: List[Candidate],
                gave: FrozenSet[str]) -> bool:
        """Find one of ``units`` (which reproduce together with ``rest``) that does alone;
        True when the gate took a smaller best on the way.

        Only units that bring back a setting ``gave`` holds on their own (resolution, no
        build) can: usually a handful of thousands. Those are halved, W of W + 1 pieces
        tested a round (the first that reproduces is kept, else the untested last one), until
        no more than W are left, which are tried one each in a round.
        """
        size = len(problem.best)
        units = [u for u in units if gave & settings(problem, rest | u)]
        while len(units) > problem.workers:
            pieces = split(units, problem.workers + 1)
            tested = pieces[:-1]
            verdicts = problem.consider_many([rest | union(p) for p in tested])
            hit = next((p for p, ok in zip(tested, verdicts) if ok), None)
            units = hit if hit is not None else pieces[-1]
        problem.consider_many([rest | u for u in units])
        return len(problem.best) < size
