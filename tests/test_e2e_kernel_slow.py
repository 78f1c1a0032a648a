"""The slower real-kernel tier (`pytest -m slow`): whole minimizations that take 15-40 minutes each
on 2 cores, so they are not in the default run.

Every bad config is made by the kernel's own `make randconfig` (KCONFIG_SEED,
KCONFIG_PROBABILITY, KCONFIG_ALLCONFIG forcing the LTO mode), and a fault is planted in a
scratch copy of the tree that needs options the bad config has:

- arm64, cross-built by clang-16 (LLVM=-16 ARCH=arm64) with two workers, from a general
  randconfig made exactly as examples/linux-lto/make-bad-config.sh documents: a compile error
  needing two options, so tests build only the failing directory;
- x86_64 with full LTO against a baseline without LTO: a link failure that needs LTO_CLANG_FULL
  and one more option, so LTO itself is a culprit and half the tests switch LTO off and on;
- x86_64 ThinLTO, a resource failure: module-level asm that makes the LTO link need more than
  600 MB only with two options set, minimized with `--mem-above`.

The last two start from "leaf" randconfigs (random only among the crypto algorithms, like the
default tier's) because every one of their tests ends in an LTO link of vmlinux: with a general
randconfig each test also recompiles most of the tree (3-4 minutes here, 80 % ccache misses).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import fragment_lines, leaf_randconfig, make_bad_config, minimize
from ltobisect.testing.planted import Fault, scratch_tree

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

FAULT_OPTIONS = ("CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y", "CONFIG_FHANDLE=y")


def _setup(kernel_tree: Path, tmp_path: Path, faults, *, arch: str, seed: int):
    tree = scratch_tree(kernel_tree, tmp_path / "linux", faults)
    bad = make_bad_config(kernel_tree, tmp_path / "bad.config", arch=arch, seed=seed,
                          extra=FAULT_OPTIONS)
    return tree, bad


def _assert_minimized(run, expected: set) -> None:
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    assert "Traceback" not in run.proc.stderr
    assert fragment_lines(run.state) == expected
    summary = run.summary()
    assert summary["status"] == "minimized" and summary["verified"] is True
    assert summary["total_changes"] >= 30


def test_arm64_cross_build_compile_error(kernel_tree, shared_ccache, tmp_path, pytestconfig):
    fault = Fault("fs/fhandle.c", ("FHANDLE", "CROSS_MEMORY_ATTACH"), "error",
                  "ltobisect planted arm64 fault")
    tree, bad = _setup(kernel_tree, tmp_path, [fault], arch="arm64", seed=5)
    # Two workers (two output trees, builds side by side): the parallel search on real builds.
    run = minimize(bad, tree, tmp_path / "state", shared_ccache, "--arch", "arm64",
                   "--workers", "2", pytestconfig=pytestconfig)
    _assert_minimized(run, {"CONFIG_FHANDLE=y", "CONFIG_CROSS_MEMORY_ATTACH=y"})
    slots = {ev["slot"] for ev in run.events() if ev.get("event") == "TestFinished"}
    assert slots == {0, 1}, slots
    assert "ltobisect planted arm64 fault" in (run.state / "report.txt").read_text()
    assert "ARCH=arm64" in (run.state / "reproduce.sh").read_text()


def test_full_lto_link_failure(kernel_tree, shared_ccache, tmp_path, pytestconfig):
    symbol = "ltobisect_full_lto_missing"
    fault = Fault("fs/exec.c", ("LTO_CLANG_FULL", "USELIB"), "undefined", symbol)
    tree = scratch_tree(kernel_tree, tmp_path / "linux", [fault])
    full_lto = ("# CONFIG_LTO_NONE is not set", "# CONFIG_LTO_CLANG_THIN is not set",
                "CONFIG_LTO_CLANG_FULL=y")
    baseline, bad = leaf_randconfig(kernel_tree, tmp_path, seed=7, lto="none",
                                    enable=[*full_lto, *FAULT_OPTIONS[:2]])
    assert "CONFIG_LTO_CLANG_FULL=y" in bad.read_text()
    assert "CONFIG_LTO_NONE=y" in baseline.read_text()
    run = minimize(bad, tree, tmp_path / "state", shared_ccache, "--arch", "x86_64",
                   "--baseline", str(baseline), pytestconfig=pytestconfig)
    _assert_minimized(run, {"CONFIG_LTO_CLANG_FULL=y", "CONFIG_USELIB=y"})
    assert f"undefined symbol: {symbol}" in (run.state / "report.txt").read_text()


def test_link_needing_too_much_memory(kernel_tree, shared_ccache, tmp_path, pytestconfig):
    # 20M .quad directives: under ThinLTO the module asm is assembled in the LTO link, whose
    # build then goes past 1.1 GB (measured here: tests without it 130-330 MB, the bad config's
    # cold -j2 build 2.4 GB). The threshold sits well between the two. A test is stopped as
    # soon as it crosses the threshold, so the peaks recorded for reproducing tests sit just
    # above it (1.0-1.1 GB with 1G, 603-663 MB with 600M, 450-503 MB with 450M).
    hog = Fault("fs/exec.c", ("USELIB", "CROSS_MEMORY_ATTACH"), "raw", "memory hog",
                code='asm(".pushsection .data\\n.rept 20000000\\n.quad 0\\n.endr\\n.popsection");')
    tree = scratch_tree(kernel_tree, tmp_path / "linux", [hog])
    baseline, bad = leaf_randconfig(kernel_tree, tmp_path, seed=2, enable=FAULT_OPTIONS)
    run = minimize(bad, tree, tmp_path / "state", shared_ccache, "--arch", "x86_64",
                   "--baseline", str(baseline), "--mem-above", "600M", "--target", "vmlinux",
                   pytestconfig=pytestconfig)
    _assert_minimized(run, {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"})
    assert run.summary()["signature"]["kind"] == "memory"
