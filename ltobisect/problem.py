"""The one gate every candidate goes through: resolve, deduplicate, test, record, adopt.

Strategies see a :class:`Problem` and nothing else. Its collaborators (the Kconfig resolver, the
executor that runs tests, the journal that records them) are handed in as small protocols, so this
module imports none of them and a strategy can be exercised with pure-Python fakes.

Rules the gate guarantees (strategies may rely on them):

- Every candidate is resolved before it is tested; candidates whose resolved configs have the same
  digest are the same test and are built at most once (journal and in-memory cache).
- A candidate whose requested changes did not all take effect is normalized to the changes that
  did, when that resolves to the same config: it costs nothing and makes the result smaller.
- Every finished test is recorded (journal append, fsync'd) before any verdict is returned.
- Only ``REPRODUCES`` is interesting. A reproducing candidate smaller than the best becomes the
  new best at once, and ``on_best`` is called (the session writes it to disk).
- Limits and stop requests (one :class:`~ltobisect.limits.StopCondition`: deadline, max builds,
  stall, the idle guard, Ctrl-C) raise :class:`~ltobisect.errors.Stopped` carrying the best.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import AbstractSet, Callable, Dict, FrozenSet, Iterable, List, Optional, Protocol, Sequence, Tuple

from ltobisect.config import Limits
from ltobisect.costs import CostModel
from ltobisect.errors import InfraError
from ltobisect.limits import StopCondition
from ltobisect.events import BestImproved, CacheHit, Message, NullReporter, Reporter, StrategyStarted
from ltobisect.model import Candidate, Change, Outcome, Resolved, Structure, Verdict, ordered


class Resolve(Protocol):
    """Applies a candidate to the baseline and lets Kconfig settle it."""

    def __call__(self, candidate: Candidate) -> Resolved: ...


class Ahead(Protocol):
    """What idle workers may build while the strategy waits (:mod:`ltobisect.speculate`).

    The runner asks it from the calling thread only: ``next`` when a worker is free and no
    item of the current run waits for one (a config to start, or None), ``wanted`` of each
    build it started ahead whenever a verdict arrived (False: kill it, its outcome is not a
    verdict, and ``dropped`` tells), and ``finished`` when such a build ended, before anything
    else happens.
    """

    def next(self, busy: AbstractSet[str]) -> Optional[Resolved]: ...

    def wanted(self, digest: str) -> bool: ...

    def finished(self, resolved: Resolved, outcome: Outcome) -> None: ...

    def dropped(self, resolved: Resolved) -> None: ...


class Lookahead(Ahead, Protocol):
    """An :class:`Ahead` that follows the strategy through the gate: ``pending`` names the
    builds the strategy now waits for, ``told`` every answer the gate gave it, in order."""

    def pending(self, items: Sequence[Resolved]) -> None: ...

    def told(self, answer: object) -> None: ...


class Runner(Protocol):
    """Runs tests, possibly in parallel (the executor).

    ``run`` tests every item and returns their outcomes in input order. It calls ``on_done`` for
    each item as soon as its test has finished (from the calling thread, one at a time), so the
    caller can record it before anything else happens. Infrastructure errors are retried inside
    the runner; an ``INFRA_ERROR`` outcome means the retries were exhausted.

    With ``ahead``, workers that no item needs build what it proposes; such builds may still
    run when ``run`` returns, and an item of a later run that one of them is building waits for
    it instead of starting again. A run without ``ahead`` first kills the builds still running
    ahead (a run of no items does only that).
    """

    workers: int

    def run(
        self,
        items: Sequence[Resolved],
        on_done: Callable[[int, Resolved, Outcome], None],
        labels: Optional[Sequence[str]] = None,
        *,
        ahead: Optional[Ahead] = None,
    ) -> List[Outcome]: ...


class Record(Protocol):
    """The journal: what was tested and what it gave."""

    def lookup(self, digest: str) -> Optional[Outcome]: ...

    def append(self, resolved: Resolved, outcome: Outcome, label: str = "") -> None: ...


@dataclass
class Stats:
    tests: int = 0  # builds actually run (cache hits excluded)
    cache_hits: int = 0  # candidates answered from the journal
    same_config: int = 0  # candidates that resolved to an already-known config in this run
    normalized: int = 0  # candidates shrunk to their effective changes at no cost
    verdicts: Counter = field(default_factory=Counter)  # Verdict -> count (tests only)
    flaky: List[str] = field(default_factory=list)  # digests that gave two different verdicts
    tests_since_best: int = 0
    build_seconds: float = 0.0
    idle_batches: int = 0  # batches in a row that were answered without a build
    ahead: int = 0  # of ``tests``: builds started ahead by speculation (ltobisect.speculate)
    ahead_used: int = 0  # of those, verdicts the strategy asked for afterwards
    ahead_killed: int = 0  # builds started ahead and killed when no result needed them


class Problem:
    """What a strategy reduces: the changes, the best reproducing candidate, and the gate."""

    def __init__(
        self,
        changes: Sequence[Change],
        resolve: Resolve,
        runner: Runner,
        journal: Record,
        *,
        structure: Optional[Structure] = None,
        stop: Optional[StopCondition] = None,
        limits: Limits = Limits(),
        seed: int = 0,
        reporter: Reporter = NullReporter(),
        best: Optional[Candidate] = None,
        on_best: Optional[Callable[[Candidate, Resolved], None]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``stop`` is the session's stop condition; without one, ``limits`` and ``clock``
        make a condition of this problem's own (strategy tests and benchmarks)."""
        self.changes: Tuple[Change, ...] = ordered(changes)
        self.structure = structure or Structure()
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.stop = stop if stop is not None else StopCondition(limits, clock=clock)
        self._resolve = resolve
        self._runner = runner
        self._journal = journal
        self._reporter = reporter
        self._on_best = on_best
        self._resolved: Dict[Candidate, Resolved] = {}
        self._verdicts: Dict[str, Outcome] = {}
        self.best: Candidate = frozenset(self.changes) if best is None else frozenset(best)
        self.history: List[Candidate] = [self.best]  # every best in order, for backtracking
        self.label = ""  # set by the running strategy; recorded with each test
        #: Changes the failure's log points at, when testing them alone did not reproduce
        #: (:func:`ltobisect.conductor.priors.first_guess`): a strategy may look at them first.
        self.prior: Candidate = frozenset()
        #: Whether removing ``prior`` lost the failure, once a strategy has tried (None: not).
        self.led: Optional[bool] = None
        #: What each build is expected to cost, learnt from the builds so far.
        self.costs = CostModel()
        #: Speculation while a strategy runs (:func:`ltobisect.speculate.search`), else None.
        self.lookahead: Optional[Lookahead] = None
        self._learnt_ahead: set = set()  # digests whose verdict a build started ahead gave

    # -- what strategies use ---------------------------------------------------------------
    def begin(self, strategy: str) -> None:
        """A strategy starts from the current best: its name labels the tests it runs, and
        the reporter is told (the live view names it, ``--json`` has its line)."""
        self.label = strategy
        self._reporter.event(StrategyStarted(strategy=strategy, size=len(self.best),
                                             total=len(self.changes)))

    @property
    def workers(self) -> int:
        """How many candidates a batch should hold to keep every worker busy."""
        return max(1, getattr(self._runner, "workers", 1))

    def consider(self, cand: Iterable[Change]) -> bool:
        """Test one candidate; True when it reproduces the failure."""
        return self.consider_many([cand])[0]

    def consider_many(self, cands: Sequence[Iterable[Change]]) -> List[bool]:
        """Test a batch (in parallel when there are workers); True where it reproduces."""
        return [o.verdict is Verdict.REPRODUCES for o in self.test_many(cands)]

    def test_many(self, cands: Sequence[Iterable[Change]], adopt: bool = True) -> List[Outcome]:
        """Like :meth:`consider_many`, returning the full outcomes. ``adopt=False`` never makes
        a reproducing candidate the best (builds of variants, such as the LTO matrix's)."""
        self.check_limits()
        wanted = [frozenset(c) for c in cands]
        resolved = [self.resolve(c) for c in wanted]
        outcomes: List[Optional[Outcome]] = [None] * len(wanted)
        to_run: Dict[str, Resolved] = {}
        for i, r in enumerate(resolved):
            known = self._known(r)
            if known is not None:
                outcomes[i] = known
            elif r.digest not in to_run:
                to_run[r.digest] = r
        if to_run:
            self.stats.idle_batches = 0
            if self.lookahead is not None and adopt:
                self.lookahead.pending(list(to_run.values()))
            self._run(list(to_run.values()))
        else:
            self.stats.idle_batches += 1  # a strategy going round in circles ends here
            self.check_limits()
        for i, r in enumerate(resolved):
            if outcomes[i] is None:
                outcomes[i] = self._verdicts[r.digest]
        for r, o in zip(resolved, outcomes):
            assert o is not None
            if o.verdict is Verdict.REPRODUCES and adopt:
                self._adopt(r.candidate, r)
        done = [o for o in outcomes if o is not None]
        if self.lookahead is not None and adopt:
            self.lookahead.told(tuple(o.verdict for o in done))
        return done

    def resolve(self, cand: Iterable[Change]) -> Resolved:
        """Resolve (memoized), normalized to the effective changes when that is the same config."""
        cand = frozenset(cand)
        hit = self._resolved.get(cand)
        if hit is not None:
            return hit
        r = self._resolve(cand)
        if r.ineffective:
            eff = r.effective
            r2 = self._resolved.get(eff) or self._resolve(eff)
            self._resolved[eff] = r2
            if r2.digest == r.digest:
                self.stats.normalized += 1
                r = r2
        self._resolved[cand] = r
        return r

    def settings(self, cand: Iterable[Change]) -> FrozenSet[str]:
        """The lines of the config ``cand`` resolves to: what ``Structure.providers`` is keyed
        by. A resolver that keeps only part of each text (a benchmark's, to save memory) gives
        them through a ``settings`` method of its own."""
        own = getattr(self._resolve, "settings", None)
        if own is not None:
            return own(frozenset(cand))
        return frozenset(self.resolve(cand).config_text.splitlines())

    def known(self, cand: Iterable[Change]) -> Optional[Verdict]:
        """The verdict of a candidate if it is already known (no test is run)."""
        o = self._known(self.resolve(cand), count=False)
        if self.lookahead is not None:
            self.lookahead.told(o.verdict if o else None)
        return o.verdict if o else None

    def settle(self, ahead: Ahead) -> None:
        """End of speculation: a build that finished ahead meanwhile is recorded through
        ``ahead``, and every build still running ahead is killed (``ahead`` wants none)."""
        self._runner.run([], lambda *_: None, [], ahead=ahead)

    def verdict_of(self, digest: str) -> Optional[Outcome]:
        """The final outcome of a config this problem knows (or its journal has), else None;
        nothing is counted or reported."""
        o = self._verdicts.get(digest)
        if o is None:
            o = self._journal.lookup(digest)
        return o if o is not None and o.verdict.is_final else None

    def learn_ahead(self, r: Resolved, o: Outcome) -> None:
        """A build started ahead ended: recorded as any test is (journal first), so the
        strategy finds its verdict when it asks. An infrastructure error is no verdict:
        the strategy's own request builds the config again."""
        self.stats.ahead += 1
        self._record(r, o, self.label)
        if o.verdict.is_final:
            self._learnt_ahead.add(r.digest)

    def retest(self, cand: Iterable[Change]) -> Outcome:
        """Test again, bypassing the cache (verification, flake checks); records flakiness."""
        self.check_limits()
        r = self.resolve(cand)
        before = self._verdicts.get(r.digest) or self._journal.lookup(r.digest)
        self._verdicts.pop(r.digest, None)
        self._run([r], force=True)
        after = self._verdicts[r.digest]
        if before is not None and before.verdict is not after.verdict and after.verdict.is_final:
            self.stats.flaky.append(r.digest)
            self._reporter.event(
                Message(
                    "warning",
                    f"flaky: config {r.digest[:12]} ({len(r.candidate)} changes) gave "
                    f"{before.verdict.value}, then {after.verdict.value}",
                )
            )
        if after.verdict is Verdict.REPRODUCES:
            self._adopt(r.candidate, r)
        return after

    def test_resolved(self, items: Sequence[Resolved]) -> List[Outcome]:
        """Build configs resolved for another build than this problem's (another toolchain:
        :mod:`ltobisect.matrix.llvm`), under the runner's current oracle. Their verdicts are
        looked up in and written to the journal (under its current fingerprint) but are never
        this problem's: a config of the same digest keeps its own verdict here."""
        self.check_limits()
        found: Dict[str, Outcome] = {}
        for r in items:
            o = self._journal.lookup(r.digest)
            if o is not None and o.verdict.is_final:
                found[r.digest] = o
                self.stats.cache_hits += 1
        todo = list({r.digest: r for r in items if r.digest not in found}.values())
        if todo:
            found.update(self._run(todo, remember=False))
        return [found[r.digest] for r in items]

    def set_best(self, cand: Candidate) -> None:
        """Replace the best (backtracking after a result failed verification)."""
        self.best = frozenset(cand)
        self.history.append(self.best)

    def check_limits(self) -> None:
        """Raise :class:`~ltobisect.errors.Stopped` (with the best) when the search must end."""
        self.stop.check(self.best, builds=self.stats.tests,
                        builds_since_best=self.stats.tests_since_best,
                        idle_batches=self.stats.idle_batches)

    def elapsed(self) -> float:
        return self.stop.elapsed()

    # -- inside the gate -------------------------------------------------------------------
    def _known(self, r: Resolved, count: bool = True) -> Optional[Outcome]:
        digest = r.digest
        o = self._verdicts.get(digest)
        if o is not None:
            if count:
                self.stats.same_config += 1
                if digest in self._learnt_ahead:
                    self._learnt_ahead.discard(digest)
                    self.stats.ahead_used += 1
            return o
        o = self._journal.lookup(digest)
        if o is not None and o.verdict.is_final:
            self._verdicts[digest] = o
            self.costs.add(r, o.duration)  # a resumed session learns what its builds cost
            if count:
                self.stats.cache_hits += 1
                self._reporter.event(CacheHit(digest=digest, size=len(r.candidate),
                                              verdict=o.verdict))
            return o
        return None

    def _run(self, items: List[Resolved], force: bool = False,
             remember: bool = True) -> Dict[str, Outcome]:
        def done(_i: int, r: Resolved, o: Outcome) -> None:
            self._record(r, o, self.label, remember)

        if len(items) > self.workers:  # more builds than workers: the longest start first
            items = [items[i] for i in self.costs.longest_first(items)]
        if self.lookahead is not None:
            outcomes = self._runner.run(items, done, [self.label] * len(items), ahead=self.lookahead)
        else:
            outcomes = self._runner.run(items, done, [self.label] * len(items))
        for r, o in zip(items, outcomes):
            if o.verdict is Verdict.INFRA_ERROR:
                raise InfraError(
                    f"testing config {r.digest[:12]} failed on our side after retries: {o.detail}"
                )
        return {r.digest: o for r, o in zip(items, outcomes)}

    def _record(self, r: Resolved, o: Outcome, label: str, remember: bool = True) -> None:
        """One finished build: journaled (fsync) before anything can act on its verdict."""
        if o.verdict.is_final:
            self._journal.append(r, o, label)
            if remember:
                self._verdicts[r.digest] = o
                self.costs.add(r, o.duration)
        self.stats.tests += 1
        self.stats.tests_since_best += 1
        self.stats.verdicts[o.verdict] += 1
        self.stats.build_seconds += o.duration

    def _adopt(self, cand: Candidate, r: Resolved) -> None:
        if len(cand) < len(self.best):
            self.best = cand
            self.history.append(cand)
            self.stats.tests_since_best = 0
            lines = tuple(c.line() for c in ordered(cand))
            self._reporter.event(BestImproved(size=len(cand), total=len(self.changes), changes=lines))
            if self._on_best is not None:
                self._on_best(cand, r)
