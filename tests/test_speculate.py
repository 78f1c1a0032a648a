"""Speculation: idle workers build what the search will likely ask next, and stop when moot.

What a user of a farm would notice: workers do not idle while the search waits for its slowest
build, a build nobody needs any more is killed (not left to run for half an hour), a build
started ahead is never built twice, and the result is the one W = 1 gives.
"""
from __future__ import annotations

import random
import threading

import pytest

from ltobisect.config import RetryPolicy
from ltobisect.events import ListReporter, TestDropped, TestFinished, TestStarted
from ltobisect.executor import LocalExecutor
from ltobisect.model import Outcome, Resolved, Verdict
from ltobisect.oracle import OracleDefaults
from ltobisect.testing import simulate as sim

from support import wait_until

FAST = RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.002)


def cfg(name: str) -> Resolved:
    return Resolved(candidate=frozenset(), config_text=f"CONFIG_{name}=y\n", digest=name)


class GatedOracle(OracleDefaults):
    """Each build waits until its digest is released (or it is cancelled); counts builds."""

    def __init__(self) -> None:
        self.release = {}
        self.cancelled = []
        self.builds = []
        self.slot_of = {}
        self.lock = threading.Lock()

    def gate(self, digest: str) -> threading.Event:
        with self.lock:
            return self.release.setdefault(digest, threading.Event())

    def test(self, r, slot):
        with self.lock:
            self.builds.append(r.digest)
            self.slot_of[slot] = r.digest
        self.gate(r.digest).wait(30)
        with self.lock:
            killed = r.digest in self.cancelled
        if killed:
            return Outcome(Verdict.INFRA_ERROR, detail="killed")
        return Outcome(Verdict.REPRODUCES if r.digest.startswith("yes") else Verdict.PASSES,
                       duration=0.01)

    observe = test

    def cancel(self, slot):
        with self.lock:
            digest = self.slot_of.get(slot)
            self.cancelled.append(digest)
        self.gate(digest).set()

    def close(self):
        for ev in list(self.release.values()):
            ev.set()


class Planned:
    """An Ahead that proposes ``plan`` in order and wants what ``wanted`` holds."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.wanted_set = {r.digest for r in plan}
        self.finished_with = []
        self.dropped_ones = []

    def next(self, busy):
        for r in self.plan:
            if r.digest not in busy and r.digest not in [f.digest for f, _ in self.finished_with]:
                self.plan.remove(r)
                return r
        return None

    def wanted(self, digest):
        return digest in self.wanted_set

    def finished(self, r, o):
        self.finished_with.append((r, o))

    def dropped(self, r):
        self.dropped_ones.append(r.digest)


def test_a_build_started_ahead_is_killed_when_no_result_needs_it():
    oracle = GatedOracle()
    events = ListReporter()
    ex = LocalExecutor(oracle, workers=2, retry=FAST, reporter=events)
    ahead = Planned([cfg("maybe")])
    a = cfg("yes-a")
    done = []
    runner = threading.Thread(target=lambda: done.append(ex.run([a], lambda *x: None, ["bisect"], ahead=ahead)))
    runner.start()
    wait_until(lambda: "maybe" in oracle.builds and "yes-a" in oracle.builds, 30, what="both building")
    ahead.wanted_set.discard("maybe")  # the verdict of a makes it moot
    oracle.gate("yes-a").set()
    runner.join(10)
    assert [o.verdict for o in done[0]] == [Verdict.REPRODUCES]
    assert oracle.cancelled == ["maybe"]  # killed in its slot, not left to run
    assert ahead.dropped_ones == ["maybe"] and ahead.finished_with == []
    started = [e for e in events.events if isinstance(e, TestStarted)]
    assert {(e.digest, e.ahead) for e in started} == {("yes-a", False), ("maybe", True)}
    dropped = [e for e in events.events if isinstance(e, TestDropped)]
    assert [e.digest for e in dropped] == ["maybe"]
    assert not any(isinstance(e, TestFinished) and e.digest == "maybe" for e in events.events)
    ex.close()


def test_a_build_started_ahead_is_waited_for_not_built_again():
    oracle = GatedOracle()
    ex = LocalExecutor(oracle, workers=2, retry=FAST)
    ahead = Planned([cfg("yes-next")])
    oracle.gate("passes-first").set()
    first = ex.run([cfg("passes-first")], lambda *x: None, ahead=ahead)
    assert [o.verdict for o in first] == [Verdict.PASSES]
    wait_until(lambda: "yes-next" in oracle.builds, 30, what="the build ahead started")
    seen = []
    threading.Timer(0.2, oracle.gate("yes-next").set).start()
    second = ex.run([cfg("yes-next")], lambda i, r, o: seen.append(r.digest), ahead=ahead)
    assert [o.verdict for o in second] == [Verdict.REPRODUCES]
    assert oracle.builds.count("yes-next") == 1  # the run asked for it while it built
    assert seen == ["yes-next"]  # and its verdict reached the caller's on_done (the journal)
    ex.close()


def test_a_build_that_ends_ahead_is_recorded_at_once_while_the_run_waits():
    oracle = GatedOracle()
    ex = LocalExecutor(oracle, workers=2, retry=FAST)
    ahead = Planned([cfg("yes-early")])
    oracle.gate("yes-early").set()
    # The run's own build ends only after the one started ahead has been handed over.
    threading.Thread(target=lambda: (wait_until(lambda: ahead.finished_with, 30, what="handed over"),
                                     oracle.gate("slow").set()), daemon=True).start()
    out = ex.run([cfg("slow")], lambda *x: None, ahead=ahead)
    assert [o.verdict for o in out] == [Verdict.PASSES]
    assert [(r.digest, o.verdict) for r, o in ahead.finished_with] == [("yes-early", Verdict.REPRODUCES)]
    ex.close()


# -- the search with speculation: the same result as one worker --------------------------------
def _problem(seed: int):
    rng = random.Random(seed)
    chs, resolver = sim.synthetic(rng.choice((200, 600)), seed)
    culprits = rng.sample(chs, rng.choice((2, 3, 4)))
    predicate = sim.conjunction({c.name: c.value for c in culprits})
    lo, hi = resolver(frozenset()), resolver(frozenset(chs))
    return chs, resolver, predicate, sim.weighted_seconds(lo, hi, str(seed))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_with_idle_workers_building_ahead_the_result_is_one_workers(seed):
    chs, resolver, predicate, seconds = _problem(seed)
    structure = resolver.structure()
    one = sim.run_strategy("default", chs, resolver, structure, predicate, 1, duration=seconds)
    four = sim.run_strategy("default", chs, resolver, structure, predicate, 4, duration=seconds)
    plain = sim.run_strategy("default", chs, resolver, structure, predicate, 4, duration=seconds,
                             speculate=False)
    assert one.ahead == 0 and one.killed == 0  # one worker never idles: nothing ahead
    assert four.size == one.size
    assert predicate(resolver(four.best))
    for c in four.best:  # 1-minimal: no change can go
        assert not predicate(resolver(four.best - {c}))
    # Workers that would have idled while a round waited for its slowest build built ahead.
    assert four.ahead + four.killed > 0
    assert four.efficiency > plain.efficiency


def test_a_session_on_three_workers_ends_on_one_workers_fragment(tmp_path):
    from ltobisect.conductor.session import Session
    from session_support import EXPECTED, PyOracle, py_factory, tiny_config, tiny_tree

    tree = tiny_tree(tmp_path)
    fragments = {}
    for workers in (1, 3):
        state = tmp_path / f"w{workers}"
        result = Session(tiny_config(tree, state, test_script=None, workers=workers),
                         oracle_factory=py_factory(PyOracle(tmp_path / f"logs{workers}"))).run()
        assert result.status == "minimized", result.message
        fragments[workers] = {ln for ln in (state / "fragment.config").read_text().splitlines()
                              if ln.startswith(("CONFIG_", "# CONFIG_"))}
    assert fragments[3] == fragments[1] == set(EXPECTED)


def test_a_replay_told_what_an_earlier_one_was_told_is_not_run_again(monkeypatch):
    """The plans, and so the builds, the wall time and the result, are those of replaying
    every hypothesis; the replays of the strategy's logic (our CPU, each resolving configs)
    are fewer."""
    from ltobisect import speculate

    chs, resolver, predicate, seconds = _problem(12)
    structure = resolver.structure()
    runs = []
    real_shadow = speculate.Shadow

    def counted(*args, **kw):
        runs[-1] += 1
        return real_shadow(*args, **kw)

    monkeypatch.setattr(speculate, "Shadow", counted)
    outcomes = []
    for recall in (True, False):
        if not recall:
            monkeypatch.setattr(speculate.Speculator, "_recall", lambda self, hypothesis: None)
        runs.append(0)
        r = sim.run_strategy("default", chs, resolver, structure, predicate, 4, duration=seconds)
        outcomes.append((r.tests, r.wall, r.best, r.ahead, r.used, r.killed))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][3] + outcomes[0][5] > 0  # builds were started ahead from the plans
    assert runs[0] < 0.8 * runs[1], runs


def test_what_only_the_unlikely_outcome_asks_for_is_not_built_ahead():
    """A build started ahead that the search never asks for is a build spent for nothing. While
    a slow build runs, what its likely outcome will ask for is built ahead, and so is what
    either outcome asks for; what only the unlikely outcome asks for waits for it."""
    from ltobisect.model import Change
    from ltobisect.problem import Problem
    from ltobisect.speculate import search

    ch = {n: Change(n, "y") for n in "ABCDEGXYZ"}

    def resolve(cand):
        names = "".join(sorted(c.name for c in cand))
        return Resolved(frozenset(cand), "".join(f"CONFIG_{n}=y\n" for n in names), names)

    def one(*names):
        return {ch[n] for n in names}

    class Probe:
        def run(self, problem):
            # Four builds that reproduce: the rate seen so far is 5 in 6.
            problem.consider_many([one("A", "B"), one("A", "C"), one("A", "D"), one("A", "E")])
            if problem.consider(one("X")):  # slow: three workers would idle meanwhile
                problem.consider_many([one("Y"), one("Z")])
            else:
                problem.consider_many([one("Z"), one("G")])

    reproduce = {"AB", "AC", "AD", "AE", "X", "Y"}
    runner = sim.SimRunner(lambda r: r.digest in reproduce, 4,
                           duration=lambda r: 100.0 if r.digest == "X" else 10.0)
    problem = Problem(list(ch.values()), resolve, runner, sim.MemoryJournal(), clock=runner.clock)
    search(problem, Probe())
    assert "G" not in runner.tested  # asked for only if X had passed (1 in 6): never built
    assert sorted(runner.tested) == ["AB", "AC", "AD", "AE", "X", "Y", "Z"]
    assert runner.killed == 0 and problem.stats.ahead_used == 2  # Y and Z, finished ahead
    assert runner.clock.now == 110.0  # X started as the first batch ended; Y and Z were ready
