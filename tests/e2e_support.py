"""Running `ltobisect minimize` for real on a kernel tree, for the end-to-end tests.

The tests drive the real command line in a subprocess (as a tester or a build farm would), with
``--json`` so the events can be shown in the CI log, and check the artifacts afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import background
from ltobisect.testing.planted import kernel_config, lto_spec
from schema_support import read_summary

REPO = Path(__file__).resolve().parent.parent
LINUX_LTO = REPO / "examples" / "linux-lto"


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    state: Path
    tree: Path
    elapsed: float

    def summary(self) -> dict:
        """summary.json, checked against the shipped schema (the kernel's llvm_matrix, bisect
        and reduced blocks are seen nowhere else)."""
        return read_summary(self.state / "summary.json")

    def events(self) -> list:
        """The JSON-lines events the run printed on stdout."""
        out = []
        for line in self.proc.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def make_bad_config(tree: Path, out: Path, *, arch: str, seed: int, probability: int = 8,
                    extra: Sequence[str] = ()) -> Path:
    """A randconfig made by the kernel's own `make randconfig` (examples/linux-lto recipe)."""
    frag = out.with_suffix(".extra")
    frag.write_text("".join(line + "\n" for line in extra))
    subprocess.run([str(LINUX_LTO / "make-bad-config.sh"), str(tree), str(out), arch, str(seed),
                    str(probability), str(frag)], check=True, capture_output=True, text=True)
    return out


def minimize(bad: Path, tree: Path, state: Path, ccache: Path, *args: str,
             timeout: float = 90 * 60, pytestconfig=None, llvm: str = "-16") -> Run:
    """`ltobisect minimize` through the real CLI; prints what happened to the test log."""
    if "--baseline" not in args:
        args = ("--baseline", "tinyconfig", *args)
    cmd = [sys.executable, "-m", "ltobisect", "minimize", str(bad), "--tree", str(tree),
           f"--llvm={llvm}", "--state", str(state), "--ccache-dir", str(ccache), "--json", *args]
    started = time.monotonic()
    proc = background.run(cmd, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})
    run = Run(proc, state, tree, time.monotonic() - started)
    background.later(lambda: _show_past_capture(run, pytestconfig))
    return run


def _show_past_capture(run: Run, pytestconfig) -> None:
    capman = pytestconfig.pluginmanager.getplugin("capturemanager") if pytestconfig else None
    if capman is not None:
        with capman.global_and_fixture_disabled():  # into the CI log, past pytest's capture
            show(run)
    else:
        show(run)


def fragment_lines(state: Path) -> set:
    text = (state / "fragment.config").read_text()
    return {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


def show(run: Run) -> None:
    """Print the builds, the wall time, the fragment and the report into the (CI) log.

    The bad config's own build comes first and shows as ``other-failure`` with what failed:
    it is built before the failure's signature exists (it is where the signature comes from).
    """
    out = sys.stderr
    print(f"\n=== real minimization: exit {run.proc.returncode}, "
          f"wall {run.elapsed / 60:.1f} min ===", file=out)
    for ev in run.events():
        kind = ev.get("event")
        if kind == "TestFinished":
            peak = f" peak {ev['peak_rss'] / 2**20:.0f}M" if ev.get("peak_rss") else ""
            seen = f"  [{ev['signature'][:70]}]" if ev.get("signature") else ""
            print(f"  build (slot {ev['slot']}): {ev['size']:3d} changes -> {ev['verdict']:14s} "
                  f"{ev['duration']:6.1f}s{peak}{' cached' if ev.get('cached') else ''}{seen}", file=out)
        elif kind in ("PhaseStarted", "StrategyStarted", "BestImproved"):
            what = ev.get("phase") or ev.get("strategy") or f"{ev.get('size')} changes"
            print(f"  {kind}: {what}", file=out)
    report = run.state / "report.txt"
    print(report.read_text() if report.is_file() else run.proc.stderr[-4000:], file=out)


def _make(tree: Path, out: Path, *args: str, env: Optional[dict] = None, llvm: str = "-16") -> None:
    subprocess.run(["make", "-s", "-C", str(tree), f"O={out}", "ARCH=x86_64", f"LLVM={llvm}", *args],
                   check=True, capture_output=True, text=True, env={**os.environ, **(env or {})})


def leaf_randconfig(tree: Path, work: Path, *, seed: int, area: str = "CRYPTO",
                    enable: Sequence[str] = (), probability: int = 30,
                    lto: str = "thin", llvm: str = "-16") -> Tuple[Path, Path]:
    """A baseline and a bad config whose differences are cheap to build, for the default tier.

    The baseline is tinyconfig with ``lto`` (``thin``, ``full`` or ``none``; made by the kernel's
    own tools). The bad config is the kernel's `make randconfig` with every symbol pinned to the
    baseline's value except those of one leaf ``area`` (by default the crypto algorithms, which
    no widely included header tests) and those the ``enable`` lines set: its 50-odd changes
    rebuild a handful of objects each, so a whole minimization with the LTO link is short.
    """
    bad_dir = work / "bad-o"
    baseline = work / "baseline.config"
    baseline.write_text(kernel_config(lto_spec(tree, llvm=llvm), work / "baseline-o", lto=lto))
    forced = {_symbol(line) for line in enable}
    pinned = [ln for ln in baseline.read_text().splitlines()
              if f"CONFIG_{area}" not in ln and _symbol(ln) not in forced]
    allconfig = work / "allconfig"
    allconfig.write_text("\n".join([*pinned, f"CONFIG_{area}=y", *enable]) + "\n")
    _make(tree, bad_dir, "randconfig", env={"KCONFIG_ALLCONFIG": str(allconfig),
                                            "KCONFIG_SEED": str(seed),
                                            "KCONFIG_PROBABILITY": str(probability)}, llvm=llvm)
    bad = work / "bad.config"
    bad.write_text((bad_dir / ".config").read_text())
    return baseline, bad


def _symbol(line: str) -> Optional[str]:
    """CONFIG_X of a ``CONFIG_X=...`` or ``# CONFIG_X is not set`` line, else None."""
    line = line.strip()
    if line.startswith("# CONFIG_") and line.endswith(" is not set"):
        return line[2:-len(" is not set")]
    if line.startswith("CONFIG_") and "=" in line:
        return line.split("=", 1)[0]
    return None
