"""The strategy benchmark's simulation: what it measures must not depend on how it draws time."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import strategy_bench as sb  # noqa: E402


def test_another_draw_of_build_times_changes_the_wall_time_but_not_the_search(monkeypatch):
    # The search sees verdicts only, never how long a build took: another draw of the
    # simulated durations must give the same builds and result, and only another wall time.
    case = sb.draw_cases([sb.synthetic(300, 300)], (3,), (0,))[0]
    first = sb.run(case, "default", 4)
    monkeypatch.setattr(sb, "DURATION_SEED", "a")
    second = sb.run(case, "default", 4)
    assert (second.tests, second.size) == (first.tests, first.size)
    assert second.wall != first.wall
    # One worker: the wall time is the sum of the builds' times, about 100 s each.
    one = sb.run(case, "default", 1)
    assert 75 * one.tests <= one.wall <= 125 * one.tests
