"""Fidelity of the Kconfig layer against the kernel's own tools on the real Linux 6.1 tree.

For ARCH=x86_64 and ARCH=arm64 with LLVM=-16: tinyconfig, defconfig and five fixed-seed
randconfigs, each alone and with a ``CONFIG_LTO_CLANG_THIN=y`` fragment, must come out of our
resolver byte-identical to ``make olddefconfig`` (the fragment merged with the kernel's own
``merge_config.sh``). All make runs of one arch happen once, in a module-scoped fixture, one
at a time with -j2.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from ltobisect.errors import UserError
from ltobisect.kconfig import KconfigTree, kconfig_env, make_olddefconfig, parse_config, run_config_target
from ltobisect.model import Change

pytestmark = pytest.mark.kernel

LLVM = "-16"
ARCHES = ("x86_64", "arm64")
SEEDS = (1, 3, 4, 9, 17)
NAMES = ("tinyconfig", "defconfig") + tuple(f"randconfig-{s}" for s in SEEDS)
THIN = Change("LTO_CLANG_THIN", "y", "bool", "n")
TREES = Path(__file__).parent / "kconfig_trees"


def _merge_with_kernel_script(tree: Path, out: Path, base_text: str, fragment: str) -> str:
    """The kernel's ``merge_config.sh -m``: the base with the fragment merged, not settled."""
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        base, frag = Path(tmp, "base.config"), Path(tmp, "frag.config")
        base.write_text(base_text)
        frag.write_text(fragment)
        subprocess.run(["sh", str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", tmp, str(base), str(frag)],
                       check=True, capture_output=True, cwd=tmp)
        return Path(tmp, ".config").read_text()


class Kernel:
    """Everything the kernel's tools produced for one arch, and our tree loaded for it."""

    def __init__(self, tree: Path, arch: str, root: Path) -> None:
        self.tree, self.arch, self.root = tree, arch, root
        out = root / "O"
        self.out = out
        run = dict(arch=arch, llvm=LLVM, work_dir=out)
        self.made = {"tinyconfig": run_config_target(tree, "tinyconfig", **run),
                     "defconfig": run_config_target(tree, "defconfig", **run)}
        for seed in SEEDS:
            rand = run_config_target(tree, "randconfig", **run,
                                     extra_env={"KCONFIG_SEED": str(seed)})
            self.made[f"randconfig-{seed}"] = rand
        # tinyconfig's last step is `make olddefconfig`, and conf writes randconfig's result with
        # the same writer; one olddefconfig run per kind shows those outputs are fixed points,
        # the others are compared with make's output directly to keep the file within budget.
        self.olddef = dict(self.made)
        for name in ("defconfig", f"randconfig-{SEEDS[0]}"):
            self.olddef[name] = make_olddefconfig(tree, self.made[name], **run)
        self.thin = {}
        for name, text in self.made.items():
            merged = _merge_with_kernel_script(tree, root, text, THIN.line() + "\n")
            self.thin[name] = make_olddefconfig(tree, merged, **run)
        self.conf = out / "scripts" / "kconfig" / "conf"
        self.probes = root / "probes"
        self.kt = KconfigTree.load(tree, arch=arch, llvm=LLVM, work_dir=root / "kwork", probe_cache=self.probes)


@pytest.fixture(scope="module")
def kernels(kernel_tree, tmp_path_factory):
    cache = {}

    def get(arch: str) -> Kernel:
        if arch not in cache:
            cache[arch] = Kernel(kernel_tree, arch, tmp_path_factory.mktemp(f"k-{arch}"))
        return cache[arch]

    return get


@pytest.mark.parametrize("arch", ARCHES)
def test_baselines_by_name_match_make(kernels, arch):
    k = kernels(arch)
    assert k.kt.baseline("tinyconfig") == k.made["tinyconfig"]
    assert k.kt.baseline("defconfig") == k.made["defconfig"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arch", ARCHES)
def test_olddefconfig_alone_is_byte_identical(kernels, arch, name):
    k = kernels(arch)
    ours = k.kt.resolve(k.made[name], [])
    assert ours.config_text == k.olddef[name] == k.made[name]
    assert ours.ineffective == ()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arch", ARCHES)
def test_olddefconfig_with_thin_lto_is_byte_identical(kernels, arch, name):
    k = kernels(arch)
    ours = k.kt.resolve(k.made[name], [THIN])
    assert ours.config_text == k.thin[name]
    took = parse_config(ours.config_text).get("LTO_CLANG_THIN") == "y"
    assert took == (THIN not in {i.change for i in ours.ineffective})


@pytest.mark.parametrize("arch", ARCHES)
def test_thin_lto_takes_on_tinyconfig(kernels, arch):
    k = kernels(arch)
    values = parse_config(k.kt.resolve(k.made["tinyconfig"], [THIN]).config_text)
    assert values["LTO_CLANG_THIN"] == "y" and values["LTO_CLANG"] == "y" and values["LTO_NONE"] == "n"


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_full_diff_resolves_to_the_bad_config(kernels, seed):
    k = kernels("x86_64")
    tiny, bad = k.made["tinyconfig"], k.olddef[f"randconfig-{seed}"]
    changes = k.kt.diff(tiny, bad)
    assert len(changes) > 100
    full = k.kt.resolve(tiny, changes)
    assert full.config_text == bad and full.ineffective == ()
    assert k.kt.resolve(tiny, []).config_text == tiny
    st = k.kt.structure(tiny, changes)
    assert set(st.needs) == set(changes) and all(c not in st.needs[c] for c in changes)
    assert all(st.needs[c] <= set(changes) for c in changes)


def test_min_config_matches_savedefconfig(kernels, kernel_tree):
    k = kernels("x86_64")
    text = k.thin["defconfig"]
    made = make_olddefconfig(kernel_tree, text, arch="x86_64", llvm=LLVM, work_dir=k.out, target="savedefconfig")
    assert k.kt.min_config(text) == made


def test_probe_cache_gives_the_same_tree(kernels, kernel_tree, tmp_path):
    k = kernels("x86_64")
    again = KconfigTree.load(kernel_tree, arch="x86_64", llvm=LLVM, work_dir=tmp_path, probe_cache=k.probes)
    assert again.probes_run == 0
    assert again.baseline("tinyconfig") == k.made["tinyconfig"]
    assert again.kernelversion() == k.kt.kernelversion() == "6.1.192"
    assert (again.arch, again.srcarch) == ("x86_64", "x86")


def test_kconfig_env_matches_what_conf_receives(kernel_tree):
    env = kconfig_env(kernel_tree, "x86_64", LLVM)
    assert env["SRCARCH"] == "x86" and env["CC"] == "clang-16" and env["LD"] == "ld.lld-16"
    assert env["CLANG_FLAGS"] == ("--target=x86_64-linux-gnu -fintegrated-as -Werror=unknown-warning-option "
                                  "-Werror=ignored-optimization-argument")
    assert env["CC_VERSION_TEXT"].startswith("Debian clang version 16")
    assert kconfig_env(kernel_tree, "arm64", LLVM)["CLANG_FLAGS"].startswith("--target=aarch64-linux-gnu ")
    with_path = kconfig_env(kernel_tree, "arm64", "/usr/lib/llvm-16/bin/")
    assert with_path["CC"] == "/usr/lib/llvm-16/bin/clang" and with_path["AR"] == "/usr/lib/llvm-16/bin/llvm-ar"
    assert kconfig_env(kernel_tree, "x86_64", LLVM, ["CC=ccache clang-16"])["CC"] == "ccache clang-16"


def test_unknown_arch_is_one_clear_line(kernel_tree):
    with pytest.raises(UserError, match="unknown ARCH 'vax'") as e:
        KconfigTree.load(kernel_tree, arch="vax", llvm=LLVM)
    assert "\n" not in e.value.line() and "x86_64" in e.value.line()


def test_missing_compiler_is_one_clear_line(kernel_tree):
    with pytest.raises(UserError, match="compiler 'clang-99' not found") as e:
        KconfigTree.load(kernel_tree, arch="x86_64", llvm="-99")
    assert "\n" not in e.value.line()


def test_fixtures_agree_with_kernel_conf(kernels, tmp_path):
    """Every fixture scenario of test_kconfig_fixtures.py, settled by Linux 6.1's conf binary."""
    conf = kernels("x86_64").conf
    scenarios = {
        "choice": [[], ["C2=y"], ["C3=y"], ["A=y", "C3=y"], ["C1=n"]],
        "select": [[], ["A=y"], ["A=y", "B=n"], ["C=y"], ["E=y", "C=y"]],
        "imply": [[], ["A=y"], ["A=y", "DEP=y"], ["MODULES=y", "A=m", "DEP=y"], ["MODULES=y", "F=m", "H=y"],
                  ["MODULES=y", "F=y", "H=y"], ["A=y", "DEP=y", "B=n"], ["H=y"]],
        "depends": [[], ["D=y"], ["A=y", "B=y", "C=y", "D=y"], ["A=y", "C=y"], ["X=n"]],
        "tristate": [[], ["MODULES=y", "T=m", "U=y", "V=y"], ["T=m"], ["MODULES=y", "T=m", "U=m"]],
        "values": [[], ["I=7", "H=0x20", 'S=a "q"'], ["I=20"], ["J=4"], ["GATE=y", "J=4"]],
    }
    for name, cases in scenarios.items():
        tree = (TREES / name).resolve()
        kt = KconfigTree.load(tree, work_dir=tmp_path / name)
        base = kt.baseline("allnoconfig")
        assert _conf(conf, tree, tmp_path, "", "--allnoconfig") == base, name
        for case in cases:
            changes = []
            for text in case:
                sym, value = text.split("=", 1)
                changes.append(Change(sym, value, kt.symbol_type(sym)))
            merged = "".join(line + "\n" for line in base.splitlines()
                             if not any(f"CONFIG_{c.name}=" in line or f"CONFIG_{c.name} " in line
                                        for c in changes))
            merged += kt.fragment(changes)
            assert kt.resolve(base, changes).config_text == _conf(conf, tree, tmp_path, merged), (name, case)


def _conf(conf: Path, tree: Path, tmp: Path, text: str, mode: str = "--olddefconfig") -> str:
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        Path(d, ".config").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KCONFIG_")}
        env["srctree"] = str(tree)
        subprocess.run([str(conf), "-s", mode, "Kconfig"], cwd=d, env=env, check=True, capture_output=True)
        return Path(d, ".config").read_text()


def test_probe_cache_key_follows_the_toolchain(kernel_tree):
    from ltobisect.kconfig import _toolchain_identity

    plain = _toolchain_identity(kconfig_env(kernel_tree, "x86_64", LLVM))
    assert plain == _toolchain_identity(kconfig_env(kernel_tree, "x86_64", LLVM))
    assert plain != _toolchain_identity(kconfig_env(kernel_tree, "arm64", LLVM))
    assert plain != _toolchain_identity(kconfig_env(kernel_tree, "x86_64", LLVM, ["CC=ccache clang-16"]))
