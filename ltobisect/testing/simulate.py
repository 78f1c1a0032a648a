"""Simulated minimizations: a toy Kconfig, a runner of predicates with simulated build times.

What the strategies are measured and tested on without kernel builds, through the real
:class:`~ltobisect.problem.Problem` gate:

- :class:`SimResolver` plays Kconfig on a toy model. Each change may *need* other changes
  (``needs``): a change whose needs are not all effective in the candidate does not take effect,
  exactly as a symbol with an unmet ``depends on`` stays at its baseline value. So resolving
  ``{A}`` when ``A`` needs ``B`` gives the baseline's digest. Its :meth:`SimResolver.structure`
  gives the transitive ``needs`` (and optional menus) as :class:`~ltobisect.model.Structure`.
- :class:`SimRunner` runs a predicate over resolved configs and follows the ``Runner`` protocol
  (``workers``, ``run(items, on_done, labels)``). It can simulate build durations on a
  :class:`SimClock` (wall time of W parallel workers), inject infrastructure errors (retried
  inside the runner, like the real executor) and flaky verdicts.
- :class:`MemoryJournal` implements ``problem.Record`` in memory.
- :func:`synthetic` draws a change set with dependency chains, :func:`build_seconds` a config's
  build time, and :func:`run_strategy` runs a named strategy on them and counts builds and
  simulated wall time (``benchmarks/strategy_bench.py`` prints these figures).

:func:`conjunction` builds the usual predicate "reproduces iff all these symbols have their bad
values"; :func:`config_values` reads a ``.config`` text.
"""
from __future__ import annotations

import hashlib
import itertools
import random
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ltobisect.costs import CostModel
from ltobisect.model import Candidate, Change, Ineffective, Outcome, Resolved, Structure, Verdict
from ltobisect.problem import Ahead, Problem
from ltobisect.speculate import search
from ltobisect.strategies import get


def config_values(text: str) -> Dict[str, str]:
    """Symbol -> value of a `.config` text (``# CONFIG_X is not set`` gives ``"n"``)."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            name, _, value = line[len("CONFIG_"):].partition("=")
            out[name] = value.strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[len("# CONFIG_"): -len(" is not set")]] = "n"
    return out



class SimResolver:
    """Resolves candidates on a toy Kconfig: changes, baseline values and dependencies.

    ``needs[c]`` are the changes ``c`` directly needs; a change takes effect only when every
    change it needs (transitively) is in the candidate. ``selects[c]`` names symbols outside
    the changes that ``c`` sets to ``y`` when it takes effect, as a Kconfig ``select`` does
    (several changes may select one). ``menus[c]`` is its menu path.
    ``calls`` counts resolutions, so a test can check the gate memoizes them.
    """

    def __init__(
        self,
        all_changes: Sequence[Change],
        needs: Optional[Mapping[Change, Iterable[Change]]] = None,
        menus: Optional[Mapping[Change, Tuple[str, ...]]] = None,
        selects: Optional[Mapping[Change, Iterable[str]]] = None,
    ) -> None:
        self.changes = tuple(all_changes)
        self.selects = {c: tuple(names) for c, names in (selects or {}).items()}
        self.needs: Dict[Change, frozenset] = {c: frozenset(d) for c, d in (needs or {}).items()}
        self.menus = dict(menus or {})
        self.calls = 0
        self._baseline = {c.name: c.baseline_value for c in self.changes}

    def effective(self, cand: Iterable[Change]) -> frozenset:
        """The changes of ``cand`` that take effect (their needs met, transitively)."""
        eff = set(cand)
        while True:
            drop = {c for c in eff if not self.needs.get(c, frozenset()) <= eff}
            if not drop:
                return frozenset(eff)
            eff -= drop

    def __call__(self, cand: Candidate) -> Resolved:
        self.calls += 1
        cand = frozenset(cand)
        eff = self.effective(cand)
        values = dict(self._baseline)
        for c in eff:
            values[c.name] = c.value
        for c in eff:
            for name in self.selects.get(c, ()):
                values[name] = "y"
        text = "".join(
            (f"# CONFIG_{k} is not set\n" if v == "n" else f"CONFIG_{k}={v}\n")
            for k, v in sorted(values.items())
        )
        ineffective = tuple(
            Ineffective(
                c,
                actual=c.baseline_value,
                reason="unmet dependency: " + ", ".join(sorted(d.name for d in self.needs[c] - eff)),
            )
            for c in sorted(cand - eff)
        )
        digest = hashlib.sha256(text.encode()).hexdigest()
        return Resolved(candidate=cand, config_text=text, digest=digest, ineffective=ineffective)

    def closure(self, c: Change) -> frozenset:
        """Everything ``c`` needs, transitively, without ``c``."""
        out: set = set()
        todo = list(self.needs.get(c, ()))
        while todo:
            d = todo.pop()
            if d not in out:
                out.add(d)
                todo.extend(self.needs.get(d, ()))
        out.discard(c)
        return frozenset(out)

    def structure(self) -> Structure:
        """What the Kconfig layer would tell strategies: transitive needs, menus, and the
        changes that can bring about each setting (a change its own, a selected symbol's
        ``y`` by any of its selectors)."""
        providers: Dict[str, set] = {}
        for c in self.changes:
            if c.value != "n":
                providers.setdefault(f"CONFIG_{c.name}={c.value}", set()).add(c)  # as __call__ writes
            for name in self.selects.get(c, ()):
                providers.setdefault(f"CONFIG_{name}=y", set()).add(c)
        return Structure(
            needs={c: self.closure(c) for c in self.changes if self.closure(c)},
            menu=dict(self.menus),
            providers={line: frozenset(cs) for line, cs in providers.items()},
        )


class SimClock:
    """Simulated wall time: the runner advances it from one build's end to the next."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Predicate = Callable[[Resolved], Union[bool, Verdict]]


def conjunction(bad: Mapping[str, str]) -> Predicate:
    """Reproduces iff every ``symbol: value`` of ``bad`` holds in the resolved config."""
    wanted = dict(bad)

    def predicate(r: Resolved) -> bool:
        values = config_values(r.config_text)
        return all(values.get(k, "n") == v for k, v in wanted.items())

    return predicate


class SimRunner:
    """Runs ``predicate`` on each resolved config, following the executor's ``Runner`` protocol.

    - ``workers``: how many tests may run at once on simulated workers; a worker takes the next
      item the moment it is free, and ``clock`` advances from one build's end to the next.
      Builds proposed ahead (``run(..., ahead=)``) fill free workers and may go on into the
      next run, as the executor's do; ``busy_seconds``, ``ahead_seconds``, ``started_ahead``
      and ``killed`` account for them.
    - ``duration``: seconds one test takes, a number or a function of the resolved config.
    - ``infra_failures``: a function ``(resolved, attempt) -> bool`` saying whether that attempt
      fails on our side; each item is retried up to ``attempts`` times, then reported as
      ``INFRA_ERROR`` (as the real executor does after its retry policy gives up).
    - ``flaky``: probability that a test's verdict is flipped (REPRODUCES <-> PASSES), drawn from
      a ``random.Random(seed)``, to exercise verification and flake handling.

    ``batches`` keeps the sizes of the batches it was given; ``tested`` every digest it ran,
    in the order the builds started.
    """

    def __init__(
        self,
        predicate: Predicate,
        workers: int = 1,
        *,
        duration: Union[float, Callable[[Resolved], float]] = 0.0,
        clock: Optional[SimClock] = None,
        infra_failures: Optional[Callable[[Resolved, int], bool]] = None,
        attempts: int = 3,
        flaky: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.predicate = predicate
        self.workers = workers
        self.duration = duration
        self.clock = clock or SimClock()
        self.infra_failures = infra_failures
        self.attempts = attempts
        self.flaky = flaky
        self.rng = random.Random(seed)
        self.batches: List[int] = []
        self.tested: List[str] = []
        self.busy_seconds = 0.0  # worker time spent building (killed builds included)
        self.ahead_seconds = 0.0  # of which on builds started ahead
        self.started_ahead = 0
        self.killed = 0  # builds started ahead and killed as moot
        self.promoted = 0  # builds started ahead that a run asked for while they ran
        self._flying: Dict[str, _Flight] = {}  # builds started ahead, by digest
        self._required: List[_Flight] = []  # builds of the current run's items
        self._seq = itertools.count()

    def _duration(self, r: Resolved) -> float:
        return self.duration(r) if callable(self.duration) else float(self.duration)

    def _outcome(self, r: Resolved) -> Outcome:
        seconds = self._duration(r)
        for attempt in range(1, self.attempts + 1):
            if self.infra_failures is None or not self.infra_failures(r, attempt):
                break
        else:
            return Outcome(Verdict.INFRA_ERROR, duration=seconds, detail="injected infra error")
        got = self.predicate(r)
        verdict = got if isinstance(got, Verdict) else (Verdict.REPRODUCES if got else Verdict.PASSES)
        if self.flaky and verdict in (Verdict.REPRODUCES, Verdict.PASSES) and self.rng.random() < self.flaky:
            verdict = Verdict.PASSES if verdict is Verdict.REPRODUCES else Verdict.REPRODUCES
        return Outcome(verdict, duration=seconds)

    def run(
        self,
        items: Sequence[Resolved],
        on_done: Callable[[int, Resolved, Outcome], None],
        labels: Optional[Sequence[str]] = None,
        *,
        ahead: Optional[Ahead] = None,
    ) -> List[Outcome]:
        """Event by event on the simulated clock: a worker takes the next item as soon as it
        is free, then what ``ahead`` proposes; the run returns when its items are done, and
        builds started ahead go on into the next run (see the ``Runner`` protocol)."""
        if items:
            self.batches.append(len(items))
        for f in list(self._flying.values()):
            if ahead is None or not ahead.wanted(f.resolved.digest):
                self._kill(f, ahead)
        outcomes: List[Optional[Outcome]] = [None] * len(items)
        queue: List[int] = []
        for i, r in enumerate(items):
            f = self._flying.get(r.digest)
            if f is not None and f.index is None:
                f.index = i  # started ahead: this run waits for it
                self.promoted += 1
            else:
                queue.append(i)
        pending = len(items)
        while True:
            while queue and len(self._flying) + len(self._required) < self.workers:
                i = queue.pop(0)
                self._start(items[i], i)
            while ahead is not None and len(self._flying) + len(self._required) < self.workers:
                r = ahead.next(frozenset(self._flying) | {f.resolved.digest for f in self._required})
                if r is None:
                    break
                self._start(r, None)
            if not pending:
                break
            f = min(list(self._flying.values()) + self._required, key=lambda x: (x.end, x.seq))
            self.clock.now = max(self.clock.now, f.end)
            self._land(f)
            self.busy_seconds += f.outcome.duration
            if f.index is not None:
                outcomes[f.index] = f.outcome
                on_done(f.index, f.resolved, f.outcome)
                pending -= 1
            else:
                self.ahead_seconds += f.outcome.duration
                if ahead is not None:
                    ahead.finished(f.resolved, f.outcome)
            if ahead is not None:
                for g in list(self._flying.values()):
                    if g.index is None and not ahead.wanted(g.resolved.digest):
                        self._kill(g, ahead)
        return [o for o in outcomes if o is not None]

    # -- the simulated workers ---------------------------------------------------------------
    def _start(self, r: Resolved, index: Optional[int]) -> None:
        o = self._outcome(r)
        f = _Flight(r, index, self.clock.now, self.clock.now + o.duration, o, next(self._seq))
        self.tested.append(r.digest)  # in the order builds start
        if index is None:
            self.started_ahead += 1
            self._flying[r.digest] = f
        else:
            self._required.append(f)

    def _land(self, f: "_Flight") -> None:
        if f in self._required:
            self._required.remove(f)
        elif self._flying.get(f.resolved.digest) is f:
            del self._flying[f.resolved.digest]

    def _kill(self, f: "_Flight", ahead: Optional[Ahead]) -> None:
        """A build started ahead that no result needs: its worker is free now."""
        del self._flying[f.resolved.digest]
        # Killed, it ran no test: it leaves the list of tests (its latest start).
        del self.tested[max(i for i, d in enumerate(self.tested) if d == f.resolved.digest)]
        spent = self.clock.now - f.start
        self.busy_seconds += spent
        self.ahead_seconds += spent
        self.killed += 1
        if ahead is not None:
            ahead.dropped(f.resolved)


@dataclass(eq=False)
class _Flight:
    """A simulated build: what, for which item (None: started ahead), when, what it gives."""

    resolved: Resolved
    index: Optional[int]
    start: float
    end: float
    outcome: Outcome
    seq: int


@dataclass
class MemoryJournal:
    """The journal (``problem.Record``) in memory: digest -> last final outcome."""

    entries: List[Tuple[Resolved, Outcome, str]] = field(default_factory=list)
    _by_digest: Dict[str, Outcome] = field(default_factory=dict)

    def lookup(self, digest: str) -> Optional[Outcome]:
        return self._by_digest.get(digest)

    def append(self, resolved: Resolved, outcome: Outcome, label: str = "") -> None:
        self.entries.append((resolved, outcome, label))
        if outcome.verdict.is_final:
            self._by_digest[resolved.digest] = outcome

    def history(self, digest: str) -> List[SimpleNamespace]:
        """Every record of one digest, oldest first (as ``Journal.history``)."""
        return [SimpleNamespace(outcome=o, label=label)
                for r, o, label in self.entries if r.digest == digest]


# -- synthetic change sets and strategy runs ---------------------------------------------------
#: Mean simulated build time in seconds (each config's time is drawn within +-25 % of it).
BUILD_SECONDS = 100.0


def synthetic(n: int, seed: int) -> Tuple[List[Change], SimResolver]:
    """``n`` changes ``S00000``..; a third need one or two earlier changes (chains), some turn
    options off; menus of 25 changes. Returns the changes and the resolver of their toy Kconfig."""
    rng = random.Random(seed)
    chs = [
        Change(f"S{i:05d}", "n", "bool", "y") if rng.random() < 0.15 else Change(f"S{i:05d}", "y")
        for i in range(n)
    ]
    needs: Dict[Change, List[Change]] = {}
    for i, c in enumerate(chs):
        if i > 10 and rng.random() < 0.33:
            needs[c] = rng.sample(chs[max(0, i - 50): i], rng.choice((1, 1, 2)))
    menus = {c: ("menu", str(i // 25)) for i, c in enumerate(chs)}
    return chs, SimResolver(chs, needs, menus)


def build_seconds(r: Resolved, seed: str = "") -> float:
    """A config's simulated build time: 100 s +-25 %, drawn from its digest (and ``seed``)."""
    u = int(hashlib.sha256((seed + r.digest).encode()).hexdigest()[:8], 16) / 2**32
    return BUILD_SECONDS * (0.75 + 0.5 * u)


def weighted_seconds(lightest: Resolved, heaviest: Resolved, seed: str = "",
                     share: float = 0.45) -> Callable[[Resolved], float]:
    """Simulated build times that grow with what the config builds, as a kernel's do.

    The heaviest config (the bad one) takes :data:`BUILD_SECONDS`, the lightest (the baseline)
    ``share`` of it, and a config in between is placed by its weight (options set to y or m,
    :func:`ltobisect.costs.weight`); each draw is then +-25 % from the config's digest and
    ``seed``. The default share is a measurement: Linux 6.1 with full LTO, tinyconfig 5 min
    against 11 for a randconfig of 222 changes.
    """
    from ltobisect.costs import weight

    lo, hi = weight(lightest.config_text), weight(heaviest.config_text)

    def seconds(r: Resolved) -> float:
        at = (weight(r.config_text) - lo) / (hi - lo) if hi > lo else 1.0
        return build_seconds(r, seed) * (share + (1.0 - share) * min(1.0, max(0.0, at)))

    return seconds


@dataclass
class SimRun:
    """What one strategy run on a simulated problem cost and gave."""

    tests: int
    size: int
    wall: float
    seconds: float  # our own CPU time, for the curious
    free: int = 0  # changes of the result that no other change of it needs (per Structure)
    build_seconds: float = 0.0  # the builds' simulated seconds, summed (what a farm pays)
    busy: float = 0.0  # worker seconds spent building, killed builds included
    ahead: int = 0  # builds started ahead that ran to their end (counted in ``tests``)
    used: int = 0  # of those, verdicts the strategy asked for
    killed: int = 0  # builds started ahead and killed when moot (not in ``tests``)
    workers: int = 1
    best: Candidate = frozenset()

    @property
    def efficiency(self) -> float:
        """The share of the workers' time spent building (1.0: no worker ever idled)."""
        return self.busy / (self.workers * self.wall) if self.wall else 1.0


def run_strategy(
    strategy: str,
    all_changes: Sequence[Change],
    resolve: Callable[[Candidate], Resolved],
    structure: Structure,
    predicate: Callable[[Resolved], bool],
    workers: int,
    duration: Callable[[Resolved], float] = build_seconds,
    label: str = "",
    guess: Candidate = frozenset(),
    lead: bool = True,
    costs: bool = True,
    speculate: bool = True,
) -> SimRun:
    """Run ``strategy`` through the real Problem gate on a simulated runner.

    As a session does before any strategy runs, the bad config and the baseline are built
    first (confirming the failure); their verdicts are known to the strategy and not counted.
    A ``guess`` (what a log points at) is then tested first and counted, as the session's
    :func:`ltobisect.conductor.priors.first_guess` does; when it does not reproduce it becomes the
    strategy's ``problem.prior`` unless ``lead`` is False. ``costs=False`` keeps the gate's
    cost model ignorant (the search as it was before it learnt build times); ``speculate=False``
    leaves idle workers idle (:mod:`ltobisect.speculate`).
    Raises AssertionError when the result does not reproduce (``label`` names the problem).
    """
    clock = SimClock()
    runner = SimRunner(predicate, workers, duration=duration, clock=clock)
    problem = Problem(all_changes, resolve, runner, MemoryJournal(), structure=structure,
                      seed=1, clock=clock)
    if not costs:
        problem.costs = CostModel(learn=False)
    problem.consider_many([frozenset(all_changes), frozenset()])
    tests0, wall0, spent0 = problem.stats.tests, clock(), problem.stats.build_seconds
    busy0 = runner.busy_seconds
    t = time.process_time()
    if guess and not problem.consider(guess) and lead:
        problem.prior = frozenset(guess)
    chosen = get(strategy)
    if speculate:
        search(problem, chosen)
    else:
        chosen.run(problem)
    seconds = time.process_time() - t
    if not predicate(resolve(problem.best)):
        raise AssertionError(f"{strategy} on {label or 'the problem'}: result does not reproduce")
    implied: set = set()
    for c in problem.best:
        implied |= structure.needs.get(c, frozenset())
    free = len(problem.best - implied)
    return SimRun(problem.stats.tests - tests0, len(problem.best), clock() - wall0, seconds, free,
                  problem.stats.build_seconds - spent0, busy=runner.busy_seconds - busy0,
                  ahead=problem.stats.ahead, used=problem.stats.ahead_used,
                  killed=problem.stats.ahead_killed, workers=workers, best=problem.best)
