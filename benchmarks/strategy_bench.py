#!/usr/bin/env python3
"""How many builds each strategy needs, on synthetic predicates over real kernel change sets.

For each change set (a randconfig of the Linux 6.1 tree against tinyconfig or defconfig, for
x86_64 and arm64, diffed and resolved by ``ltobisect.kconfig``; or a synthetic set with a toy
dependency model), k culprit changes are drawn at random with a fixed seed. The predicate says
"reproduces" when every culprit symbol has its bad value in the *resolved* config (written in
it: ``# CONFIG_X is not set`` counts only where X is visible), so a culprit only counts
together with what it needs, as a real build failure would.

Every strategy runs through the real :class:`~ltobisect.problem.Problem` gate with the simulated
runner of :mod:`ltobisect.testing.simulate` (a simulated build of 100 s +-25 %, by digest). Printed per
case and strategy: n, k (culprits drawn), f (result changes the structure does not imply), r
(result size), tests (distinct builds), the information bound ceil(log2 C(n, f)) + r, the ratio
to it, how many times fewer tests than ddmin and than one-at-a-time, and the simulated wall time
in minutes with W = 1, 2, 4, 8 workers. A summary checks the targets of issue 3 for the default
pipeline. The latest figures are in ``benchmarks/README.md``.

    python3 benchmarks/strategy_bench.py                 # synthetic and real change sets
    python3 benchmarks/strategy_bench.py --quick         # fewer cases, a couple of minutes
    python3 benchmarks/strategy_bench.py --synthetic     # no kernel tree needed
    python3 benchmarks/strategy_bench.py --duration-seed a   # another draw of build times

Resolutions of the real tree are cached per change set (digest and the culprit symbols'
values only); tests are still counted as distinct digests per run.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ltobisect.testing import simulate as sim
from ltobisect.model import Candidate, Change, Resolved, Structure
from ltobisect.testing.simulate import SimRun as Run
from ltobisect.testing.simulate import config_values
from ltobisect.strategies import get

DEFAULT_TREE = Path("/var/cache/ltobisect/linux-source-6.1")


@dataclass
class ChangeSet:
    """The changes between a baseline and a bad config, and how to resolve candidates."""

    name: str
    changes: Tuple[Change, ...]
    resolve: Callable[[Candidate], Resolved]
    structure: Structure
    usable: Tuple[Change, ...]  # changes that do take effect in the bad config (culprit pool)
    watch: set = field(default_factory=set)  # symbols the predicates look at


@dataclass
class Case:
    changes: ChangeSet
    culprits: Tuple[Change, ...]

    @property
    def name(self) -> str:
        return f"{self.changes.name} k={len(self.culprits)}"


def bound(n: int, k: int, r: int) -> int:
    """The information bound: ceil(log2 C(n, k)) + r.

    Naming k unknown changes among n takes log2 C(n, k) bits, and proving a result of r
    changes 1-minimal one test per change. Here k counts the result's changes that the Kconfig
    structure given to the strategies does not imply (``f``: the culprits, plus what a culprit
    needs that ``structure.needs`` does not report, e.g. MODULES for an ``=m`` value, or a
    symbol that a select brings). Without dependencies r = f = k: issue 3's bound.
    """
    return math.ceil(math.log2(math.comb(n, k))) + r


#: Mixed into the hash that draws each config's simulated build time (``--duration-seed``).
DURATION_SEED = ""


def build_seconds(r: Resolved) -> float:
    """A config's simulated build time: 100 s +-25 %, drawn from its digest (and the seed)."""
    return sim.build_seconds(r, DURATION_SEED)


# -- change sets ---------------------------------------------------------------------------
def synthetic(n: int, seed: int) -> ChangeSet:
    """n changes; a third need one or two earlier changes (chains), some turn options off."""
    chs, resolver = sim.synthetic(n, seed)
    return ChangeSet(f"synthetic-{n}", tuple(sorted(chs)), resolver, resolver.structure(), tuple(chs))


class CachedResolve:
    """The Kconfig layer's resolver, memoized, keeping only what the predicates read."""

    def __init__(self, resolve: Callable[[Candidate], Resolved], watch: set) -> None:
        self._resolve = resolve
        self._watch = watch
        self._memo: Dict[Candidate, Resolved] = {}
        self.calls = 0

    def __call__(self, cand: Candidate) -> Resolved:
        cand = frozenset(cand)
        hit = self._memo.get(cand)
        if hit is None:
            self.calls += 1
            r = self._resolve(cand)
            self._saw(r)
            values = config_values(r.config_text)
            text = "".join(f"CONFIG_{k}={values[k]}\n" for k in sorted(self._watch) if k in values)
            hit = Resolved(cand, text, r.digest, r.ineffective, ())
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[cand] = hit
        return hit

    def _saw(self, r: Resolved) -> None:
        """Called with each config resolved, before its text is cut down."""

    def settings(self, cand) -> frozenset:
        """The resolved config's lines (kept texts hold only the watched symbols): resolved
        again, as the strategy asks for few of them."""
        return frozenset(self._resolve(frozenset(cand)).config_text.splitlines())


def real_sets(tree: Path, arches: Sequence[str], baselines: Sequence[str], seeds: Sequence[int],
              work: Path) -> List[ChangeSet]:
    from ltobisect.kconfig import KconfigTree

    out = []
    for arch in arches:
        t = time.monotonic()
        kt = KconfigTree.load(tree, arch=arch, llvm="-16", probe_cache=work / "probes")
        print(f"# loaded {arch} in {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
        for seed in seeds:
            odir = work / f"{arch}-rand{seed}"
            odir.mkdir(parents=True, exist_ok=True)
            if not (odir / ".config").is_file():
                subprocess.run(
                    ["make", "-s", "-C", str(tree), f"O={odir}", f"ARCH={arch}", "LLVM=-16",
                     f"KCONFIG_SEED={seed}", "randconfig"],
                    check=True, capture_output=True,
                )
            bad = kt.normalize(kt.read_config(odir / ".config"))
            for spec in baselines:
                base = kt.baseline(spec)
                chs = kt.diff(base, bad)
                watch: set = set()
                resolve = CachedResolve(kt.resolver(base), watch)
                full = config_values(kt.resolve(base, chs).config_text)
                empty = config_values(kt.resolve(base, ()).config_text)
                # A culprit must hold in the bad config and not in the baseline (an "is not
                # set" line only counts where the symbol is visible, as written in .config).
                usable = tuple(c for c in chs if full.get(c.name) == c.value != empty.get(c.name))
                out.append(ChangeSet(f"{arch}-{spec}-rand{seed}", tuple(chs), resolve,
                                     kt.structure(base, chs), usable, watch))
    return out


def draw_cases(sets: Sequence[ChangeSet], ks: Sequence[int], seeds: Sequence[int]) -> List[Case]:
    cases = []
    for cs in sets:
        for k in ks:
            for seed in seeds:
                rng = random.Random(f"{cs.name}/{k}/{seed}")
                culprits = tuple(sorted(rng.sample(cs.usable, k)))
                cs.watch.update(c.name for c in culprits)
                cases.append(Case(cs, culprits))
    return cases


# -- running -------------------------------------------------------------------------------
def run(case: Case, strategy: str, workers: int) -> Run:
    wanted = {c.name: c.value for c in case.culprits}

    def predicate(r: Resolved) -> bool:
        values = config_values(r.config_text)
        return all(values.get(k) == v for k, v in wanted.items())

    cs = case.changes
    return sim.run_strategy(strategy, cs.changes, cs.resolve, cs.structure, predicate, workers,
                            duration=build_seconds, label=case.name)


def median(values: Sequence[float]) -> float:
    """The median of the values that are numbers (NaN when there are none)."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else float("nan")


def fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:5.0f}m"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases (about two minutes)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic change sets only")
    ap.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    ap.add_argument("--strategies", default="default,bisect,closure-bisect,menu-bisect,cdd,probdd,ddmin,one-at-a-time")
    ap.add_argument("--workers", default="1,2,4,8", help="worker counts for simulated wall time")
    ap.add_argument("--wall-strategies", default="default,bisect,cdd,ddmin",
                    help="strategies whose wall time is simulated for every worker count")
    ap.add_argument("--ks", help="culprit counts (default 1..5, --quick 1,3,5)")
    ap.add_argument("--real-only", action="store_true", help="skip the synthetic change sets")
    ap.add_argument("--arches", default="x86_64,arm64")
    ap.add_argument("--baselines", default="tinyconfig,defconfig")
    ap.add_argument("--work", type=Path, help="where randconfigs and Kconfig probe answers are kept "
                    "(reused by the next run; default: a new temporary directory)")
    ap.add_argument("--duration-seed", default="",
                    help="another draw of the simulated build times (the W=1 / W=4 median of a "
                         "few dozen cases moves by several hundredths between draws)")
    ap.add_argument("--costly-k", help="run ddmin, probdd, cdd and one-at-a-time only for these k "
                    "(each takes thousands of resolutions on a real change set)")
    args = ap.parse_args(argv)
    global DURATION_SEED
    DURATION_SEED = args.duration_seed

    strategies = args.strategies.split(",")
    for s in strategies:
        get(s)  # a typo fails before minutes of work
    ws = [int(w) for w in args.workers.split(",")]
    ks = tuple(int(k) for k in args.ks.split(",")) if args.ks else (
        (1, 3, 5) if args.quick else (1, 2, 3, 4, 5))
    costly_k = {int(k) for k in args.costly_k.split(",")} if args.costly_k else set(ks)
    costly = {"ddmin", "probdd", "cdd", "one-at-a-time"}
    sets = [] if args.real_only else [
        synthetic(n, n) for n in ((300, 1000) if args.quick else (300, 1000, 3000))]
    if not args.synthetic:
        if not (args.tree / "Makefile").is_file():
            print(f"no kernel tree at {args.tree}: use --synthetic", file=sys.stderr)
            return 1
        work = args.work or Path(tempfile.mkdtemp(prefix="ltobisect-bench-"))
        work.mkdir(parents=True, exist_ok=True)
        sets += real_sets(args.tree, args.arches.split(","), args.baselines.split(","), (1,), work)
    cases = draw_cases(sets, ks, (0,))

    head = (f"{'case':<28} {'strategy':<15} {'n':>5} {'k':>2} {'f':>2} {'r':>3} {'tests':>6} {'bound':>5} "
            f"{'/bound':>6} {'ddmin/':>6} {'1by1/':>6} " + " ".join(f"{'W=' + str(w):>6}" for w in ws))
    print(head)
    print("-" * len(head))
    rows = []
    for case in cases:
        here = [s for s in strategies if s not in costly or len(case.culprits) in costly_k]
        res: Dict[str, Run] = {s: run(case, s, 1) for s in here}
        walls: Dict[str, Dict[int, Run]] = {}
        for s in here:
            if s in args.wall_strategies.split(","):
                walls[s] = {w: (res[s] if w == 1 else run(case, s, w)) for w in ws}
        for s in here:
            r = res[s]
            b = bound(len(case.changes.changes), r.free, r.size)
            vs_dd = res["ddmin"].tests / r.tests if "ddmin" in res else float("nan")
            vs_1 = res["one-at-a-time"].tests / r.tests if "one-at-a-time" in res else float("nan")
            wall = " ".join(
                (fmt_minutes(walls[s][w].wall) + ("" if walls[s][w].size == r.size else "*"))
                if s in walls else f"{'-':>6}" for w in ws
            )
            print(f"{case.name:<28} {s:<15} {len(case.changes.changes):>5} {len(case.culprits):>2} "
                  f"{r.free:>2} {r.size:>3} {r.tests:>6} {b:>5} {r.tests / b:>6.2f} {vs_dd:>6.1f} {vs_1:>6.1f} {wall}",
                  flush=True)
            rows.append((case, s, r, b, vs_dd, vs_1, walls.get(s)))
        print()

    print("summary (medians over cases)")
    print(f"{'strategy':<15} {'tests/bound':>11} {'ddmin/':>7} {'1by1/ n>=500':>12} "
          + " ".join(f"{'W1/W' + str(w):>7}" for w in ws[1:]) + "  same size")
    for s in strategies:
        mine = [row for row in rows if row[1] == s]
        ratio = statistics.median(r.tests / b for _, _, r, b, _, _, _ in mine)
        dd = median([row[4] for row in mine])
        one = median([row[5] for row in mine if len(row[0].changes.changes) >= 500])
        line = f"{s:<15} {ratio:>11.2f} {dd:>7.1f} {one:>12.1f} "
        walls = [row[6] for row in mine if row[6]]
        if walls:
            line += " ".join(f"{statistics.median(wl[1].wall / wl[w].wall for wl in walls):>7.2f}" for w in ws[1:])
            same = sum(all(wl[w].size == wl[1].size for w in ws) for wl in walls)
            line += f"  {same}/{len(walls)}"
        print(line)
    if "default" in strategies:
        mine = [row for row in rows if row[1] == "default"]
        ratio = statistics.median(r.tests / b for _, _, r, b, _, _, _ in mine)
        print()
        print("targets for the default pipeline (issue 3):")
        print(f"  median tests / bound = {ratio:.2f} (<= 1.5)  {'ok' if ratio <= 1.5 else 'MISSED'}")
        dd = median([row[4] for row in mine])
        if not math.isnan(dd):
            print(f"  median ddmin / default = {dd:.1f} (>= 2)  {'ok' if dd >= 2 else 'MISSED'}")
        big = [row for row in mine if len(row[0].changes.changes) >= 500]
        one = median([row[5] for row in big])
        if not math.isnan(one):
            print(f"  median one-at-a-time / default, n >= 500 = {one:.1f} (>= 20)  {'ok' if one >= 20 else 'MISSED'}")
            # What a strategy needing exactly the information bound would reach: when this is
            # below 20, no strategy can meet that target on these cases.
            ceiling = median([row[5] * row[2].tests / row[3] for row in big])
            print(f"  (the same ratio for a strategy at the information bound: {ceiling:.1f})")
            for label, part in (("synthetic", [r for r in big if r[0].changes.name.startswith("synthetic")]),
                                ("real trees", [r for r in big if not r[0].changes.name.startswith("synthetic")])):
                got = median([r[5] for r in part])
                if not math.isnan(got):
                    print(f"    {label}: {got:.1f}, at the bound {median([r[5] * r[2].tests / r[3] for r in part]):.1f}")
        walls = [row[6] for row in mine if row[6]]
        if walls and 4 in ws:
            sp = statistics.median(wl[1].wall / wl[4].wall for wl in walls)
            same = all(wl[4].size == wl[1].size for wl in walls)
            print(f"  median wall W=1 / W=4 = {sp:.2f} (>= 2.8), same result size: {same}  "
                  f"{'ok' if sp >= 2.8 and same else 'MISSED'}")
            for label, want in (("synthetic", True), ("real trees", False)):
                part = [row[6] for row in mine if row[6]
                        and row[0].changes.name.startswith("synthetic") == want]
                if part:
                    print(f"    {label}: {statistics.median(wl[1].wall / wl[4].wall for wl in part):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
