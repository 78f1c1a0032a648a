"""Speculation: while a strategy waits for builds, idle workers build what it will ask next.

A strategy asks the gate for a batch of builds and waits for all of them. With W workers, some
finish early (a smaller config builds faster) and their workers would idle until the slowest
one ends; the last rounds of a search and the closing one-at-a-time pass often hold fewer
builds than workers. Speculation fills those workers with the builds the strategy is most
likely to ask for next, so that when it asks, their verdicts are known or nearly so.

How the next requests are known without guessing the strategy's logic: a strategy is
deterministic given its seed and the answers it was given (the package rules of
:mod:`ltobisect.strategies`). The :class:`Speculator` keeps every answer the gate gave it, in
order, and replays a fresh copy of the strategy (a deep copy taken when it started) on a
:class:`Shadow` of the problem: the recorded answers first, then, for the builds still
running, a *hypothesis* of their verdicts, and the known verdicts of the rest. Where the
replay asks for a config whose verdict is not known, its request is the strategy's next one
under that hypothesis (the *frontier*). Hypotheses are explored most likely first (each
running build reproduces with the rate seen so far), one level deeper when the first level's
frontiers are already being built, within a budget of replays; a config scores the summed
probability of the hypotheses whose frontier holds it. Idle workers take the best-scoring
configs that are more likely asked than not (a score of at least :data:`LIKELY`); a running
build that no hypothesis still consistent with the verdicts wants is killed (cancel = kill),
and its outcome is not a verdict.

What it guarantees: the strategy's own requests and deductions are unchanged: it asks the
same batches and reads the same verdicts (a build started ahead is recorded as any build is,
journal first, and found by the gate like a cached one), so the search's rules, its
1-minimality and its result hold as without speculation; only the wall time and the builds
spent ahead change. With one worker nothing is ever started ahead.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import random
import time
from contextlib import contextmanager
from typing import AbstractSet, Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from ltobisect.errors import Stopped
from ltobisect.model import Candidate, Outcome, Resolved, Verdict
from ltobisect.problem import Problem

#: Replays per new state (a verdict arrived, the strategy asked): each costs a run of the
#: strategy's logic from its start, no build, in the calling thread. One per worker, at most
#: eight: four times as many bought no more wall time in the parallel benchmark (the likeliest
#: hypotheses come first) for four times the CPU.
REPLAYS_PER_WORKER = 1
MAX_REPLAYS = 8

#: Replays run in the calling thread, between a verdict and the strategy's next request: they
#: may cost at most this share of the build time spent so far. Past it, nothing new starts
#: ahead (what runs keeps running) until the builds have caught up. With stand-in builds of
#: 2 s over Linux 6.1's Kconfig, unbounded replays made 4 workers slower than one; with kernel
#: builds of minutes the share is never reached.
CPU_SHARE = 0.02

#: A config is started ahead only when its score (the summed probability of the hypotheses
#: explored that ask for it, a lower bound of the chance that it is asked) is at least this:
#: more likely asked than not. A build started ahead that is asked saves the wait for it; one
#: that is never asked costs a build the search did not need, so at one half builds ahead are
#: expected to be asked at least as often as they are wasted. Before this rule every config
#: any hypothesis explored asked for was started; in a round of bisect's codes each test is
#: close to a coin toss, and most builds that finished ahead were never asked (61 of 69 at
#: W = 8 on four Linux 6.1 problems; benchmarks/README.md has the figures either way).
LIKELY = 0.5

#: Hypotheses over one batch of unknown verdicts, most likely first: the likeliest assignment,
#: then those with one verdict flipped, then two (a batch of m gives 1 + m + m(m-1)/2).
MAX_FLIPS = 2


class _Frontier(Exception):
    """The replay asked for builds whose verdicts nobody knows: its next request."""

    def __init__(self, items: List[Resolved]) -> None:
        super().__init__()
        self.items = items


class _Diverged(Exception):
    """The replay asked something else than the strategy did: no frontier from it."""


class Shadow:
    """What a replayed strategy sees instead of the :class:`~ltobisect.problem.Problem`: the
    same changes, structure, workers and seed; answers from the record, the known verdicts
    and a hypothesis; no build, no event, no limit."""

    def __init__(self, spec: "Speculator", hypothesis: Dict[str, Verdict]) -> None:
        real = spec.problem
        self._spec = spec
        self._hyp = hypothesis
        self._calls = 0
        #: What the replay was told of each config past the record (None: not known): with
        #: the record, all that its course depended on (see ``Speculator._replay``).
        self.seen: Dict[str, Optional[Verdict]] = {}
        self.changes = real.changes
        self.structure = real.structure
        self.workers = real.workers
        self.costs = real.costs
        self.rng = random.Random()
        self.rng.setstate(spec.rng_state)
        self.best, self.prior, self.led, self.label = spec.start

    def begin(self, strategy: str) -> None:
        self.label = strategy

    def resolve(self, cand: Iterable) -> Resolved:
        return self._spec.problem.resolve(cand)

    def settings(self, cand: Iterable) -> FrozenSet[str]:
        return self._spec.problem.settings(cand)

    def known(self, cand: Iterable) -> Optional[Verdict]:
        recorded = self._recorded()
        if recorded is not _NONE:
            if isinstance(recorded, tuple):
                raise _Diverged()
            return recorded  # type: ignore[return-value]
        return self._verdict(self.resolve(cand).digest)

    def consider(self, cand: Iterable) -> bool:
        return self.consider_many([cand])[0]

    def consider_many(self, cands: Sequence[Iterable]) -> List[bool]:
        return [o.verdict is Verdict.REPRODUCES for o in self.test_many(cands)]

    def test_many(self, cands: Sequence[Iterable], adopt: bool = True) -> List[Outcome]:
        resolved = [self.resolve(c) for c in cands]
        recorded = self._recorded()
        if recorded is not _NONE:
            if not isinstance(recorded, tuple) or len(recorded) != len(resolved):
                raise _Diverged()
            verdicts = list(recorded)
        else:
            verdicts = [self._verdict(r.digest) for r in resolved]
            unknown = {r.digest: r for r, v in zip(resolved, verdicts) if v is None}
            if unknown:
                raise _Frontier(list(unknown.values()))
        for r, v in zip(resolved, verdicts):
            if adopt and v is Verdict.REPRODUCES and len(r.candidate) < len(self.best):
                self.best = r.candidate
        return [Outcome(v) for v in verdicts]

    def _recorded(self) -> object:
        """The recorded answer of this call, or ``_NONE`` past the record."""
        at = self._calls
        self._calls += 1
        record = self._spec.transcript
        return record[at] if at < len(record) else _NONE

    def _verdict(self, digest: str) -> Optional[Verdict]:
        self.seen[digest] = v = self._spec.answer(self._hyp, digest)
        return v


_NONE = object()


class Speculator:
    """The :class:`~ltobisect.problem.Lookahead` of one strategy run (see the module docstring).

    ``strategy`` is copied before it runs: the copy is the blueprint of every replay.
    """

    def __init__(self, problem: Problem, strategy: Any, *, replays: Optional[int] = None) -> None:
        self.problem = problem
        # What the strategy keeps of the problem (a cache) is not copied into replays.
        self.blueprint = copy.deepcopy(strategy, {id(problem): None})
        self.start: Tuple[Candidate, Candidate, Optional[bool], str] = (
            problem.best, problem.prior, problem.led, problem.label)
        self.rng_state = problem.rng.getstate()
        self.transcript: List[object] = []
        self.replays_per_state = replays if replays is not None else min(
            MAX_REPLAYS, REPLAYS_PER_WORKER * max(1, problem.workers))
        self.replays = 0  # replays run in all (for the curious: each is CPU, no build)
        # The replays since the record last grew: what each was told, and its frontier.
        self._memo: List[Tuple[Dict[str, Optional[Verdict]], List[Resolved]]] = []
        self._memo_at = -1
        self.cpu = 0.0  # seconds of our CPU the replays took
        self._waiting: List[Resolved] = []
        self._plan: List[Resolved] = []
        self._wanted: set = set()
        self._state: Optional[Tuple[int, int, int]] = None

    # -- what the gate tells -------------------------------------------------------------------
    def pending(self, items: Sequence[Resolved]) -> None:
        self._waiting = list(items)

    def told(self, answer: object) -> None:
        self.transcript.append(answer)
        if isinstance(answer, tuple):
            self._waiting = []

    # -- what the runner asks ------------------------------------------------------------------
    def next(self, busy: AbstractSet[str]) -> Optional[Resolved]:
        """The best-scoring config nobody builds and nobody knows, or None."""
        self._refresh()
        for r in self._plan:
            if r.digest not in busy and self.problem.verdict_of(r.digest) is None:
                return r
        return None

    def wanted(self, digest: str) -> bool:
        """Whether a build started ahead may still be asked for."""
        self._refresh()
        return digest in self._wanted or any(r.digest == digest for r in self._waiting)

    def finished(self, resolved: Resolved, outcome: Outcome) -> None:
        self.problem.learn_ahead(resolved, outcome)

    def dropped(self, resolved: Resolved) -> None:
        self.problem.stats.ahead_killed += 1

    # -- planning ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Plan again when something changed: a verdict, an answer, a new request."""
        state = (len(self.transcript), self.problem.stats.tests, len(self._waiting))
        if state == self._state:
            return
        self._state = state
        if self.cpu > CPU_SHARE * self.problem.stats.build_seconds:
            self._plan = []  # over its share: start nothing new, kill nothing for it
            return
        t = time.thread_time()  # this thread's CPU only: the workers' threads are not replays
        self._plan, self._wanted = self._explore()
        self.cpu += time.thread_time() - t

    def rate(self, ended: Sequence[Verdict] = ()) -> float:
        """How often a build of this strategy reproduced so far (Laplace's rule): the batches
        answered, and ``ended``, the verdicts of the batch it waits for that are known."""
        verdicts = [v for answer in self.transcript if isinstance(answer, tuple) for v in answer]
        verdicts += ended
        yes = sum(v is Verdict.REPRODUCES for v in verdicts)
        return (yes + 1) / (len(verdicts) + 2)

    def _explore(self) -> Tuple[List[Resolved], set]:
        """Best-first over hypotheses. Returns the configs likely enough to start, best first,
        and every config some hypothesis asked for (a running build none of them wants is
        killed)."""
        known = [(r, self.problem.verdict_of(r.digest)) for r in self._waiting]
        open_ = [r for r, o in known if o is None]
        p = self.rate([o.verdict for _, o in known if o is not None])
        scores: Dict[str, float] = {}
        configs: Dict[str, Resolved] = {}
        order = itertools.count()
        heap: List[Tuple[float, int, Dict[str, Verdict]]] = []
        for prob, hyp in _assignments(open_, p):
            heapq.heappush(heap, (-prob, next(order), hyp))
        budget = self.replays_per_state
        while heap and budget > 0:
            neg, _, hyp = heapq.heappop(heap)
            budget -= 1
            frontier = self._replay(hyp)
            if not frontier:
                continue
            new = [r for r in frontier if r.digest not in hyp]
            for r in new:
                scores[r.digest] = scores.get(r.digest, 0.0) - neg
                configs[r.digest] = r
            for prob, more in _assignments(new, p):
                heapq.heappush(heap, (neg * prob, next(order), {**hyp, **more}))
        # The likeliest first; among equally likely ones (one hypothesis's request) the most
        # expensive: started early, it is the one that would end its round last.
        costs = self.problem.costs
        score = {d: round(v, 9) for d, v in scores.items()}  # sums of products: equal ones tie
        ranked = sorted(score, key=lambda d: (-score[d], -(costs.expect(configs[d]) or 0.0)))
        return [configs[d] for d in ranked if score[d] >= LIKELY], set(ranked)

    def answer(self, hypothesis: Dict[str, Verdict], digest: str) -> Optional[Verdict]:
        """What a replay under ``hypothesis`` is told of a config past the record."""
        v = hypothesis.get(digest)
        if v is not None:
            return v
        o = self.problem.verdict_of(digest)
        return o.verdict if o is not None else None

    def _recall(self, hypothesis: Dict[str, Verdict]) -> Optional[List[Resolved]]:
        """The frontier of a replay since the record last grew that was told, config by
        config, what a replay under ``hypothesis`` would be; None when there is none."""
        if self._memo_at != len(self.transcript):
            self._memo, self._memo_at = [], len(self.transcript)
        for seen, frontier in self._memo:
            if all(self.answer(hypothesis, d) == v for d, v in seen.items()):
                return frontier
        return None

    def _replay(self, hypothesis: Dict[str, Verdict]) -> List[Resolved]:
        """The strategy's next request under ``hypothesis`` (empty: none, or it diverged).

        A replay's course depends only on the record and on what it is told past it (the
        strategy is deterministic). A replay that would be told, config by config, what an
        earlier one since the record last grew was told reaches the same frontier: it is
        reused, with no run and no resolution. After a verdict that the likeliest hypothesis
        foresaw, that is what most replays of the next plan would do again.
        """
        known = self._recall(hypothesis)
        if known is not None:
            return known
        self.replays += 1
        shadow = Shadow(self, hypothesis)
        try:
            copy.deepcopy(self.blueprint).run(shadow)
        except _Frontier as f:
            self._memo.append((shadow.seen, f.items))
            return f.items
        except Exception:  # a replay that fails is no plan; the real run is not touched
            return []
        self._memo.append((shadow.seen, []))
        return []


def _assignments(items: Sequence[Resolved], p: float) -> Iterator[Tuple[float, Dict[str, Verdict]]]:
    """Verdicts for ``items`` with their probabilities, most likely first, up to
    :data:`MAX_FLIPS` flips from the likeliest (each reproduces with probability ``p``)."""
    if not items:
        yield 1.0, {}
        return
    likely = Verdict.REPRODUCES if p >= 0.5 else Verdict.PASSES
    other = Verdict.PASSES if likely is Verdict.REPRODUCES else Verdict.REPRODUCES
    hi, lo = max(p, 1 - p), min(p, 1 - p)
    digests = list(dict.fromkeys(r.digest for r in items))
    m = len(digests)
    for flips in range(0, min(MAX_FLIPS, m) + 1):
        prob = hi ** (m - flips) * lo ** flips
        for which in itertools.combinations(range(m), flips):
            hyp = {d: likely for d in digests}
            for i in which:
                hyp[digests[i]] = other
            yield prob, hyp


class _Ending:
    """The last word to the runner: nothing is wanted any more; what finished is recorded."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    def next(self, busy: AbstractSet[str]) -> Optional[Resolved]:
        return None

    def wanted(self, digest: str) -> bool:
        return False

    def finished(self, resolved: Resolved, outcome: Outcome) -> None:
        self.problem.learn_ahead(resolved, outcome)

    def dropped(self, resolved: Resolved) -> None:
        self.problem.stats.ahead_killed += 1


@contextmanager
def speculating(problem: Problem, strategy: Any) -> Iterator[Optional[Speculator]]:
    """Within the block, ``strategy.run(problem)`` is speculated on (with more than one
    worker); after it, builds still running ahead are killed and the problem is as before."""
    if problem.workers <= 1 or problem.lookahead is not None:
        yield None
        return
    try:
        spec = Speculator(problem, strategy)
    except Exception:  # a strategy that cannot be copied (it holds a lock...) is not replayed
        yield None
        return
    problem.lookahead = spec
    try:
        yield spec
    finally:
        problem.lookahead = None
        try:
            problem.settle(_Ending(problem))
        except Stopped:
            pass  # stopping kills every build anyway; the stop itself is the caller's


def search(problem: Problem, strategy: Any) -> None:
    """``strategy.run(problem)`` with idle workers building ahead."""
    with speculating(problem, strategy):
        strategy.run(problem)
