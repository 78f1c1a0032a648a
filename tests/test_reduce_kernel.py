"""Real kernel (slow tier): `ltobisect minimize --reduce` on Linux 6.1's ThinLTO link failure.

The same planted fault and leaf randconfig as test_e2e_kernel.py (an undefined symbol at the
final link of an LTO vmlinux, needing LTO_CLANG, USELIB and CROSS_MEMORY_ATTACH), minimized and
then reduced in one command: the failing link's `ld.lld --reproduce` tarball must relink alone;
its input vmlinux.o was made by the ThinLTO `-r` link, so the reduction steps back to that link
(kbuild's .vmlinux.o.cmd) and its inputs (the members of the thin archive vmlinux.a, hundreds
of bitcode objects) must come down to the one object that calls the symbol, and that object's
IR, merged and reduced by llvm-reduce-16, to a few lines that ld.lld-16 still rejects with the
same error through both links, from the attachment alone.

And a real LLVM 16 bug: the KCOV crash of ld.lld-16 at the ThinLTO link (shared kernel facts),
from a randconfig of the kcov options with the trigger forced, reduced to a few functions that
ld.lld-16 still aborts on.
"""
from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from e2e_support import REPO, fragment_lines, leaf_randconfig, minimize
from ltobisect.testing.planted import Fault, scratch_tree

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SYMBOL = "ltobisect_e2e_lto_missing"
LTO_LINK_FAULT = Fault("fs/exec.c", ("LTO_CLANG", "USELIB", "CROSS_MEMORY_ATTACH"), "undefined", SYMBOL)
CULPRITS = {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"}
#: What the tests of the `reduced` fixture need (skipped by hand without it, failed in CI).
needs_reducers = pytest.mark.needs("llvm-reduce-16", "cvise")


@pytest.fixture(scope="module")
def reduced(kernel_tree: Path, shared_ccache: Path, tmp_path_factory, pytestconfig):
    """One minimization with --reduce; its tests are marked ``needs_reducers``."""
    work = tmp_path_factory.mktemp("reduce")
    tree = scratch_tree(kernel_tree, work / "linux", [LTO_LINK_FAULT])
    baseline, bad = leaf_randconfig(kernel_tree, work, seed=2, enable=sorted(CULPRITS))
    return minimize(bad, tree, work / "state", shared_ccache, "--arch", "x86_64",
                    "--baseline", str(baseline), "--reduce", "--no-lto-matrix",
                    timeout=80 * 60, pytestconfig=pytestconfig)


@needs_reducers
def test_the_link_reduces_to_one_small_module(reduced) -> None:
    assert reduced.proc.returncode == 0, reduced.proc.stderr[-3000:]
    assert fragment_lines(reduced.state) == CULPRITS
    red = reduced.summary()["reduced"]
    assert red["kind"] == "link" and red["linker"] == "ld.lld-16"
    assert red["relinks"] is True
    # The undefined symbol shows at the final link, whose input vmlinux.o the -r link made with
    # ThinLTO: the reduction steps back to that link and cuts the members of vmlinux.a.
    assert red["after"]["inputs"] <= 2, red
    first = red["first_link"]
    assert first["made"].endswith("/vmlinux.o")
    assert first["before"]["inputs"] >= 100
    assert first["after"]["inputs"] <= 3, red
    assert red["module"]["merged"] is True
    assert red["module"]["after_bytes"] < red["module"]["before_bytes"] / 10
    assert red["complete"] is True and red["reruns"] is True
    ll = (reduced.state / "reduced" / "link" / "reduced.ll").read_text()
    assert SYMBOL in ll
    assert ll.count("define ") <= 3, ll
    report = (reduced.state / "report.txt").read_text()
    assert "Reduced reproducer:" in report and "reruns alone" in report


@needs_reducers
def test_the_reduced_link_reruns_from_the_attachment_alone(reduced, tmp_path: Path) -> None:
    with tarfile.open(reduced.state / "reduced" / "reduced.tar.gz") as tar:
        tar.extractall(tmp_path)
    proc = subprocess.run(["sh", str(tmp_path / "reduced" / "repro.sh")], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"undefined symbol: {SYMBOL}" in proc.stdout


@needs_reducers
def test_a_second_reduce_runs_no_test_again(reduced) -> None:
    tests = reduced.state / "reduce" / "tests.jsonl"
    before = tests.read_text()
    proc = subprocess.run([sys.executable, "-m", "ltobisect", "reduce", str(reduced.state),
                           "--json"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tests.read_text() == before
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["reduced"]["after"] == reduced.summary()["reduced"]["after"]


@pytest.mark.needs("cvise")
def test_a_real_w1_compile_error_reduces_to_a_few_lines(kernel_tree: Path, shared_ccache: Path,
                                                        tmp_path: Path, pytestconfig) -> None:
    """examples/linux-lto/real/6.1-x86_64-clang16-w1-vdso: a W=1 error of the real 6.1 tree
    (no previous prototype for arch_get_vdso_data), found by a randconfig hunt; its
    preprocessed vma.c (about 58,000 lines) must come down to a few lines that clang-16 with
    the kernel's flags still rejects the same way, from the attachment alone."""
    case = REPO / "examples" / "linux-lto" / "real" / "6.1-x86_64-clang16-w1-vdso"
    meta = json.loads((case / "case.json").read_text())
    out = tmp_path / "expand"
    out.mkdir()
    (out / ".config").write_text((case / "bad.defconfig").read_text())
    subprocess.run(["make", "-s", "-C", str(kernel_tree), f"O={out}", "ARCH=x86_64", "LLVM=-16",
                    "W=1", "olddefconfig"], check=True, capture_output=True, text=True)
    bad = tmp_path / "bad.config"
    bad.write_text((out / ".config").read_text())
    log = tmp_path / "build.log"
    log.write_bytes(lzma.decompress((case / "build.log.xz").read_bytes()))
    run = minimize(bad, kernel_tree, tmp_path / "state", shared_ccache, "--arch", "x86_64",
                   "--log", str(log), "--workers", "2", "--no-lto-matrix", "--make", "W=1",
                   *meta["args"], "--reduce", "--reduce-budget", "30m", timeout=60 * 60,
                   pytestconfig=pytestconfig)
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    red = run.summary()["reduced"]
    assert red["kind"] == "source" and red["reruns"] is True, red
    assert red["before"]["lines"] > 10000
    assert red["after"]["lines"] <= 10, (run.state / "reduced" / "reduced.i").read_text()
    reduced = (run.state / "reduced" / "reduced.i").read_text()
    assert "arch_get_vdso_data" in reduced
    proc = subprocess.run(["sh", str(run.state / "reduced" / "repro.sh")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no previous prototype for function 'arch_get_vdso_data'" in proc.stdout


#: The options under which Linux 6.1 with clang-16 ThinLTO crashes ld.lld-16 (shared kernel facts):
#: kcov's comparison callbacks, called without a debug location, in a kernel with debug info.
KCOV_TRIGGER = ["CONFIG_DEBUG_KERNEL=y", "CONFIG_KCOV=y", "CONFIG_KCOV_ENABLE_COMPARISONS=y",
                "CONFIG_KCOV_INSTRUMENT_ALL=y", "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y"]
#: What keeps Clang LTO possible under DEBUG_KERNEL (HAS_LTO_CLANG: !GCOV_KERNEL, !KASAN).
KEEP_LTO = ["# CONFIG_GCOV_KERNEL is not set", "# CONFIG_KASAN is not set", "CONFIG_LTO_CLANG_THIN=y"]


@pytest.mark.needs("llvm-reduce-16")
def test_the_real_llvm16_kcov_crash_reduces_to_two_small_modules(
        kernel_tree: Path, shared_ccache: Path, tmp_path: Path, pytestconfig) -> None:
    """A real LLVM 16 bug at the ThinLTO link (ClangBuiltLinux issue 1721, fixed in clang 17):
    a randconfig of the kcov and debug options with the trigger forced, minimized and reduced
    in one command. The merged module is refused by llvm-link's verifier, so each module left
    is reduced on its own: a caller whose comparison callback has no debug location, and the
    callback kcov.c defines; ld.lld-16 still aborts on them, from the attachment alone, and
    the stage is the ThinLTO backend's optimization."""
    # The options DEBUG_KERNEL makes visible are not in tinyconfig's text, so the randconfig
    # draws them too; GCOV_KERNEL and KASAN would turn LTO off (pinned off), and seeds are tried
    # in order until the config keeps ThinLTO and the trigger.
    for seed in range(3, 13):
        work = tmp_path / f"seed{seed}"
        work.mkdir()
        baseline, bad = leaf_randconfig(kernel_tree, work, seed=seed, area="KCOV",
                                        probability=30, enable=KCOV_TRIGGER + KEEP_LTO)
        text = bad.read_text()
        if "CONFIG_LTO_CLANG_THIN=y" in text and all(t in text for t in KCOV_TRIGGER):
            break
    else:
        pytest.fail("no randconfig of seeds 3-12 kept ThinLTO with the trigger")
    run = minimize(bad, kernel_tree, tmp_path / "state", shared_ccache, "--arch", "x86_64",
                   "--baseline", str(baseline), "--no-lto-matrix", "--reduce",
                   "--reduce-budget", "30m", "--llvm-matrix", "-16,-19", timeout=90 * 60,
                   pytestconfig=pytestconfig)
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    s = run.summary()
    # The LLVM axis: the minimal config, resolved by Kconfig for clang-19, builds with LLVM 19.
    assert [(r["llvm"], r["outcome"]) for r in s["llvm_matrix"]["releases"]] == \
        [("16", "reproduces"), ("19", "builds")], s["llvm_matrix"]
    assert s["llvm_matrix"]["line"].startswith("LLVM: fails with 16; builds with 19;")
    assert s["signature"]["kind"] == "crash" and s["signature"]["tool"] == "ld.lld"
    assert "inlinable function call in a function with debug info" in s["signature"]["message"]
    frag = fragment_lines(run.state)
    assert {"CONFIG_KCOV_ENABLE_COMPARISONS=y", "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y"} \
        <= frag and len(frag) <= 5, frag
    red = s["reduced"]
    assert red["relinks"] is True and red["complete"] is True and red["reruns"] is True, red
    assert red["after"]["inputs"] <= 3, red
    mod = red["module"]
    assert mod["merged"] is False and mod["complete"] is True, mod
    assert mod["after_bytes"] < mod["before_bytes"] / 10, mod
    lls = [(run.state / "reduced" / f).read_text() for f in red["module_files"]]
    assert any("kcov" in f for f in red["module_files"])
    assert sum(ll.count("define ") for ll in lls) <= 4
    assert any("call void @__sanitizer_cov_trace_" in ll for ll in lls)
    assert red["stage"]["stage"] == "ThinLTO backend optimization"
    with tarfile.open(run.state / "reduced" / "reduced.tar.gz") as tar:
        tar.extractall(tmp_path / "download")
    proc = subprocess.run(["sh", str(tmp_path / "download" / "reduced" / "repro.sh")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "LLVM ERROR: Broken module found" in proc.stdout
    # The reduced link (IR clang-16 wrote) fails the same way with ld.lld-19: what is wrong is
    # what clang-16 emits, which clang 17+ no longer does (its builds link).
    assert s["reduced"]["llvm"] == {"19": "reproduces"}, s["reduced"]
