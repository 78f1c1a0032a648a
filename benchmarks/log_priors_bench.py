#!/usr/bin/env python3
"""Builds and build time with and without the log's pointers (``--no-log-priors``).

Each case is minimized twice through the real CLI, in fresh state directories, once as it is
and once with ``--no-log-priors``; printed per case: changes, builds, summed build seconds,
wall seconds, the fragment's size, what the log pointed at and whether the guess held.

Cases (all real builds; no kernel needed):

- ``demo-compile``: the demo's randconfig without NET_GSO, a compile error in net/tso.c, the
  machine's cc: the log points at what builds net/tso.c, while the culprit is an option turned
  off that no line of the log names (the guess may cost its one build);
- ``demo-link``: the demo's randconfig, its planted undefined symbol at the ThinLTO link
  (clang-16, ld.lld-16);
- ``demo-kcov``: the demo with kcov as Linux has it (:func:`ltobisect.testing.planted.demo_kcov_tree`),
  ld.lld-16 aborting on LLVM 16's KCOV bug.

Real failures of ``examples/linux-lto/real/`` (``--real NAME,...`` with ``--tree`` for Linux
6.1 and ``--tree-612`` for 6.12): each case's ``bad.defconfig`` is expanded by the kernel's
``make olddefconfig`` and minimized with its ``--log`` and ``case.json`` arguments, with and
without, against tinyconfig, with a fresh ccache per run (``--ccache-dir``, so the second run
does not find the first one's objects).

Usage: ``python3 benchmarks/log_priors_bench.py [--cases a,b] [--workers N]
[--real NAME,... --tree DIR [--tree-612 DIR]]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
REAL = REPO / "examples" / "linux-lto" / "real"
sys.path.insert(0, str(REPO))

from ltobisect.testing.planted import demo_kcov_tree  # noqa: E402


def _demo(work: Path) -> Path:
    tree = work / "tree"
    shutil.copytree(DEMO, tree)
    return tree


def case(name: str, work: Path) -> Optional[Tuple[Path, Path, List[str]]]:
    """(tree, bad config, extra arguments) of a case, or None when its tools are missing."""
    if name == "demo-compile":
        tree = _demo(work)
        bad = work / "bad.config"
        bad.write_text((tree / "configs" / "randconfig.config").read_text().replace(
            "CONFIG_NET_GSO=y", "# CONFIG_NET_GSO is not set"))
        return tree, bad, []
    if shutil.which("clang-16") is None or shutil.which("ld.lld-16") is None:
        return None
    if name == "demo-link":
        tree = _demo(work)
        return tree, tree / "configs" / "randconfig.config", \
            ["--make", "CC=clang-16 -flto=thin -fuse-ld=lld"]
    if name == "demo-kcov":
        tree, bad = demo_kcov_tree(DEMO, work)
        return tree, bad, ["--make", "CC=clang-16 -flto=thin -fuse-ld=lld"]
    raise SystemExit(f"unknown case {name!r}")


def real_case(name: str, work: Path, trees: Dict[str, Optional[Path]]
              ) -> Optional[Tuple[Path, Path, List[str]]]:
    """(tree, bad config, arguments) of a real failure of ``examples/linux-lto/real``."""
    import lzma

    meta = json.loads((REAL / name / "case.json").read_text())
    tree = trees.get(meta["kernel"])
    if tree is None:
        return None
    d = REAL / meta.get("from", name)  # another failure of a case already kept
    out = work / "expand"
    out.mkdir(parents=True)
    (out / ".config").write_text((d / "bad.defconfig").read_text())
    subprocess.run(["make", "-s", "-C", str(tree), f"O={out}", f"ARCH={meta['arch']}",
                    f"LLVM={meta['llvm']}", *meta.get("make", []), "olddefconfig"],
                   check=True, capture_output=True)
    bad = work / "bad.config"
    bad.write_text((out / ".config").read_text())
    args = ["--baseline", "tinyconfig", "--arch", meta["arch"], f"--llvm={meta['llvm']}",
            "--ccache-dir", str(work / "ccache"), *meta["args"]]
    if (d / "build.log.xz").is_file():
        log = work / "build.log"
        log.write_bytes(lzma.decompress((d / "build.log.xz").read_bytes()))
        args += ["--log", str(log)]
    for var in meta.get("make", []):
        args += ["--make", var]
    return tree, bad, args


def run(tree: Path, bad: Path, extra: List[str], state: Path, workers: int,
        priors: bool) -> Dict:
    base = [] if "--baseline" in extra else ["--baseline", str(tree / "configs" / "baseline.config")]
    argv = [sys.executable, "-m", "ltobisect", "minimize", str(bad), "--tree", str(tree),
            *base, "--state", str(state), "--workers", str(workers), "--json", "--no-lto-matrix",
            *extra]
    if not priors:
        argv.append("--no-log-priors")
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.monotonic() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    s = json.loads(last)
    guess = s.get("log_priors") or {}
    return {"exit": done.returncode, "builds": (s.get("counts") or {}).get("builds"),
            "build_s": (s.get("durations") or {}).get("build"), "wall_s": round(wall, 1),
            "fragment": len(s.get("fragment") or []), "changes": s.get("total_changes"),
            "pointed": ",".join(guess.get("options") or {}) or "-",
            "held": guess.get("held")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="demo-compile,demo-link,demo-kcov")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--real", default="", help="cases of examples/linux-lto/real (names)")
    ap.add_argument("--tree", type=Path, help="a Linux 6.1 tree, for --real")
    ap.add_argument("--tree-612", type=Path, help="a Linux 6.12 tree, for --real")
    args = ap.parse_args()
    trees = {"6.1": args.tree, "6.12": args.tree_612}
    names = [n for n in args.cases.split(",") if n] + [f"real:{n}" for n in args.real.split(",") if n]
    rows = []
    for name in names:
        for priors in (False, True):
            with tempfile.TemporaryDirectory(prefix="ltobisect-priors-") as tmp:
                made = (real_case(name[5:], Path(tmp), trees) if name.startswith("real:")
                        else case(name, Path(tmp)))
                if made is None:
                    print(f"{name}: skipped (its tree or clang-16 and ld.lld-16 are missing)")
                    break
                tree, bad, extra = made
                r = run(tree, bad, extra, Path(tmp) / "state", args.workers, priors)
                rows.append((name, "with" if priors else "without", r))
                print(f"{name:13} {'with' if priors else 'without':8} exit {r['exit']} "
                      f"changes {r['changes']} builds {r['builds']} build {r['build_s']} s "
                      f"wall {r['wall_s']} s fragment {r['fragment']} pointed {r['pointed']} "
                      f"held {r['held']}", flush=True)
    print("\ncase           builds (without -> with)   build seconds (without -> with)")
    by = {}
    for name, how, r in rows:
        by.setdefault(name, {})[how] = r
    for name, pair in by.items():
        a, b = pair.get("without"), pair.get("with")
        if a and b and a["builds"] and b["builds"]:
            ratio = (b["build_s"] or 0) / (a["build_s"] or 1)
            print(f"{name:13}  {a['builds']:>3} -> {b['builds']:<3}                  "
                  f"{a['build_s']:>7} -> {b['build_s']:<7} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
