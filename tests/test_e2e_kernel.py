"""Real kernel, end to end: `ltobisect minimize` on Linux 6.1 with clang-16 and ThinLTO.

The baseline is tinyconfig with ThinLTO; the bad config is the kernel's own `make randconfig`
(fixed seed) free only in the crypto algorithms, plus two options, so it differs from the
baseline in more than 50 changes that are each cheap to rebuild (a general randconfig flips
options that half the tree depends on and costs ~3-4 minutes per test here: that case, with
LTO itself among the culprits, is in the slow tier). A scratch copy of the tree carries a
planted fault that breaks the ThinLTO link (`ld.lld: error: undefined symbol`) only when
LTO_CLANG, USELIB and CROSS_MEMORY_ATTACH are all on.
The whole minimization runs through the real command line, with real builds, then the artifacts
are checked the way a maintainer would use them: `reproduce.sh` from a clean output directory.

One minimization is shared by the tests of this module (it is the expensive part: a cold build of
the bad config, then incremental builds in the persistent worker directory with ccache). It
starts with the session, in the background (tests/background.py). The LTO matrix, two more cold
builds, is checked in the slow tier on a run of its own.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import background
from e2e_support import REPO, Run, fragment_lines, leaf_randconfig, minimize
from ltobisect.testing.planted import Fault, git_history_over, scratch_tree

pytestmark = pytest.mark.kernel

SYMBOL = "ltobisect_e2e_lto_missing"
LTO_LINK_FAULT = Fault("fs/exec.c", ("LTO_CLANG", "USELIB", "CROSS_MEMORY_ATTACH"), "undefined", SYMBOL)
CULPRITS = {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"}


@background.fixture
def minimized(kernel_tree: Path, shared_ccache: Path, tmp_path_factory, pytestconfig) -> Run:
    work = tmp_path_factory.mktemp("e2e")
    tree = scratch_tree(kernel_tree, work / "linux", [LTO_LINK_FAULT])
    baseline, bad = leaf_randconfig(kernel_tree, work, seed=2, enable=sorted(CULPRITS))
    # The LTO matrix (two more cold builds, about 7 minutes here) has its own run below.
    return minimize(bad, tree, work / "state", shared_ccache, "--arch", "x86_64",
                    "--baseline", str(baseline), "--no-lto-matrix", timeout=75 * 60,
                    pytestconfig=pytestconfig)


@background.fixture
def with_lto_matrix(kernel_tree: Path, shared_ccache: Path, tmp_path_factory, pytestconfig) -> Run:
    """The LTO matrix on the real kernel: the baseline plus the two culprits as the bad config
    (a search of a few builds), then its result built without LTO and with full LTO, each a
    cold build of its own (another compiler mode: no object in ccache). Slow tier."""
    work = tmp_path_factory.mktemp("e2e-lto")
    tree = scratch_tree(kernel_tree, work / "linux", [LTO_LINK_FAULT])
    baseline, bad = leaf_randconfig(kernel_tree, work, seed=2, enable=sorted(CULPRITS), probability=0)
    return minimize(bad, tree, work / "state", shared_ccache, "--arch", "x86_64",
                    "--baseline", str(baseline), timeout=75 * 60, pytestconfig=pytestconfig)


def test_minimizes_the_lto_link_failure_to_its_two_options(minimized: Run) -> None:
    assert minimized.proc.returncode == 0, minimized.proc.stderr[-3000:]
    assert "Traceback" not in minimized.proc.stderr
    assert fragment_lines(minimized.state) == CULPRITS
    summary = minimized.summary()
    assert summary["status"] == "minimized"
    assert summary["total_changes"] >= 50
    assert SYMBOL in summary["signature"]["message"] + summary["signature"]["location"]
    assert summary["signature"]["tool"] == "ld.lld"


@pytest.mark.slow
def test_the_lto_matrix_builds_without_lto_and_fails_the_same_way_with_full_lto(with_lto_matrix: Run) -> None:
    # The planted fault needs LTO_CLANG, which both ThinLTO and full LTO select.
    assert with_lto_matrix.proc.returncode == 0, with_lto_matrix.proc.stderr[-3000:]
    assert fragment_lines(with_lto_matrix.state) == CULPRITS
    matrix = json.loads((with_lto_matrix.state / "result.json").read_text())["lto_matrix"]
    assert matrix["reported"] == "thin"
    assert {m["lto"]: m["outcome"] for m in matrix["modes"]} == {"none": "builds", "full": "reproduces"}
    report = (with_lto_matrix.state / "report.txt").read_text()
    assert "builds without LTO" in report and "fails the same way with full LTO" in report


def test_the_default_tier_run_left_the_lto_matrix_out(minimized: Run) -> None:
    assert json.loads((minimized.state / "result.json").read_text()).get("lto_matrix") in (None, {})


def test_the_report_is_ready_for_a_mailing_list(minimized: Run) -> None:
    report = (minimized.state / "report.txt").read_text()
    assert all(len(line) <= 80 for line in report.splitlines())
    assert f"undefined symbol: {SYMBOL}" in report
    assert all(c in report for c in CULPRITS)
    assert "clang version 16" in report and "LLD 16" in report
    assert "6.1." in report  # make kernelversion
    assert "make O=" in report or "make -C" in report  # the reproduce commands


def test_the_result_resolves_as_the_kernels_own_olddefconfig(minimized: Run) -> None:
    summary = minimized.summary()
    assert summary["verified"] is True
    mk = summary["verification"]["olddefconfig"]
    assert mk["checked"] is True and mk["equal"] is True, mk
    assert mk["readings"]["appended"]["equal"] and mk["readings"]["merge_config"]["equal"]
    # Every build's own conf (syncconfig) left the config we resolved.
    assert summary["conf_disagreements"] == 0


def test_reproduce_sh_reproduces_from_a_clean_output_directory(minimized: Run, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(["sh", str(minimized.state / "reproduce.sh"), "-o", str(out)],
                          capture_output=True, text=True, timeout=30 * 60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SYMBOL in (out / "reproduce.log").read_text()


def test_the_pristine_tree_is_untouched(minimized: Run, kernel_tree: Path) -> None:
    assert SYMBOL in (minimized.tree / "fs" / "exec.c").read_text()
    assert SYMBOL not in (kernel_tree / "fs" / "exec.c").read_text()
    assert not (kernel_tree / ".config").exists()


@pytest.mark.slow
def test_a_git_history_over_the_tree_bisects_to_the_commit_that_planted_the_failure(
        minimized: Run, kernel_tree: Path, tmp_path: Path) -> None:
    """`ltobisect bisect` on Linux 6.1: a history of our own over the Debian tree (the tree as
    the first commit, six commits on top: two unrelated, one breaking the build another way and
    its fix, the planted link failure, one more unrelated), bisected with the session's minimal
    config through the CLI: the skip, the Fixes: line and the revert check."""
    assert minimized.proc.returncode == 0, minimized.proc.stderr[-3000:]
    main_c = (kernel_tree / "init" / "main.c").read_text()
    exec_c = (minimized.tree / "fs" / "exec.c").read_text()  # with the planted fault
    doc = (kernel_tree / "Documentation" / "process" / "changes.rst").read_text()
    shas = git_history_over(kernel_tree, tmp_path / "linux.git", [
        ("Documentation: changes: a note", {"Documentation/process/changes.rst": doc + "\nA note.\n"}),
        ("MAINTAINERS-like note", {"Documentation/process/changes.rst": doc + "\nNotes.\n"}),
        ("init: start the kernel differently", {"init/main.c": main_c + "\nint ltobisect_broken(void) { return undeclared_thing; }\n"}),
        ("init: fix the build", {"init/main.c": main_c}),
        ("exec: call the LTO helper", {"fs/exec.c": exec_c}),
        ("Documentation: one more note", {"Documentation/process/changes.rst": doc + "\nMore.\n"}),
    ], first="Linux 6.1 (Debian's tree)")
    state = tmp_path / "state"
    shutil.copytree(minimized.state, state, symlinks=True, ignore=shutil.ignore_patterns("workers"))
    proc = subprocess.run([sys.executable, "-m", "ltobisect", "bisect", str(state), "--repo",
                           str(tmp_path / "linux.git"), "--good", shas[0], "--bad", shas[-1],
                           "--verify", "1", "--json"], capture_output=True, text=True,
                          timeout=60 * 60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    b = json.loads(proc.stdout.splitlines()[-1])["bisect"]
    print(json.dumps({k: b[k] for k in ("builds", "build_seconds", "steps")}, indent=1))
    assert b["first_bad"] == shas[5]
    assert b["commit"]["fixes"] == f'Fixes: {shas[5][:12]} ("exec: call the LTO helper")'
    assert [s["rev"] for s in b["skipped"]] == [shas[3]]
    assert b["skipped"][0]["why"] == ("clang: use of undeclared identifier 'undeclared_thing' "
                                      "[init/main.c] (compile-error)")
    assert b["revert"]["line"] == f"reverted on {shas[-1][:12]}, it builds clean"
    assert b["confidence"]["flaky"] == []
    report = (state / "report.txt").read_text()
    assert f'First bad commit: {shas[5][:12]} ("exec: call the LTO helper")' in report
