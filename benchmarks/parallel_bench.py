#!/usr/bin/env python3
"""What W workers buy: wall time, builds, speedup and efficiency for W = 1, 2, 4, 8, 16.

Problems are synthetic failures over real change sets: a fresh `make randconfig` of a kernel
tree (Linux 6.1 by default) against tinyconfig or defconfig, diffed and resolved by the Kconfig
layer, with k culprit changes drawn at random (a config reproduces when every culprit has its
bad value in the resolved config); ``--synthetic`` adds the toy change sets of
:mod:`ltobisect.testing.simulate`. Seeds are fresh each run (printed; ``--seed`` repeats one).

Each problem is minimized with the default pipeline through the real gate, once per W, on the
simulated runner: a worker takes the next build the moment it is free (builds proposed ahead
included, :mod:`ltobisect.speculate`), and a build costs what a kernel build would: it grows
with what the config builds (the bad config 100 s, the baseline 45 % of it) times a
log-normal spread drawn per config (``--sigma``, 0.3 by default: a third of the builds
are more than 30 % off the trend). Printed per W, as medians over the problems: wall time,
builds, speedup and builds against W = 1, efficiency (the share of worker time spent
building), the builds started ahead (finished, used by the search, killed as moot), and how
many results have W = 1's size.

``--real SECONDS`` measures the same on this machine's real executor instead (threads, the
journal on disk, Kconfig resolving in the calling thread): a stand-in build sleeps its cost
scaled to a mean of SECONDS, no CPU. Only W = 1 and 4 by default (it takes real minutes).

    python3 benchmarks/parallel_bench.py                       # 6 problems on Linux 6.1
    python3 benchmarks/parallel_bench.py --problems 12 --ks 3,5 --compare
    python3 benchmarks/parallel_bench.py --synthetic-only      # no kernel tree
    python3 benchmarks/parallel_bench.py --real 3 --problems 2 --workers 1,4
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ltobisect.costs import weight
from ltobisect.model import Outcome, Resolved, Verdict
from ltobisect.testing import simulate as sim
from ltobisect.testing.simulate import config_values

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategy_bench import CachedResolve, ChangeSet, real_sets, synthetic  # noqa: E402

DEFAULT_TREE = Path("/var/cache/ltobisect/linux-source-6.1")


@dataclass
class Problem:
    name: str
    changes: ChangeSet
    culprits: tuple
    seconds: Callable[[Resolved], float]

    def predicate(self) -> Callable[[Resolved], bool]:
        wanted = {c.name: c.value for c in self.culprits}

        def reproduces(r: Resolved) -> bool:
            values = config_values(r.config_text)
            return all(values.get(k) == v for k, v in wanted.items())

        return reproduces


def costs(lightest: Resolved, heaviest: Resolved, seed: str, sigma: float,
          weigh: Callable[[Resolved], float]) -> Callable[[Resolved], float]:
    """A build's simulated seconds: 45..100 s by what it builds, times a log-normal spread."""
    lo, hi = weigh(lightest), weigh(heaviest)

    def seconds(r: Resolved) -> float:
        at = (weigh(r) - lo) / (hi - lo) if hi > lo else 1.0
        u = int(hashlib.sha256((seed + r.digest).encode()).hexdigest()[:12], 16) / 16**12
        z = statistics.NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
        return sim.BUILD_SECONDS * (0.45 + 0.55 * min(1.0, max(0.0, at))) * math.exp(sigma * z - sigma**2 / 2)

    return seconds


def draw(sets: Sequence[ChangeSet], count: int, ks: Sequence[int], rng: random.Random,
         sigma: float, weighs: Dict[str, Callable[[Resolved], float]]) -> List[Problem]:
    out = []
    for i in range(count):
        cs = sets[i % len(sets)]
        k = rng.choice(list(ks))
        culprits = tuple(sorted(rng.sample(list(cs.usable), k)))
        cs.watch.update(c.name for c in culprits)
        seed = f"{rng.random():.12f}"
        weigh = weighs[cs.name]
        lo, hi = cs.resolve(frozenset()), cs.resolve(frozenset(cs.changes))
        out.append(Problem(f"{cs.name} k={k}", cs, culprits, costs(lo, hi, seed, sigma, weigh)))
    return out


# -- the real executor, with a stand-in build ------------------------------------------------
class SleepOracle:
    """A stand-in kernel build: sleeps its cost (no CPU), reproduces by the predicate."""

    signature = None

    def __init__(self, reproduces: Callable[[Resolved], bool], seconds: Callable[[Resolved], float],
                 scale: float) -> None:
        self.reproduces = reproduces
        self.seconds = seconds
        self.scale = scale
        self._cancel: Dict[int, threading.Event] = {}
        self._closed = threading.Event()

    def fingerprint(self) -> str:
        return "sleep"

    def observe(self, r: Resolved, slot: int) -> Outcome:
        return self.test(r, slot)

    def test(self, r: Resolved, slot: int) -> Outcome:
        stop = self._cancel[slot] = threading.Event()
        t = self.seconds(r) * self.scale
        if stop.wait(t) or self._closed.is_set():
            return Outcome(Verdict.INFRA_ERROR, detail="killed")
        v = Verdict.REPRODUCES if self.reproduces(r) else Verdict.PASSES
        return Outcome(v, duration=t)

    def cancel(self, slot: int) -> None:
        ev = self._cancel.get(slot)
        if ev is not None:
            ev.set()

    def close(self) -> None:
        self._closed.set()
        for ev in list(self._cancel.values()):
            ev.set()

    def with_signature(self, sig): return self
    def with_timeout(self, seconds): return self
    def with_targets(self, targets): return self
    def targets(self): return []
    def build_key(self): return ""
    def rejudge(self, outcome): return None
    def roots(self, slot): return []


def run_real(p: Problem, workers: int, scale: float, speculate: bool) -> sim.SimRun:
    from ltobisect.executor import LocalExecutor
    from ltobisect.problem import Problem as Gate
    from ltobisect.speculate import search
    from ltobisect.store.journal import Journal
    from ltobisect.strategies import get

    oracle = SleepOracle(p.predicate(), p.seconds, scale)
    ex = LocalExecutor(oracle, workers)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        gate = Gate(p.changes.changes, p.changes.resolve, ex, Journal(Path(tmp) / "journal.jsonl"),
                    structure=p.changes.structure, seed=1)
        gate.consider_many([frozenset(p.changes.changes), frozenset()])
        t0, tests0, spent0 = time.monotonic(), gate.stats.tests, gate.stats.build_seconds
        strategy = get("default")
        if speculate:
            search(gate, strategy)
        else:
            strategy.run(gate)
        wall = time.monotonic() - t0
        ex.close()
    st = gate.stats
    return sim.SimRun(st.tests - tests0, len(gate.best), wall, 0.0,
                      build_seconds=st.build_seconds - spent0, busy=st.build_seconds - spent0,
                      ahead=st.ahead, used=st.ahead_used, killed=st.ahead_killed, workers=workers)


# -- report ----------------------------------------------------------------------------------
def table(title: str, ws: Sequence[int], runs: Dict[int, List[sim.SimRun]]) -> Dict[int, float]:
    print(f"\n{title}")
    head = (f"{'W':>3} {'wall':>8} {'builds':>7} {'speedup':>8} {'builds/W1':>9} {'effic.':>7} "
            f"{'ahead':>6} {'used':>5} {'killed':>6} {'same size':>9}")
    print(head)
    print("-" * len(head))
    speed = {}
    base = runs[ws[0]]
    for w in ws:
        mine = runs[w]
        sp = statistics.median(b.wall / r.wall for b, r in zip(base, mine))
        tr = statistics.median(r.tests / b.tests for b, r in zip(base, mine))
        same = sum(r.size == b.size for b, r in zip(base, mine))
        speed[w] = sp
        print(f"{w:>3} {statistics.median(r.wall for r in mine) / 60:>7.1f}m "
              f"{statistics.median(r.tests for r in mine):>7.0f} {sp:>8.2f} {tr:>9.2f} "
              f"{statistics.median(r.efficiency for r in mine):>7.2f} "
              f"{sum(r.ahead for r in mine):>6} {sum(r.used for r in mine):>5} "
              f"{sum(r.killed for r in mine):>6} {same:>5}/{len(mine)}")
    for w in ws:
        for i, (b, r) in enumerate(zip(base, runs[w])):
            if r.size != b.size:
                print(f"  W={w}, problem {i + 1}: {r.size} changes where W={ws[0]} gave {b.size}")
    return speed


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    ap.add_argument("--synthetic", action="store_true", help="add the toy change sets")
    ap.add_argument("--synthetic-only", action="store_true", help="no kernel tree needed")
    ap.add_argument("--problems", type=int, default=6)
    ap.add_argument("--ks", default="2,3,4,5", help="culprit counts to draw from")
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--sigma", type=float, default=0.3, help="log-normal spread of build costs")
    ap.add_argument("--seed", help="repeat a run's draw (default: a fresh one, printed)")
    ap.add_argument("--compare", action="store_true", help="also without speculation (before)")
    ap.add_argument("--no-speculate", action="store_true", help="only without speculation")
    ap.add_argument("--real", type=float, metavar="SECONDS",
                    help="the real executor, stand-in builds of SECONDS on average")
    ap.add_argument("--work", type=Path, help="keep randconfigs and probe answers here")
    args = ap.parse_args(argv)
    seed = args.seed or os.urandom(6).hex()
    rng = random.Random(seed)
    ws = [int(w) for w in args.workers.split(",")]
    if args.real and args.workers == ap.get_default("workers"):
        ws = [1, 4]  # real minutes per run
    ks = [int(k) for k in args.ks.split(",")]
    print(f"# seed {seed}  (--seed {seed} repeats this draw)")

    sets: List[ChangeSet] = []
    weighs: Dict[str, Callable[[Resolved], float]] = {}
    if args.synthetic or args.synthetic_only:
        for n in (1000, 3000):
            cs = synthetic(n, rng.randrange(1 << 30))
            sets.append(cs)
            weighs[cs.name] = lambda r: float(sum(v != "n" for v in config_values(r.config_text).values()))
    if not args.synthetic_only:
        if not (args.tree / "Makefile").is_file():
            print(f"no kernel tree at {args.tree}: use --synthetic-only", file=sys.stderr)
            return 1
        work = args.work or Path(tempfile.mkdtemp(prefix="ltobisect-parallel-"))
        seeds = [rng.randrange(1, 1 << 20) for _ in range(2)]
        for cs in real_sets(args.tree, ["x86_64"], ["tinyconfig", "defconfig"], seeds, work):
            weighed = Weighed(cs.resolve._resolve, cs.watch)  # type: ignore[attr-defined]
            cs.resolve = weighed
            sets.append(cs)
            weighs[cs.name] = weighed.weight
    problems = draw(sets, args.problems, ks, rng, args.sigma, weighs)
    for p in problems:
        print(f"# {p.name}: {len(p.changes.changes)} changes, culprits "
              + " ".join(c.name for c in p.culprits))

    modes = [False] if args.no_speculate else ([False, True] if args.compare else [True])
    for speculate in modes:
        runs: Dict[int, List[sim.SimRun]] = {w: [] for w in ws}
        cpu = time.process_time()
        for p in problems:
            for w in ws:
                if args.real:  # scaled so that the bad config's build takes SECONDS
                    heaviest = p.seconds(p.changes.resolve(frozenset(p.changes.changes)))
                    r = run_real(p, w, args.real / max(heaviest, 1e-9), speculate)
                else:
                    r = sim.run_strategy("default", p.changes.changes, p.changes.resolve,
                                         p.changes.structure, p.predicate(), w, duration=p.seconds,
                                         label=p.name, speculate=speculate)
                runs[w].append(r)
        label = ("with speculation" if speculate else "without speculation (before)")
        where = f"real executor, builds of ~{args.real:g} s" if args.real else "simulated"
        speed = table(f"{where}, {label}, {len(problems)} problems "
                      f"(our CPU {time.process_time() - cpu:.0f} s)", ws, runs)
        goals = [(4, 2.5), (8, 4.0)]
        for w, want in goals:
            if w in speed:
                tr = statistics.median(r.tests / b.tests for b, r in zip(runs[ws[0]], runs[w]))
                ok = speed[w] >= want and tr <= 1.5
                print(f"  goal W={w}: speedup >= {want} with builds <= 1.5x W=1: "
                      f"{speed[w]:.2f}, {tr:.2f}x  {'ok' if ok else 'MISSED'}")
    return 0


class Weighed(CachedResolve):
    """The Kconfig layer's resolver, memoized, keeping the watched symbols' values and each
    config's weight (its options set to y or m: what its build costs)."""

    def __init__(self, resolve: Callable, watch: set) -> None:
        super().__init__(resolve, watch)
        self._weights: Dict[str, float] = {}

    def _saw(self, r: Resolved) -> None:
        self._weights[r.digest] = float(weight(r.config_text))

    def weight(self, r: Resolved) -> float:
        return self._weights[r.digest]


if __name__ == "__main__":
    sys.exit(main())
