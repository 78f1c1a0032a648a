#!/usr/bin/env python3
"""What the log's lead and the build-time model change, on simulated problems with fresh seeds.

Each problem is a synthetic change set (``ltobisect.testing.simulate.synthetic``: chains of needs, some
options turned off) with k culprits drawn at random. Builds take simulated time that grows with
what the config builds (``simulate.weighted_seconds``: the baseline about 45 % of the bad
config, +-25 % per config). The default strategy runs through the real gate twice per problem
and scenario: *before* (no lead, no cost model: the search as it was) and *after* (both):

- ``nowhere``: the log points at nothing (no guess). Only the cost model differs (it orders
  batches larger than the workers, longest first): it must not make the search slower;
- ``partial``: the log points at one of the k >= 2 culprits and two bystanders, so the guess
  (tested first in both runs, as a session does) does not reproduce: the lead looks there first;
- ``wrong``: the log points at three bystanders: what a wrong lead costs.

Printed per scenario and worker count: the median builds, the median of summed build seconds
and of wall seconds, before and after, and the ratios (after / before); the worst ratio of
build seconds over the problems too. Seeds are fresh each run (printed; ``--seed`` replays).

    python3 benchmarks/prior_cost_bench.py                      # 60 problems, W = 1 and 4
    python3 benchmarks/prior_cost_bench.py --problems 200 --seed 7 --workers 1,2,4,8
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ltobisect.testing import simulate as sim  # noqa: E402
from ltobisect.model import Resolved  # noqa: E402

SCENARIOS = ("nowhere", "partial", "wrong")


def problem(rng: random.Random):
    """A change set, its culprits and the predicate "all culprits have their bad values"."""
    n = rng.choice((300, 1000, 3000))
    chs, resolver = sim.synthetic(n, rng.randrange(10**9))
    chs = sorted(chs)
    k = rng.randint(2, 5)
    full = sim.config_values(resolver(frozenset(chs)).config_text)
    base = sim.config_values(resolver(frozenset()).config_text)
    usable = [c for c in chs if full.get(c.name) == c.value != base.get(c.name)]
    culprits = rng.sample(usable, k)
    wanted = {c.name: c.value for c in culprits}

    def predicate(r: Resolved) -> bool:
        values = sim.config_values(r.config_text)
        return all(values.get(key) == v for key, v in wanted.items())

    return n, chs, resolver, culprits, predicate


def guess_of(scenario: str, rng: random.Random, chs, culprits, structure) -> frozenset:
    if scenario == "nowhere":
        return frozenset()
    bystanders = rng.sample([c for c in chs if c not in culprits], 3)
    pointed = ([rng.choice(culprits)] + bystanders[:2]) if scenario == "partial" else bystanders
    return structure.closure(pointed)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--workers", default="1,4")
    ap.add_argument("--seed", type=int, default=None, help="replay a run (default: a fresh seed)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"# seed {seed}, {args.problems} problems per scenario", flush=True)
    workers = [int(w) for w in args.workers.split(",")]
    for scenario in args.scenarios.split(","):
        for w in workers:
            rng = random.Random(f"{seed}/{scenario}")
            rows: Dict[str, List[sim.SimRun]] = {"before": [], "after": []}
            for i in range(args.problems):
                n, chs, resolver, culprits, predicate = problem(rng)
                structure = resolver.structure()
                guess = guess_of(scenario, rng, chs, culprits, structure)
                seconds = sim.weighted_seconds(resolver(frozenset()), resolver(frozenset(chs)),
                                               seed=f"{seed}/{i}")
                for arm, on in (("before", False), ("after", True)):
                    rows[arm].append(sim.run_strategy(
                        "default", chs, resolver, structure, predicate, w, duration=seconds,
                        label=f"{scenario} #{i}", guess=guess, lead=on, costs=on))
            b, a = rows["before"], rows["after"]

            def med(runs: List[sim.SimRun], key: str) -> float:
                return statistics.median(getattr(r, key) for r in runs)

            ratios = [y.build_seconds / x.build_seconds for x, y in zip(b, a)]
            print(f"{scenario:8} W={w:<2} builds {med(b, 'tests'):5.1f} -> {med(a, 'tests'):5.1f}"
                  f"   build s {med(b, 'build_seconds'):7.0f} -> {med(a, 'build_seconds'):7.0f}"
                  f" ({med(a, 'build_seconds') / med(b, 'build_seconds'):.2f}x)"
                  f"   wall s {med(b, 'wall'):7.0f} -> {med(a, 'wall'):7.0f}"
                  f" ({med(a, 'wall') / med(b, 'wall'):.2f}x)"
                  f"   per problem: median {statistics.median(ratios):.2f}x,"
                  f" worst {max(ratios):.2f}x; size {med(b, 'size'):.0f} -> {med(a, 'size'):.0f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
