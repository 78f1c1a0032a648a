"""Fidelity of the Kconfig layer: how many configs come out byte-identical to the kernel's conf.

For each kernel tree and ARCH: tinyconfig and defconfig against ``make tinyconfig`` / ``make
defconfig``, fixed-seed randconfigs against ``make olddefconfig``, and random candidates of each
randconfig's diff against each baseline (sizes 1, a few, half; every third drawn mostly from
choice members) against ``make olddefconfig`` of baseline + fragment appended. Prints N/N per
kernel and arch, and every difference. Takes about 3 s of `make` per comparison, ``--jobs`` at
a time.

    python3 benchmarks/kconfig_fidelity.py --tree /var/cache/ltobisect/linux-source-6.1 --llvm=-16 \\
        --tree /var/cache/ltobisect/linux-source-6.12 --llvm=-19 [--arch x86_64 --arch arm64]
        [--seeds 1,2,3] [--per-config 10] [--rng-seed 0] [--jobs 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ltobisect.testing import fidelity  # noqa: E402
from ltobisect.kconfig import KconfigTree  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, action="append", help="kernel tree (repeatable)")
    p.add_argument("--llvm", action="append", help="LLVM= for the tree of the same position")
    p.add_argument("--arch", action="append", help="ARCH (repeatable); default x86_64 and arm64")
    p.add_argument("--seeds", default="1,2,3", help="KCONFIG_SEEDs of the randconfigs")
    p.add_argument("--per-config", type=int, default=10,
                   help="random candidates per randconfig and baseline")
    p.add_argument("--rng-seed", type=int, default=0, help="seed of the candidate draw")
    p.add_argument("--jobs", type=int, default=2, help="make olddefconfig runs at once")
    args = p.parse_args(argv)
    trees = args.tree or [Path("/var/cache/ltobisect/linux-source-6.1"),
                          Path("/var/cache/ltobisect/linux-source-6.12")]
    llvms = args.llvm or ["-16", "-19"][:len(trees)]
    if len(llvms) != len(trees):
        p.error("give one --llvm per --tree")
    arches = args.arch or ["x86_64", "arm64"]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    worst = 0
    for tree, llvm in zip(trees, llvms):
        for arch in arches:
            with tempfile.TemporaryDirectory(prefix="kconfig-fidelity-") as tmp:
                work = Path(tmp)
                t = time.monotonic()
                kt = KconfigTree.load(tree, arch=arch, llvm=llvm, work_dir=work / "k")
                cases = fidelity.cases(kt, tree, arch=arch, llvm=llvm, work=work, seeds=seeds,
                                       per_config=args.per_config, rng_seed=args.rng_seed)
                results = fidelity.compare(cases, tree, arch=arch, llvm=llvm, work=work, jobs=args.jobs)
                counts = fidelity.tally(results)
                same, n = counts["all"]
                parts = ", ".join(f"{k} {a}/{b}" for k, (a, b) in counts.items() if k != "all")
                print(f"{kt.kernelversion()} {arch} LLVM={llvm} ({kt.choice_rules.value} choices): "
                      f"{same}/{n} byte-identical ({parts}) in {time.monotonic() - t:.0f} s", flush=True)
                for r in results:
                    if not r.equal:
                        worst = 1
                        print(f"  differs: {r.label}")
                        for d in r.differing:
                            print(f"    {d}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
