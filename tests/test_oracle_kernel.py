"""Real builds of the real Linux 6.1 tree (x86_64, tinyconfig + ThinLTO) with planted faults.

The faults (ltobisect/testing/planted.py) are reachable only when two options are both set:
PAIR_ERROR (FHANDLE + CROSS_MEMORY_ATTACH: #error in fs/fhandle.c), OTHER_ERROR (FHANDLE +
USELIB: another #error in the same file), PAIR_UNDEFINED (USELIB +
CROSS_MEMORY_ATTACH: undefined symbol at the vmlinux link) and LTO_UNDEFINED (LTO_CLANG +
USELIB: another undefined symbol). All tests share one worker slot (a persistent O=
directory) and the session's ccache, as a minimization does; they run in file order.

Default run (cold ccache, 2 cores): ~1 min of directory-target builds of fs/, one full vmlinux
(~2.5 min) and one incremental relink. The slow tier adds an LTO-off build.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ltobisect.logs import signature as sigmod
from ltobisect.model import Signature, Verdict
from ltobisect.oracle import KernelOracle

from ltobisect.testing.planted import (LTO_UNDEFINED, OTHER_ERROR, PAIR_ERROR, PAIR_UNDEFINED, kernel_config, lto_spec,
                             resolved_config, scratch_tree)

from support import wait_until

pytestmark = pytest.mark.kernel

OURS = Signature(kind="compile-error", tool="clang", message=f'"{PAIR_ERROR.message}"', location="fs/fhandle.c")
THEIRS = Signature(kind="compile-error", tool="clang", message=f'"{OTHER_ERROR.message}"', location="fs/fhandle.c")
UNDEFINED = Signature(kind="link-error", tool="ld.lld", message=f"undefined symbol: {PAIR_UNDEFINED.message}",
                      location=PAIR_UNDEFINED.message)


class Env:
    """The module's scratch tree, config factory and oracle."""

    def __init__(self, root: Path, kernel_tree: Path, ccache: Path) -> None:
        self.root = root
        self.tree = scratch_tree(kernel_tree, root / "tree", [PAIR_ERROR, OTHER_ERROR, PAIR_UNDEFINED, LTO_UNDEFINED])
        self.spec = lto_spec(self.tree, ccache)
        self.oracle = KernelOracle(self.spec, root / "state")
        self._configs: dict = {}

    def config(self, *enable: str, lto: str = "thin"):
        key = (tuple(sorted(enable)), lto)
        if key not in self._configs:
            text = kernel_config(self.spec, self.root / "cfg", enable=enable, lto=lto)
            for opt in enable:
                assert f"CONFIG_{opt}=y" in text, f"{opt} did not take effect"
            assert ("CONFIG_LTO_CLANG_THIN=y" in text) == (lto == "thin")
            self._configs[key] = resolved_config(text)
        return self._configs[key]


@pytest.fixture(scope="module")
def env(kernel_tree: Path, shared_ccache: Path, tmp_path_factory) -> Env:
    return Env(tmp_path_factory.mktemp("kernel"), kernel_tree, shared_ccache)


def test_scratch_tree_leaves_the_pristine_tree_alone(env: Env, kernel_tree: Path) -> None:
    planted = (env.tree / "fs" / "fhandle.c").read_text()
    pristine = (kernel_tree / "fs" / "fhandle.c").read_text()
    assert PAIR_ERROR.message in planted and PAIR_ERROR.message not in pristine
    assert os.stat(env.tree / "fs" / "fhandle.c").st_ino != os.stat(kernel_tree / "fs" / "fhandle.c").st_ino
    assert os.stat(env.tree / "fs" / "open.c").st_ino == os.stat(kernel_tree / "fs" / "open.c").st_ino


def test_compile_error_needs_both_options(env: Env) -> None:
    """Directory target fs/: the pair reproduces, either option alone passes."""
    oracle = env.oracle.with_signature(OURS)
    assert oracle.targets() == ["fs/"]
    both = oracle.test(env.config("FHANDLE", "CROSS_MEMORY_ATTACH"), 0)
    assert both.verdict is Verdict.REPRODUCES, both.detail
    assert both.peak_rss is not None and both.peak_rss > 20 * 2**20
    assert both.exit_code not in (0, None)
    one = oracle.test(env.config("FHANDLE"), 0)
    assert one.verdict is Verdict.PASSES, one.detail
    other = oracle.test(env.config("CROSS_MEMORY_ATTACH"), 0)
    assert other.verdict is Verdict.PASSES, other.detail
    # Incremental in the slot's persistent O= directory: a handful of objects, where the first
    # build made the host tools and all of fs/.
    compiled = [_compiled(out.log_path) for out in (both, other)]
    assert 0 < compiled[1] < compiled[0] // 4, compiled


def test_a_different_planted_fault_is_other_failure(env: Env) -> None:
    oracle = env.oracle.with_signature(OURS)
    out = oracle.test(env.config("FHANDLE", "USELIB"), 0)
    assert out.verdict is Verdict.OTHER_FAILURE, out.detail
    assert out.signature == THEIRS
    # Both faults in one build: ours is there, so it reproduces.
    both = oracle.test(env.config("FHANDLE", "USELIB", "CROSS_MEMORY_ATTACH"), 0)
    assert both.verdict is Verdict.REPRODUCES, both.detail


def test_observe_extracts_the_real_signature_and_excerpt(env: Env) -> None:
    from dataclasses import replace

    observer = KernelOracle(replace(env.spec, target="fs/"), env.root / "state")
    out = observer.observe(env.config("FHANDLE", "CROSS_MEMORY_ATTACH"), 0)
    assert out.verdict is Verdict.OTHER_FAILURE
    assert out.signature == OURS
    text = Path(out.log_path).read_text()
    assert PAIR_ERROR.message in sigmod.excerpt(text, out.signature)
    assert str(env.tree) in text  # the raw log has the paths; the signature does not


@pytest.mark.slow  # a cold vmlinux build; tests/test_e2e_kernel.py has the default run's link failure
def test_link_error_reproduces_and_another_symbol_does_not(env: Env) -> None:
    """vmlinux target: undefined symbol at the final link; LTO_UNDEFINED is another failure."""
    oracle = env.oracle.with_signature(UNDEFINED)
    assert oracle.targets() == ["vmlinux"]
    out = oracle.test(env.config("USELIB", "CROSS_MEMORY_ATTACH"), 0)
    assert out.verdict is Verdict.REPRODUCES, out.detail
    text = Path(out.log_path).read_text()
    assert re.search(r"ld\.lld(-16)?: error: undefined symbol: ltobisect_planted_missing", text)
    lto_only = oracle.test(env.config("USELIB"), 0)
    assert lto_only.verdict is Verdict.OTHER_FAILURE, lto_only.detail
    assert lto_only.signature.location == LTO_UNDEFINED.message


@pytest.mark.slow
def test_lto_only_fault_passes_without_lto(env: Env) -> None:
    lto_sig = Signature(kind="link-error", tool="ld.lld", message=f"undefined symbol: {LTO_UNDEFINED.message}",
                        location=LTO_UNDEFINED.message)
    oracle = env.oracle.with_signature(lto_sig)
    assert oracle.test(env.config("USELIB"), 0).verdict is Verdict.REPRODUCES
    assert oracle.test(env.config("USELIB", lto="none"), 0).verdict is Verdict.PASSES


def test_timeout_kills_a_real_build_and_all_it_started(env: Env) -> None:
    """A build of minutes with a 4 s timeout: the verdict says the timeout ended it, and no
    process of its O= directory is left (how fast is benchmarks/' business)."""
    oracle = env.oracle.with_signature(UNDEFINED).with_timeout(4.0)
    # A config change forces real compiler work in the slot's O= directory.
    out = oracle.test(env.config("FHANDLE", "USELIB", "CROSS_MEMORY_ATTACH"), 1)
    assert out.verdict is Verdict.TIMEOUT
    workers = str(env.root / "state" / "workers" / "1")

    def leftovers() -> list:
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    cmd = Path(f"/proc/{name}/cmdline").read_bytes()
                except OSError:
                    continue
                if workers.encode() in cmd:
                    found.append(cmd[:120])
        return found

    wait_until(lambda: leftovers() == [], timeout=10,
               what="no process of the timed-out build left")


@pytest.mark.slow
def test_arm64_cross_build_of_one_directory(env: Env) -> None:
    """Any ARCH clang can target: arm64 tinyconfig + ThinLTO, directory target fs/ with the planted pair."""
    from dataclasses import replace

    spec = replace(env.spec, arch="arm64")
    text = kernel_config(spec, env.root / "cfg-arm64", enable=["FHANDLE", "CROSS_MEMORY_ATTACH"])
    assert "CONFIG_ARM64=y" in text and "CONFIG_LTO_CLANG_THIN=y" in text
    oracle = KernelOracle(spec, env.root / "state-arm64", signature=OURS)
    out = oracle.test(resolved_config(text), 0)
    assert out.verdict is Verdict.REPRODUCES, out.detail
    assert "ARCH=arm64" in Path(out.log_path).read_text().splitlines()[0]


def _compiled(log_path: str) -> int:
    """How many objects a build's log says it compiled (kbuild's ``CC`` and ``HOSTCC`` lines)."""
    return sum(1 for line in Path(log_path).read_text().splitlines()
               if line.split()[:1] in (["CC"], ["HOSTCC"]))
