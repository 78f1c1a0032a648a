#!/usr/bin/env python3
"""Write the demo's randconfig (configs/randconfig.config) or its baseline, deterministically.

    python3 scripts/randconfig.py --seed 55 -o configs/randconfig.config
    python3 scripts/randconfig.py --baseline -o configs/baseline.config

Like the kernel's `make randconfig` (KCONFIG_SEED, KCONFIG_PROBABILITY), but with Python's
random.Random so the output depends only on the seed and the Kconfig files: every visible bool
is set to y with the given probability, in Kconfig order (so an option is only drawn when what it
depends on was drawn y), every visible choice picks one of its options, and every int with a
range takes a value from it. The baseline is alldefconfig (every option at its default).
Needs kconfiglib (pip install kconfiglib); run it from anywhere.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import kconfiglib

TREE = Path(__file__).resolve().parent.parent


def load() -> kconfiglib.Kconfig:
    os.environ["srctree"] = str(TREE)
    return kconfiglib.Kconfig(str(TREE / "Kconfig"), warn_to_stderr=False)


def randomize(kconf: kconfiglib.Kconfig, seed: int, probability: float) -> None:
    rng = random.Random(seed)
    for sym in kconf.unique_defined_syms:
        if sym.choice is not None or not sym.visibility:
            continue
        if sym.type == kconfiglib.BOOL:
            sym.set_value("y" if rng.random() < probability else "n")
        elif sym.type == kconfiglib.INT and sym.ranges:
            low, high = (int(x.str_value) for x in sym.ranges[0][:2])
            sym.set_value(str(rng.randint(low, high)))
        for choice in kconf.unique_choices:
            if choice.visibility and choice.user_selection is None and choice.syms:
                visible = [s for s in choice.syms if s.visibility]
                if visible:
                    rng.choice(visible).set_value("y")


def values(kconf: kconfiglib.Kconfig) -> dict:
    return {s.name: s.str_value for s in kconf.unique_defined_syms}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--probability", type=float, default=0.7)
    ap.add_argument("--baseline", action="store_true", help="write alldefconfig instead")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    kconf = load()
    defaults = values(kconf)
    if not args.baseline:
        randomize(kconf, args.seed, args.probability)
        header = (f"# Demo randconfig: scripts/randconfig.py --seed {args.seed} "
                  f"--probability {args.probability}\n")
    else:
        header = "# Demo baseline: alldefconfig (scripts/randconfig.py --baseline)\n"
    kconf.write_config(str(args.output), header=header)
    changed = sum(1 for k, v in values(kconf).items() if defaults.get(k) != v)
    print(f"{args.output}: {changed} options differ from alldefconfig", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
