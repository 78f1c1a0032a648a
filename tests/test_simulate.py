"""The simulation the strategy benchmark runs on: its figures must not depend on the draw of time."""
from __future__ import annotations

import random

from ltobisect.testing import simulate as sim
from ltobisect.model import Resolved


def test_another_draw_of_build_times_changes_the_wall_time_but_not_the_result():
    # The search reads build times only to choose among tests that tell as much (which
    # piece a round leaves untested): another draw of the simulated durations may change
    # which builds run, never the result's size; builds that all last as long change nothing.
    chs, resolver = sim.synthetic(300, 300)
    culprits = random.Random("synthetic-300/3/0").sample(chs, 3)
    wanted = {c.name: c.value for c in culprits}

    def predicate(r: Resolved) -> bool:
        values = sim.config_values(r.config_text)
        return all(values.get(k) == v for k, v in wanted.items())

    def run(workers: int, seed, duration=None) -> sim.SimRun:
        return sim.run_strategy("default", sorted(chs), resolver, resolver.structure(), predicate,
                                workers, duration=duration or (lambda r: sim.build_seconds(r, seed)))

    first = run(4, "")
    second = run(4, "a")
    assert second.size == first.size
    assert second.wall != first.wall
    flat60, flat90 = run(4, None, lambda r: 60.0), run(4, None, lambda r: 90.0)
    assert flat60.tests == flat90.tests and flat90.wall == 1.5 * flat60.wall
    # One worker: the wall time is the sum of the builds' times, about 100 s each.
    one = run(1, "")
    assert 75 * one.tests <= one.wall <= 125 * one.tests
