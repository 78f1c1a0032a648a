#!/usr/bin/env python3
"""Per-test wall time of kernel builds over a chain of configs, three ways (prints figures).

A minimization tests a chain of configs that differ by a few options. This benchmark builds such
a chain (tinyconfig + ThinLTO, x86_64, plus two of a set of cheap options per config) on a
scratch copy of the real tree with the planted compile error of ltobisect/testing/planted.py
(PAIR_ERROR: FHANDLE + CROSS_MEMORY_ATTACH), through :class:`ltobisect.oracle.KernelOracle`:

- ``fresh``: a new O= directory per test, no ccache, target vmlinux (what a naive tool does);
- ``persistent``: one worker O= directory kept across tests, ccache, target vmlinux;
- ``targeted``: the persistent worker plus the directory target of the compile error (``fs/``).

Targets of the issue: persistent >= 3x faster per test than fresh; targeted >= 10x.
The first persistent/targeted test is a cold start (reported apart; its ccache starts empty
unless --ccache is given). Fresh builds cost minutes each, so only --fresh-samples of the chain
are built fresh and their mean is the fresh figure.

Usage: python3 benchmarks/build_bench.py [--configs 8] [--fresh-samples 2] [--modes ...]
"""
from __future__ import annotations

import argparse
import itertools
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

from ltobisect.model import Resolved, Signature
from ltobisect.oracle import KernelOracle
from ltobisect.testing.planted import PAIR_ERROR, kernel_config, lto_spec, resolved_config, scratch_tree

#: Options that no header mentions (cheap to flip), off in tinyconfig.
TOGGLES = ["FHANDLE", "CROSS_MEMORY_ATTACH", "USELIB", "SYSFS_SYSCALL", "TIMERFD", "SIGNALFD", "KCMP"]
OURS = Signature(kind="compile-error", tool="clang", message=f'"{PAIR_ERROR.message}"', location="fs/fhandle.c")


def chain(n: int) -> List[List[str]]:
    """``n`` different option pairs from TOGGLES (21 exist), the planted pair first."""
    pairs = [sorted(p) for p in itertools.combinations(TOGGLES, 2)]
    random.Random(4).shuffle(pairs)
    planted = sorted(["FHANDLE", "CROSS_MEMORY_ATTACH"])
    pairs.remove(planted)
    if n > len(pairs) + 1:
        raise SystemExit(f"--configs at most {len(pairs) + 1}")
    return [planted] + pairs[: n - 1]


def run_mode(mode: str, configs: List[Resolved], spec, work: Path, fresh_samples: int) -> List[float]:
    times: List[float] = []
    if mode == "fresh":
        fresh_spec = replace(spec, use_ccache=False, target="vmlinux")
        for n, cfg in enumerate(configs[:fresh_samples]):
            state = work / f"fresh-{n}"
            oracle = KernelOracle(fresh_spec, state, signature=OURS)
            t0 = time.monotonic()
            out = oracle.test(cfg, 0)
            times.append(time.monotonic() - t0)
            print(f"  fresh      #{n}: {times[-1]:7.1f} s  {out.verdict.value:14} peak {out.peak_rss or 0:>11,} B", flush=True)
            shutil.rmtree(state, ignore_errors=True)
        return times
    target = "vmlinux" if mode == "persistent" else None
    oracle = KernelOracle(replace(spec, target=target), work / mode, signature=OURS)
    for n, cfg in enumerate(configs):
        t0 = time.monotonic()
        out = oracle.test(cfg, 0)
        times.append(time.monotonic() - t0)
        print(f"  {mode:10} #{n}: {times[-1]:7.1f} s  {out.verdict.value:14} targets {oracle.targets()}", flush=True)
    return times


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=Path("/var/cache/ltobisect/linux-source-6.1"))
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--configs", type=int, default=8, help="length of the config chain (>= 8 for the figures)")
    ap.add_argument("--fresh-samples", type=int, default=2, help="how many chain configs to build fresh")
    ap.add_argument("--modes", default="persistent,targeted,fresh", help="comma list; fresh last: it is the slowest")
    ap.add_argument("--ccache", type=Path, default=None, help="ccache dir (default: a cold one in --work)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="ltobisect-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        tree = scratch_tree(args.tree, work / "tree", [PAIR_ERROR])
        spec = lto_spec(tree, args.ccache or work / "ccache", jobs=args.jobs)
        sets = chain(args.configs)
        print(f"configs: {len(sets)} (tinyconfig + ThinLTO + {', '.join('+'.join(s) for s in sets)})", flush=True)
        t0 = time.monotonic()
        configs = [resolved_config(kernel_config(spec, work / "cfg", enable=s)) for s in sets]
        print(f"config generation: {time.monotonic() - t0:.1f} s for {len(configs)}", flush=True)
        results: Dict[str, List[float]] = {}
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            results[mode] = run_mode(mode, configs, spec, work, args.fresh_samples)
        print("\nper-test wall time (s)")
        fresh = statistics.mean(results["fresh"]) if results.get("fresh") else None
        for mode, times in results.items():
            if not times:
                continue
            steady = times[1:] if mode != "fresh" and len(times) > 1 else times
            mean = statistics.mean(steady)
            speed = f"{fresh / mean:5.1f}x vs fresh" if fresh and mode != "fresh" else ""
            first = f"first (cold) {times[0]:.1f}" if mode != "fresh" else f"{len(times)} samples"
            print(f"  {mode:10} mean {mean:7.1f}  median {statistics.median(steady):7.1f}  {first:20} {speed}")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
