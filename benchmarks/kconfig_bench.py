"""Benchmark of the Kconfig layer on a real kernel tree: load, resolve, memory.

Prints: load time without and with the probe cache, median/p95 resolve time over random
candidates drawn from a real randconfig-vs-baseline diff, and the peak RSS of this process.
A script, not a timed test: figures depend on the machine.

    python3 benchmarks/kconfig_bench.py [--tree DIR] [--arch x86_64] [--llvm=-16] [--candidates 300]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ltobisect.kconfig import KconfigTree, run_config_target  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, default=Path("/var/cache/ltobisect/linux-source-6.1"))
    p.add_argument("--arch", default="x86_64")
    p.add_argument("--llvm", default="-16")
    p.add_argument("--seed", type=int, default=3, help="KCONFIG_SEED of the bad randconfig")
    p.add_argument("--candidates", type=int, default=300)
    p.add_argument("--baselines", default="tinyconfig,defconfig")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kconfig-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        bad = run_config_target(args.tree, "randconfig", arch=args.arch, llvm=args.llvm, work_dir=root / "O",
                                extra_env={"KCONFIG_SEED": str(args.seed)})
        print(f"make randconfig (KCONFIG_SEED={args.seed}), for the bad config: {time.perf_counter() - t:.1f} s")

        cache = root / "probes"
        t = time.perf_counter()
        kt = KconfigTree.load(args.tree, arch=args.arch, llvm=args.llvm, work_dir=root / "w1", probe_cache=cache)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        kt = KconfigTree.load(args.tree, arch=args.arch, llvm=args.llvm, work_dir=root / "w2", probe_cache=cache)
        warm = time.perf_counter() - t
        print(f"load, cold (runs {kt.probes_run or 89} probes, fills the cache): {cold:.2f} s")
        print(f"load, probe cache hit ({kt.probes_run} probes run):           {warm:.2f} s")

        rng = random.Random(0)
        for name in args.baselines.split(","):
            t = time.perf_counter()
            base = kt.baseline(name)
            t_base = time.perf_counter() - t
            t = time.perf_counter()
            changes = kt.diff(base, bad)
            t_diff = time.perf_counter() - t
            t = time.perf_counter()
            kt.structure(base, changes)
            t_struct = time.perf_counter() - t
            times, cpu = [], []
            for _ in range(args.candidates):
                size = rng.randint(1, len(changes))
                cand = frozenset(rng.sample(changes, size))
                t, c = time.perf_counter(), time.process_time()
                kt.resolve(base, cand)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            times.sort()
            cpu.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"{name}: baseline {t_base:.2f} s, diff {len(changes)} changes in {t_diff:.2f} s, "
                  f"structure {t_struct:.2f} s")
            print(f"  resolve over {len(times)} random candidates: median {statistics.median(times) * 1000:.0f} ms, "
                  f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms (wall)")
            print(f"  same, CPU time of this process: median {statistics.median(cpu) * 1000:.0f} ms, "
                  f"p95 {cpu[int(0.95 * (len(cpu) - 1))] * 1000:.0f} ms")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak:.0f} MB")
        print(f"machine load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs (wall times grow with it, CPU times do not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
