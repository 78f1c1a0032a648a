"""The simulation the strategy benchmark runs on: its figures must not depend on the draw of time."""
from __future__ import annotations

import random

from ltobisect import simulate as sim
from ltobisect.model import Resolved


def test_another_draw_of_build_times_changes_the_wall_time_but_not_the_search():
    # The search sees verdicts only, never how long a build took: another draw of the
    # simulated durations must give the same builds and result, and only another wall time.
    chs, resolver = sim.synthetic(300, 300)
    culprits = random.Random("synthetic-300/3/0").sample(chs, 3)
    wanted = {c.name: c.value for c in culprits}

    def predicate(r: Resolved) -> bool:
        values = sim.config_values(r.config_text)
        return all(values.get(k) == v for k, v in wanted.items())

    def run(workers: int, seed: str) -> sim.SimRun:
        return sim.run_strategy("default", sorted(chs), resolver, resolver.structure(), predicate,
                                workers, duration=lambda r: sim.build_seconds(r, seed))

    first = run(4, "")
    second = run(4, "a")
    assert (second.tests, second.size) == (first.tests, first.size)
    assert second.wall != first.wall
    # One worker: the wall time is the sum of the builds' times, about 100 s each.
    one = run(1, "")
    assert 75 * one.tests <= one.wall <= 125 * one.tests
