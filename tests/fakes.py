"""Test helpers over the simulation of :mod:`ltobisect.testing.simulate`: a Problem wired in one call.

The simulated collaborators of the Problem (resolver, runner, journal, clock) are product code
in :mod:`ltobisect.testing.simulate`, shared with the strategy benchmark. This module adds what only
tests need: :func:`changes` makes numbered changes, and :func:`make_problem` wires a
:class:`~ltobisect.testing.simulate.SimResolver`, a :class:`~ltobisect.testing.simulate.SimRunner` and a
:class:`~ltobisect.testing.simulate.MemoryJournal` into a :class:`~ltobisect.problem.Problem`.
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ltobisect.config import Limits
from ltobisect.model import Change, Resolved
from ltobisect.problem import Problem
from ltobisect.testing.simulate import MemoryJournal, Predicate, SimClock, SimResolver, SimRunner


def changes(count: int, *, off: Iterable[int] = ()) -> List[Change]:
    """``count`` bool changes ``C000``.. turning options on; indices in ``off`` turn one off."""
    off = set(off)
    out = []
    for i in range(count):
        if i in off:
            out.append(Change(f"C{i:03d}", "n", "bool", baseline_value="y"))
        else:
            out.append(Change(f"C{i:03d}", "y", "bool", baseline_value="n"))
    return out


def make_problem(
    all_changes: Sequence[Change],
    predicate: Predicate,
    *,
    needs: Optional[Mapping[Change, Iterable[Change]]] = None,
    menus: Optional[Mapping[Change, Tuple[str, ...]]] = None,
    selects: Optional[Mapping[Change, Iterable[str]]] = None,
    workers: int = 1,
    seed: int = 0,
    limits: Limits = Limits(),
    duration: Union[float, Callable[[Resolved], float]] = 0.0,
    journal: Optional[MemoryJournal] = None,
    **runner_options,
) -> Problem:
    """A Problem over ``all_changes`` whose tests run ``predicate`` (fake resolver and runner).

    The runner, resolver and journal stay reachable as ``problem.fake_runner``,
    ``problem.fake_resolver`` and ``problem.fake_journal``.
    """
    resolver = SimResolver(all_changes, needs, menus, selects)
    clock = SimClock()
    runner = SimRunner(predicate, workers, duration=duration, clock=clock, **runner_options)
    journal = journal if journal is not None else MemoryJournal()
    problem = Problem(
        all_changes,
        resolver,
        runner,
        journal,
        structure=resolver.structure(),
        limits=limits,
        seed=seed,
        clock=clock,
    )
    problem.fake_runner = runner  # type: ignore[attr-defined]
    problem.fake_resolver = resolver  # type: ignore[attr-defined]
    problem.fake_journal = journal  # type: ignore[attr-defined]
    return problem
