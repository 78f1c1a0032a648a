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
4. It is deterministic for a given ``problem.rng`` seed and sequence of verdicts.
5. It tolerates non-monotonic verdicts (a subset passes while its own subset fails): it never
   loops on them and never assumes a verdict it has not been given.
6. With ``problem.workers`` > 1 it proposes batches of about that many candidates to
   ``consider_many`` so the executor can run them in parallel.
"""
