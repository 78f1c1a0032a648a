"""Real kernel, end to end, on the other Kconfig generation: Linux 6.12 with clang-19 and ThinLTO.

The run exists to prove the 6.11+ Kconfig generation on a real tree, through the real command
line: tinyconfig with ThinLTO as the baseline, a leaf randconfig (the crypto algorithms free)
plus the two culprit options as the bad config. The bad config also switches a choice that
6.11+ Kconfig settles by its priority list (kernel compression: KERNEL_GZIP -> KERNEL_XZ, which
the build never uses), so the search builds half-switched choices and must still end on the two
culprits, with a fragment the kernel's own `make olddefconfig` reads the same, appended and
through merge_config.sh.

In the default tier the planted fault is a compile error in fs/exec.c (active only with
LTO_CLANG, USELIB and CROSS_MEMORY_ATTACH), so each test builds the `fs/` directory: a few
seconds, where a ThinLTO link of vmlinux costs half a minute. The ThinLTO link failure on 6.12
(`ld.lld: error: undefined symbol`) is the slow tier's run below; 6.1's twin runs the link by
default (tests/test_e2e_kernel.py). The default run starts with the session, in the
background (tests/background.py).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import background
from e2e_support import Run, fragment_lines, leaf_randconfig, minimize
from ltobisect.testing.planted import Fault, scratch_tree

pytestmark = pytest.mark.kernel

LLVM = "-19"
REQUIRES = ("LTO_CLANG", "USELIB", "CROSS_MEMORY_ATTACH")
MESSAGE = "ltobisect e2e 6.12 planted compile error"
COMPILE_FAULT = Fault("fs/exec.c", REQUIRES, "error", MESSAGE)
SYMBOL = "ltobisect_e2e_612_missing"
LTO_LINK_FAULT = Fault("fs/exec.c", REQUIRES, "undefined", SYMBOL)
CULPRITS = {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"}


def _run(fault: Fault, kernel_tree_612: Path, shared_ccache: Path, work: Path, pytestconfig) -> Run:
    tree = scratch_tree(kernel_tree_612, work / "linux", [fault])
    baseline, bad = leaf_randconfig(kernel_tree_612, work, seed=3, llvm=LLVM,
                                    enable=sorted(CULPRITS) + ["CONFIG_KERNEL_XZ=y"])
    return minimize(bad, tree, work / "state", shared_ccache, "--arch", "x86_64",
                    "--baseline", str(baseline), "--no-lto-matrix", timeout=75 * 60,
                    pytestconfig=pytestconfig, llvm=LLVM)


@background.fixture
def minimized(kernel_tree_612: Path, shared_ccache: Path, tmp_path_factory, pytestconfig) -> Run:
    return _run(COMPILE_FAULT, kernel_tree_612, shared_ccache, tmp_path_factory.mktemp("e2e612"),
                pytestconfig)


@background.fixture
def linked(kernel_tree_612: Path, shared_ccache: Path, tmp_path_factory, pytestconfig) -> Run:
    """The same search with the ThinLTO link failure: every test links vmlinux. Slow tier."""
    return _run(LTO_LINK_FAULT, kernel_tree_612, shared_ccache, tmp_path_factory.mktemp("e2e612-link"),
                pytestconfig)


def test_the_bad_config_switches_a_choice(minimized: Run) -> None:
    bad = (minimized.state.parent / "bad.config").read_text()
    assert "CONFIG_KERNEL_XZ=y" in bad and "# CONFIG_KERNEL_GZIP is not set" in bad
    assert minimized.summary()["total_changes"] >= 50


def test_minimizes_the_612_compile_error_to_its_two_options(minimized: Run) -> None:
    assert minimized.proc.returncode == 0, minimized.proc.stderr[-3000:]
    assert "Traceback" not in minimized.proc.stderr
    assert fragment_lines(minimized.state) == CULPRITS
    summary = minimized.summary()
    assert summary["status"] == "minimized"
    assert summary["signature"]["kind"] == "compile-error"
    assert summary["signature"]["location"].startswith("fs/exec.c")
    assert MESSAGE in summary["signature"]["message"]
    # Every build after the bad config's own (where the signature comes from) made only the
    # directory of the failing file: each log starts with its make command line.
    heads = [log.read_text().splitlines()[0] for log in (minimized.state / "logs").glob("*.log")]
    assert len(heads) >= 10
    assert sum(head.endswith(" fs/") for head in heads) == len(heads) - 1, heads


def test_the_kernels_tools_read_the_fragment_as_tested(minimized: Run) -> None:
    mk = minimized.summary()["verification"]["olddefconfig"]
    assert mk["checked"] is True and mk["equal"] is True, mk
    assert mk["readings"]["appended"]["equal"] is True
    assert mk["readings"]["merge_config"]["equal"] is True
    report = (minimized.state / "report.txt").read_text()
    assert "6.12." in report and "clang version 19" in report
    assert "NOT EXACT" not in report
    assert "make O=" in report and "fs/" in report  # the maintainer's make builds the directory
    # Every build's own conf (syncconfig) left the config we resolved, byte for byte in settings.
    assert minimized.summary()["conf_disagreements"] == 0


@pytest.mark.slow  # every test a ThinLTO link of vmlinux: about three times the default run's cost
def test_minimizes_the_612_lto_link_failure_to_its_two_options(linked: Run) -> None:
    assert linked.proc.returncode == 0, linked.proc.stderr[-3000:]
    assert fragment_lines(linked.state) == CULPRITS
    summary = linked.summary()
    assert summary["status"] == "minimized"
    assert summary["signature"]["tool"] == "ld.lld"
    assert SYMBOL in summary["signature"]["message"] + summary["signature"]["location"]
    mk = summary["verification"]["olddefconfig"]
    assert mk["checked"] is True and mk["equal"] is True, mk


@pytest.mark.slow  # a whole 6.12 LTO build from an empty O=: 6.1's twin runs by default
def test_reproduce_sh_reproduces_on_612(linked: Run, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(["sh", str(linked.state / "reproduce.sh"), "-o", str(out)],
                          capture_output=True, text=True, timeout=30 * 60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SYMBOL in (out / "reproduce.log").read_text()
