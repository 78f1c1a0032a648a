#!/usr/bin/env python3
"""What running the builds on a Dask cluster costs and gains (prints figures, asserts nothing).

Two measurements in one run, each through the product's executors and the script oracle
(:class:`ltobisect.oracle.ScriptOracle`; a script that exits 1 is a ``passes`` verdict):

- **Overhead per build.** N trivial builds (the script exits 1 at once), one at a time, through
  the local pool (:func:`ltobisect.executor.local_pool`, 1 worker) and through the farm
  (:func:`ltobisect.farm.farm_pool` on ``local:1``, a Dask ``LocalCluster`` of one worker
  process on 127.0.0.1). Printed: each engine's wall time for the N builds and per build, and
  the overhead, (farm wall - local wall) / N. That is what Dask adds to a build: the task's
  round trip through the scheduler, the cancel event, the oracle made again on the worker, the
  log coming back. The cluster's start-up is printed apart and not counted; one build per engine
  warms it up first and is not counted either.
- **Scaling.** M builds that sleep (``sleep S; exit 1``) on a cluster of 1 worker and on one of
  4 workers (``local:1`` with ``--workers 1``, ``local:4`` with ``--workers 4``). Printed: both
  wall times and their ratio (ideal: 4 when M is a multiple of 4).

Worker build directories go to a temporary ``$LTOBISECT_FARM_DIR``, removed at the end. The
latest figures are in ``benchmarks/README.md``.

    python3 benchmarks/farm_bench.py                       # 40 trivial builds, 8 of 1 s
    python3 benchmarks/farm_bench.py --builds 100 --sleep 2 --sleep-builds 16
    python3 benchmarks/farm_bench.py --json                # one JSON object of the figures

Needs the ``dask`` extra (``pip install '.[dask]'``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ltobisect.executor import ExecutorFactory, local_pool
from ltobisect.limits import StopCondition
from ltobisect.model import Resolved
from ltobisect.oracle import OracleSpec

try:
    from ltobisect.farm import farm_pool
except ImportError as exc:  # the dask extra is not installed
    raise SystemExit(str(exc)) from exc


def configs(n: int, tag: str) -> List[Resolved]:
    """``n`` resolved configs with distinct digests (the script never reads them)."""
    out = []
    for i in range(n):
        text = f"# farm_bench {tag}\nCONFIG_FARM_BENCH_{i}=y\n"
        out.append(Resolved(candidate=frozenset(), config_text=text,
                            digest=hashlib.sha256(text.encode()).hexdigest()[:20]))
    return out


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def timed(factory: ExecutorFactory, spec: OracleSpec, items: Sequence[Resolved],
          warmup: Optional[Resolved] = None) -> Tuple[float, float, Dict[str, int]]:
    """(start-up s, wall s of ``items``, verdict counts): the executor is made, warmed up with
    one build of ``warmup`` (not counted), runs ``items`` in one batch, and is closed."""
    t0 = time.perf_counter()
    ex = factory(spec, StopCondition())
    try:
        start = time.perf_counter() - t0
        if warmup is not None:
            ex.run([warmup], lambda i, r, o: None)
        t1 = time.perf_counter()
        outcomes = ex.run(items, lambda i, r, o: None)
        wall = time.perf_counter() - t1
    finally:
        ex.close()
    return start, wall, dict(Counter(str(o.verdict) for o in outcomes))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", type=int, default=40, help="trivial builds per engine (default: 40)")
    ap.add_argument("--sleep", type=float, default=1.0,
                    help="seconds each build of the scaling test sleeps (default: 1)")
    ap.add_argument("--sleep-builds", type=int, default=8,
                    help="builds of the scaling test (default: 8)")
    ap.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    args = ap.parse_args(argv)
    if args.builds < 1 or args.sleep_builds < 1 or args.sleep < 0:
        ap.error("--builds and --sleep-builds must be at least 1, --sleep at least 0")

    def note(msg: str) -> None:
        print(f"# {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="ltobisect-farm-bench-") as tmp:
        root = Path(tmp)
        # Set before any cluster starts: the worker processes inherit it.
        os.environ["LTOBISECT_FARM_DIR"] = str(root / "farm")
        quick = script(root / "passes.sh", "exit 1")
        slow = script(root / "sleeps.sh", f"sleep {args.sleep:g}; exit 1")
        items = configs(args.builds, "trivial")
        warm = configs(1, "warmup")[0]

        note(f"{args.builds} trivial builds, local pool (1 worker)")
        _, local_wall, local_verdicts = timed(
            local_pool(1), OracleSpec(work_dir=root / "local", script=quick), items, warm)
        note(f"{args.builds} trivial builds, farm on local:1")
        farm_start, farm_wall, farm_verdicts = timed(
            farm_pool("local:1", 1), OracleSpec(work_dir=root / "farm-1", script=quick), items, warm)

        sleepers = configs(args.sleep_builds, "sleep")
        walls = {}
        starts = {}
        sleep_verdicts = {}
        for n in (1, 4):
            note(f"{args.sleep_builds} builds of {args.sleep:g} s, farm on local:{n} --workers {n}")
            starts[n], walls[n], sleep_verdicts[n] = timed(
                farm_pool(f"local:{n}", n), OracleSpec(work_dir=root / f"sleep-{n}", script=slow),
                sleepers, warm)

    n = args.builds
    figures = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "builds": n,
        "local_wall_s": round(local_wall, 3),
        "local_ms_per_build": round(1000 * local_wall / n, 1),
        "farm_wall_s": round(farm_wall, 3),
        "farm_ms_per_build": round(1000 * farm_wall / n, 1),
        "overhead_ms_per_build": round(1000 * (farm_wall - local_wall) / n, 1),
        "cluster_start_s": {"local:1": round(farm_start, 2), "local:4": round(starts[4], 2)},
        "sleep_s": args.sleep,
        "sleep_builds": args.sleep_builds,
        "wall_1_worker_s": round(walls[1], 3),
        "wall_4_workers_s": round(walls[4], 3),
        "ratio_1_over_4": round(walls[1] / walls[4], 2) if walls[4] > 0 else None,
        "verdicts": {"local": local_verdicts, "farm": farm_verdicts,
                     "sleep-1": sleep_verdicts[1], "sleep-4": sleep_verdicts[4]},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"cores: {figures['cores']}")
    print(f"overhead per build ({n} trivial builds, one at a time):")
    print(f"  local pool, 1 worker     {local_wall:8.2f} s   {figures['local_ms_per_build']:8.1f} ms/build")
    print(f"  farm, local:1            {farm_wall:8.2f} s   {figures['farm_ms_per_build']:8.1f} ms/build")
    print(f"  overhead of the farm     {figures['overhead_ms_per_build']:8.1f} ms/build")
    print(f"  cluster start-up         local:1 {farm_start:.2f} s, local:4 {starts[4]:.2f} s (not counted)")
    print(f"scaling ({args.sleep_builds} builds of sleep {args.sleep:g} s):")
    print(f"  farm, local:1 --workers 1  {walls[1]:8.2f} s")
    print(f"  farm, local:4 --workers 4  {walls[4]:8.2f} s")
    print(f"  ratio 1 / 4 workers        {figures['ratio_1_over_4']:8.2f}")
    print(f"verdicts: {json.dumps(figures['verdicts'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
