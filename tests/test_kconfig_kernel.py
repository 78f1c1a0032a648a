"""Fidelity of the Kconfig layer against the kernel's own tools on real Linux 6.1 and 6.12 trees.

For each kernel (6.1 with LLVM=-16, 6.12 with LLVM=-19: the two Kconfig generations) and for
ARCH=x86_64 and ARCH=arm64: tinyconfig, defconfig and fixed-seed randconfigs, each alone and
with a ``CONFIG_LTO_CLANG_THIN=y`` fragment, must come out of our resolver byte-identical to
``make olddefconfig`` (the fragment merged with the kernel's own ``merge_config.sh``), and so
must 40 random candidates of randconfig diffs (baseline + fragment appended, as
``fragment.config`` writes it). All make runs of one kernel and arch happen once, in a
module-scoped fixture.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from choice_scenarios import EXPECTED, LEGACY_ONLY, SCENARIOS
from ltobisect.testing import fidelity
from ltobisect.errors import UserError
from ltobisect.kconfig import KconfigTree, kconfig_env, make_olddefconfig, parse_config, run_config_target
from ltobisect.kconfig.compat import ChoiceRules, Generation
from ltobisect.model import Change

pytestmark = pytest.mark.kernel

LLVM = "-16"
#: kernel -> (its tree fixture, LLVM=, the choice rules its conf uses)
KERNELS = {"6.1": ("kernel_tree", "-16", ChoiceRules.LEGACY),
           "6.12": ("kernel_tree_612", "-19", ChoiceRules.PRIORITY)}
ARCHES = ("x86_64", "arm64")
SEEDS = (1, 3, 4, 9, 17)
NAMES = ("tinyconfig", "defconfig") + tuple(f"randconfig-{s}" for s in SEEDS)
#: Every kernel and arch; 6.1 on arm64 in the slow tier only (its 6.12 twin and 6.1 on x86_64
#: keep both generations and both arches in the default run, which must stay near its budget).
BOTH = [pytest.param(v, a, marks=pytest.mark.slow) if (v, a) == ("6.1", "arm64") else (v, a)
        for v in KERNELS for a in ARCHES]
#: Random candidates compared with conf per kernel and arch (the randconfigs of KCONFIG_SEED 4
#: and 9, each against tinyconfig and defconfig), drawn with a seed of their own so a run is
#: repeatable.
CANDIDATE_SEEDS = (4, 9)
PER_CONFIG = 6  # 24 candidates per kernel and arch; benchmarks/kconfig_fidelity.py runs many more
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

    def __init__(self, tree: Path, arch: str, root: Path, llvm: str = LLVM) -> None:
        self.tree, self.arch, self.root, self.llvm = tree, arch, root, llvm
        out = root / "O"
        self.out = out
        # Two make runs at a time, each in an O= of its own (two builds in one O= corrupt it).
        free, lock = [out, root / "O2"], threading.Lock()

        def in_an_out(fn, *args, **kw):
            with lock:
                o = free.pop()
            try:
                return fn(tree, *args, arch=arch, llvm=llvm, work_dir=o, **kw)
            finally:
                with lock:
                    free.append(o)

        with ThreadPoolExecutor(max_workers=2) as pool:
            targets = {"tinyconfig": ("tinyconfig", {}), "defconfig": ("defconfig", {})}
            targets.update({f"randconfig-{seed}": ("randconfig", {"KCONFIG_SEED": str(seed)})
                            for seed in SEEDS})
            futures = {name: pool.submit(in_an_out, run_config_target, target, extra_env=env)
                       for name, (target, env) in targets.items()}
            self.made = {name: f.result() for name, f in futures.items()}
            # tinyconfig's last step is `make olddefconfig`, and conf writes randconfig's result
            # with the same writer; one olddefconfig run per kind shows those outputs are fixed
            # points, the others are compared with make's output directly to keep the file
            # within budget.
            self.olddef = dict(self.made)
            again = {name: pool.submit(in_an_out, make_olddefconfig, self.made[name])
                     for name in ("defconfig", f"randconfig-{SEEDS[0]}")}
            thin = {name: pool.submit(in_an_out, make_olddefconfig,
                                      _merge_with_kernel_script(tree, root, text, THIN.line() + "\n"))
                    for name, text in self.made.items()}
            self.olddef.update({name: f.result() for name, f in again.items()})
            self.thin = {name: f.result() for name, f in thin.items()}
        self.conf = out / "scripts" / "kconfig" / "conf"
        self.probes = root / "probes"
        self.kt = KconfigTree.load(tree, arch=arch, llvm=llvm, work_dir=root / "kwork", probe_cache=self.probes)


@pytest.fixture(scope="module")
def kernels(request, tmp_path_factory):
    """``kernels(arch)`` for Linux 6.1, ``kernels(arch, "6.12")`` for the other generation."""
    cache = {}

    def get(arch: str, version: str = "6.1") -> Kernel:
        if (version, arch) not in cache:
            fixture, llvm, _rules = KERNELS[version]
            tree = request.getfixturevalue(fixture)
            cache[version, arch] = Kernel(tree, arch, tmp_path_factory.mktemp(f"k-{version}-{arch}"), llvm)
        return cache[version, arch]

    return get


@pytest.mark.parametrize("version,arch", BOTH)
def test_baselines_by_name_match_make(kernels, version, arch):
    k = kernels(arch, version)
    # 6.1's conf: the last choice member read selects, out-of-range values dropped; 6.12's:
    # a priority list, values clamped.
    assert k.kt.generation == Generation(KERNELS[version][2], clamps=version != "6.1")
    assert k.kt.baseline("tinyconfig") == k.made["tinyconfig"]
    assert k.kt.baseline("defconfig") == k.made["defconfig"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("version,arch", BOTH)
def test_olddefconfig_alone_is_byte_identical(kernels, version, arch, name):
    k = kernels(arch, version)
    ours = k.kt.resolve(k.made[name], [])
    assert ours.config_text == k.olddef[name] == k.made[name]
    assert ours.ineffective == ()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("version,arch", BOTH)
def test_olddefconfig_with_thin_lto_is_byte_identical(kernels, version, arch, name):
    k = kernels(arch, version)
    ours = k.kt.resolve(k.made[name], [THIN])
    assert ours.config_text == k.thin[name]
    took = parse_config(ours.config_text).get("LTO_CLANG_THIN") == "y"
    assert took == (THIN not in {i.change for i in ours.ineffective})


@pytest.mark.parametrize("version,arch", BOTH)
def test_thin_lto_takes_on_tinyconfig(kernels, version, arch):
    k = kernels(arch, version)
    values = parse_config(k.kt.resolve(k.made["tinyconfig"], [THIN]).config_text)
    assert values["LTO_CLANG_THIN"] == "y" and values["LTO_CLANG"] == "y" and values["LTO_NONE"] == "n"


@pytest.mark.parametrize("version", KERNELS)
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_full_diff_resolves_to_the_bad_config(kernels, seed, version):
    k = kernels("x86_64", version)
    tiny, bad = k.made["tinyconfig"], k.olddef[f"randconfig-{seed}"]
    changes = k.kt.diff(tiny, bad)
    assert len(changes) > 100
    full = k.kt.resolve(tiny, changes)
    assert full.config_text == bad and full.ineffective == ()
    assert k.kt.resolve(tiny, []).config_text == tiny
    st = k.kt.structure(tiny, changes)
    assert set(st.needs) == set(changes) and all(c not in st.needs[c] for c in changes)
    assert all(st.needs[c] <= set(changes) for c in changes)
    # Each setting the changes add is provided by changes only, a change's own setting by it.
    assert st.providers and all(p <= set(changes) for p in st.providers.values())
    for c in changes:
        if c.value in ("y", "m") and c.line() in st.providers:
            assert c in st.providers[c.line()]


@pytest.mark.parametrize("version", KERNELS)
def test_turning_expert_off_provides_what_its_prompts_hid(kernels, version):
    """tinyconfig sets EXPERT, and TTY (whose prompt shows only with EXPERT) off. Turning EXPERT
    off gives TTY its default y: the EXPERT change provides TTY=y, as TTY's own change does."""
    k = kernels("x86_64", version)
    tiny = k.made["tinyconfig"]
    assert "CONFIG_EXPERT=y\n" in tiny and "# CONFIG_TTY is not set\n" in tiny
    off = tiny.replace("CONFIG_EXPERT=y\n", "# CONFIG_EXPERT is not set\n")
    off = off.replace("CONFIG_EMBEDDED=y\n", "# CONFIG_EMBEDDED is not set\n")
    changes = k.kt.diff(tiny, k.kt.resolve(off, []).config_text)
    by = {c.name: c for c in changes}
    assert by["EXPERT"].value == "n" and by["TTY"].value == "y"
    st = k.kt.structure(tiny, changes)
    assert {by["EXPERT"], by["TTY"]} <= st.providers["CONFIG_TTY=y"]


def test_min_config_matches_savedefconfig(kernels, kernel_tree):
    k = kernels("x86_64")
    text = k.thin["defconfig"]
    made = make_olddefconfig(kernel_tree, text, arch="x86_64", llvm=LLVM, work_dir=k.out, target="savedefconfig")
    assert k.kt.min_config(text) == made


def _makefile_version(tree: Path) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL and EXTRAVERSION as the tree's top Makefile spells them."""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION) = ?(\S*)$",
                             (tree / "Makefile").read_text(errors="replace")[:2000], re.M))
    return ".".join(fields[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if fields[k]) + fields["EXTRAVERSION"]


def test_probe_cache_gives_the_same_tree(kernels, kernel_tree, tmp_path):
    k = kernels("x86_64")
    again = KconfigTree.load(kernel_tree, arch="x86_64", llvm=LLVM, work_dir=tmp_path, probe_cache=k.probes)
    assert again.probes_run == 0
    assert again.baseline("tinyconfig") == k.made["tinyconfig"]
    assert again.kernelversion() == k.kt.kernelversion() == _makefile_version(kernel_tree)
    assert k.kt.kernelversion().startswith("6.1.")
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
        "hidden": [[], ["EMBEDDED=y", "TTY=n", "PROC_FS=n"], ["EXPERT=y", "TTY=n"], ["TTY=n"]],
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
            appended = base + kt.fragment(changes)
            assert kt.resolve(base, changes).config_text == _conf(conf, tree, tmp_path, appended), (name, case)


@pytest.mark.parametrize("version", KERNELS)
def test_choice_scenarios_agree_with_each_generations_conf(kernels, version, tmp_path):
    """Every choice scenario of choice_scenarios.py, by 6.1's and 6.12's own conf binaries: the
    values recorded there, and our resolution byte for byte, for baseline and candidate."""
    conf = kernels("x86_64", version).conf
    rules = KERNELS[version][2]
    for tree_name, name, base_lines, frag_lines in SCENARIOS:
        if rules is ChoiceRules.PRIORITY and tree_name in LEGACY_ONLY:
            continue
        tree = (TREES / tree_name).resolve()
        kt = KconfigTree.load(tree, work_dir=tmp_path / tree_name, choice_rules=rules)
        allno = _conf(conf, tree, tmp_path, "", "--allnoconfig")
        assert kt.baseline("allnoconfig") == allno, (tree_name, "allnoconfig")

        def changes(lines):
            return [Change(x.split("=")[0], x.split("=")[1], kt.symbol_type(x.split("=")[0])) for x in lines]

        base = _conf(conf, tree, tmp_path, allno + kt.fragment(changes(base_lines)))
        assert kt.resolve(allno, changes(base_lines)).config_text == base, (tree_name, name, "baseline")
        theirs = _conf(conf, tree, tmp_path, base + kt.fragment(changes(frag_lines)))
        assert parse_config(theirs) == EXPECTED[rules.value, tree_name, name], (tree_name, name)
        assert kt.resolve(base, changes(frag_lines)).config_text == theirs, (tree_name, name)


@pytest.mark.parametrize("version,arch", BOTH)
def test_random_candidates_are_byte_identical_to_conf(kernels, version, arch):
    """24 random candidates per kernel and arch (sizes 1, 3 and half of a randconfig's diff
    against tinyconfig and defconfig; every third mostly choice members), each resolved by us
    and by `make olddefconfig` of baseline + fragment appended."""
    k = kernels(arch, version)
    cases = fidelity.cases(k.kt, k.tree, arch=arch, llvm=k.llvm, work=k.root / "fid", seeds=CANDIDATE_SEEDS,
                           per_config=PER_CONFIG, rng_seed=sum(map(ord, version + arch)),
                           made={s: k.made[f"randconfig-{s}"] for s in CANDIDATE_SEEDS})
    cases = [c for c in cases if c.kind == "candidate"]
    assert len(cases) >= 24
    results = fidelity.compare(cases, k.tree, arch=arch, llvm=k.llvm, work=k.root / "fid", jobs=2)
    differing = [(r.label, r.differing) for r in results if not r.equal]
    same, n = fidelity.tally(results)["all"]
    print(f"{version} {arch}: {same}/{n} random candidates byte-identical to make olddefconfig")
    assert differing == []


def _conf(conf: Path, tree: Path, tmp: Path, text: str, mode: str = "--olddefconfig") -> str:
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        Path(d, ".config").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KCONFIG_")}
        env["srctree"] = str(tree)
        subprocess.run([str(conf), "-s", mode, "Kconfig"], cwd=d, env=env, check=True, capture_output=True)
        return Path(d, ".config").read_text()


def test_probe_cache_key_follows_the_toolchain(kernel_tree):
    from ltobisect.kconfig.env import probe_identity

    plain = probe_identity(kconfig_env(kernel_tree, "x86_64", LLVM))
    assert plain == probe_identity(kconfig_env(kernel_tree, "x86_64", LLVM))
    assert plain != probe_identity(kconfig_env(kernel_tree, "arm64", LLVM))
    assert plain != probe_identity(kconfig_env(kernel_tree, "x86_64", LLVM, ["CC=ccache clang-16"]))


def test_kconfig_env_for_linux_6_12_and_clang_19(kernel_tree_612):
    env = kconfig_env(kernel_tree_612, "x86_64", "-19")
    assert (env["CC"], env["LD"], env["AR"]) == ("clang-19", "ld.lld-19", "llvm-ar-19")
    assert env["CC_VERSION_TEXT"].startswith("Debian clang version 19")
    assert env["KERNELVERSION"].startswith("6.12.")
    assert kconfig_env(kernel_tree_612, "arm64", "-19")["CLANG_FLAGS"].startswith("--target=aarch64-linux-gnu ")
