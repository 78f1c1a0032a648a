"""Real kernel, end to end, on the other Kconfig generation: Linux 6.12 with clang-19 and ThinLTO.

As tests/test_e2e_kernel.py does for 6.1: tinyconfig with ThinLTO as the baseline, a leaf
randconfig (the crypto algorithms free) plus the two culprit options as the bad config, a
planted fault that breaks the ThinLTO link only when LTO_CLANG, USELIB and CROSS_MEMORY_ATTACH
are all on. The bad config also switches a choice that 6.11+ Kconfig settles by its priority
list (kernel compression: KERNEL_GZIP -> KERNEL_XZ, which a `vmlinux` build never uses), so the
search builds half-switched choices and must still end on the two culprits, with a fragment the
kernel's own `make olddefconfig` reads the same, appended and through merge_config.sh.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from e2e_support import Run, fragment_lines, leaf_randconfig, minimize
from ltobisect.testing.planted import Fault, scratch_tree

pytestmark = pytest.mark.kernel

LLVM = "-19"
SYMBOL = "ltobisect_e2e_612_missing"
LTO_LINK_FAULT = Fault("fs/exec.c", ("LTO_CLANG", "USELIB", "CROSS_MEMORY_ATTACH"), "undefined", SYMBOL)
CULPRITS = {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"}


@pytest.fixture(scope="module")
def minimized(kernel_tree_612: Path, shared_ccache: Path, tmp_path_factory, pytestconfig) -> Run:
    work = tmp_path_factory.mktemp("e2e612")
    tree = scratch_tree(kernel_tree_612, work / "linux", [LTO_LINK_FAULT])
    baseline, bad = leaf_randconfig(kernel_tree_612, work, seed=3, llvm=LLVM,
                                    enable=sorted(CULPRITS) + ["CONFIG_KERNEL_XZ=y"])
    return minimize(bad, tree, work / "state", shared_ccache, "--arch", "x86_64",
                    "--baseline", str(baseline), "--no-lto-matrix", timeout=50 * 60,
                    pytestconfig=pytestconfig, llvm=LLVM)


def test_the_bad_config_switches_a_choice(minimized: Run) -> None:
    bad = (minimized.state.parent / "bad.config").read_text()
    assert "CONFIG_KERNEL_XZ=y" in bad and "# CONFIG_KERNEL_GZIP is not set" in bad
    assert minimized.summary()["total_changes"] >= 50


def test_minimizes_the_612_lto_link_failure_to_its_two_options(minimized: Run) -> None:
    assert minimized.proc.returncode == 0, minimized.proc.stderr[-3000:]
    assert "Traceback" not in minimized.proc.stderr
    assert fragment_lines(minimized.state) == CULPRITS
    summary = minimized.summary()
    assert summary["status"] == "minimized"
    assert summary["signature"]["tool"] == "ld.lld"
    assert SYMBOL in summary["signature"]["message"] + summary["signature"]["location"]


def test_the_kernels_tools_read_the_fragment_as_tested(minimized: Run) -> None:
    mk = minimized.summary()["verification"]["olddefconfig"]
    assert mk["checked"] is True and mk["equal"] is True, mk
    assert mk["readings"]["appended"]["equal"] is True
    assert mk["readings"]["merge_config"]["equal"] is True
    report = (minimized.state / "report.txt").read_text()
    assert "6.12." in report and "clang version 19" in report
    assert "NOT EXACT" not in report
    # Every build's own conf (syncconfig) left the config we resolved, byte for byte in settings.
    assert minimized.summary()["conf_disagreements"] == 0


@pytest.mark.slow  # a whole 6.12 LTO build from an empty O=: 6.1's twin runs by default
def test_reproduce_sh_reproduces_on_612(minimized: Run, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(["sh", str(minimized.state / "reproduce.sh"), "-o", str(out)],
                          capture_output=True, text=True, timeout=30 * 60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SYMBOL in (out / "reproduce.log").read_text()
