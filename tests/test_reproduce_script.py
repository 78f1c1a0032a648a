"""reproduce.sh's exit codes, as a maintainer and `git bisect run` rely on them.

    sh reproduce.sh [TREE]           0 reproduced, 1 did not, 2 could not run
    sh reproduce.sh --bisect [TREE]  1 bad (reproduced), 0 good (builds), 125 skip

A single argument is the TREE, also when it does not exist (earlier versions took it as the
output directory). How the log is judged (judge.py, the grep without python3) is tested with
the demo in test_reproduce_judge.py.

A module-wide session minimizes the tiny tree's planted link error through the real build
oracle; its reproduce.sh runs against that tree. For the kernel's path (a config target,
merge_config.sh, olddefconfig) the same state is rendered as a kernel tree's and run against a
fake kernel tree of the same Kconfig symbols. A second session decides with the tiny tree's
test script, which reproduce.sh must run from its attached copy.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ltobisect.artifacts import report
from ltobisect.conductor.session import Session

from session_support import tiny_config, tiny_tree

REPRODUCED, NOT_REPRODUCED, CANNOT = 0, 1, 2
BAD, GOOD, SKIP = 1, 0, 125

# A fake kernel tree's Makefile: the config targets kbuild has, and a build that fails on demand.
FAKE_MAKEFILE = """\
O ?= $(CURDIR)
srctree := $(CURDIR)
.PHONY: all vmlinux defconfig olddefconfig
all vmlinux:
\t@sh $(srctree)/build.sh "$(O)"
defconfig:
\t@if [ -n "$(FAKE_DEFCONFIG_FAILS)" ]; then echo "fake: defconfig failed"; exit 1; fi
\t@mkdir -p $(O) && cp $(srctree)/arch/fake/defconfig $(O)/.config
olddefconfig:
\t@echo "fake: olddefconfig"
"""
# merge_config.sh -m -O OUT BASE FRAGMENT: later settings replace earlier ones, as the kernel's.
FAKE_MERGE = r"""#!/bin/sh
[ -n "${FAKE_MERGE_FAILS:-}" ] && { echo "fake: merge failed"; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in -m) ;; -O) out=$2; shift ;; *) break ;; esac
    shift
done
tmp=$(mktemp ./.tmp.config.XXXXXX) || exit 1
cat "$@" | awk '
    /^CONFIG_[A-Za-z0-9_]+=/ { k = substr($0, 1, index($0, "=") - 1) }
    /^# CONFIG_[A-Za-z0-9_]+ is not set/ { k = $2 }
    k != "" { if (!(k in v)) order[++n] = k; v[k] = $0; k = "" }
    END { for (i = 1; i <= n; i++) print v[order[i]] }' >"$tmp"
mv "$tmp" "$out/.config"
"""
# The build: the tiny tree's link error, and another error when OPT01 is on.
FAKE_BUILD = """\
out="$1"; cfg="$out/.config"
echo "  LD      vmlinux"
if grep -q '^CONFIG_OPT01=y' "$cfg"; then
    echo "kernel/other.c:7:5: error: use of undeclared identifier 'other_thing'"
    exit 1
fi
if grep -q '^CONFIG_NET_FOO=y' "$cfg" && grep -q '^CONFIG_LTO=y' "$cfg" \\
   && grep -q '^# CONFIG_KEEP is not set' "$cfg"; then
    echo "ld.lld: error: undefined symbol: foo_lto_stub"
    exit 1
fi
echo ok > "$out/vmlinux"
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A session judged by real builds of the tiny tree: (state, tree)."""
    top = tmp_path_factory.mktemp("repro")
    tree = tiny_tree(top)
    state = top / "state"
    result = Session(tiny_config(tree, state, test_script=None)).run()
    assert result.status == "minimized", result.message
    return state, tree


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """A session judged by the tiny tree's test script: (state, tree)."""
    top = tmp_path_factory.mktemp("repro-test")
    tree = tiny_tree(top)
    state = top / "state"
    result = Session(tiny_config(tree, state)).run()
    assert result.status == "minimized", result.message
    return state, tree


def run(state: Path, *args, cwd: Path = None, env: dict = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("LTOBISECT_TREE", "LLD_REPRODUCE")}
    full.update(env or {})
    return subprocess.run(["sh", str(state / "reproduce.sh"), *map(str, args)], cwd=cwd,
                          env=full, capture_output=True, text=True, timeout=120)


def copy_state(state: Path, dst: Path) -> Path:
    shutil.copytree(state, dst, ignore=shutil.ignore_patterns("workers", "logs"))
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def fake_kernel(tree: Path, state: Path, dst: Path) -> Path:
    """A kernel-shaped copy of the tiny tree (arch/, merge_config.sh, config targets), whose
    defconfig is the session's baseline."""
    shutil.copytree(tree, dst)
    (dst / "Makefile").write_text(FAKE_MAKEFILE)
    (dst / "build.sh").write_text(FAKE_BUILD)
    (dst / "arch" / "fake").mkdir(parents=True)
    shutil.copy(state / "baseline.config", dst / "arch" / "fake" / "defconfig")
    (dst / "scripts" / "kconfig").mkdir(parents=True)
    (dst / "scripts" / "kconfig" / "merge_config.sh").write_text(FAKE_MERGE)
    return dst


def as_kernel_session(state: Path, dst: Path) -> Path:
    """The state rendered again as a kernel tree's session: baseline by `make defconfig`,
    then merge_config.sh and olddefconfig."""
    mine = copy_state(state, dst)
    doc = json.loads((mine / "session.json").read_text())
    doc["environment"]["kernel_tree"] = True
    (mine / "session.json").write_text(json.dumps(doc))
    report.render(mine)
    return mine


# -- a tree that is not there, or not a tree ----------------------------------------------------
def test_a_missing_tree_cannot_run_2_and_skips_125_when_bisecting(built, tmp_path):
    state, tree = built
    missing = tmp_path / "no-such-linux"
    plain = run(state, "-o", tmp_path / "out", missing)
    assert plain.returncode == CANNOT, plain.stdout + plain.stderr
    assert f"no source tree at {missing}" in plain.stderr
    bisect = run(state, "--bisect", "-o", tmp_path / "out", missing)
    assert bisect.returncode == SKIP, bisect.stdout + bisect.stderr
    assert run(state, missing, tmp_path / "out").returncode == CANNOT  # TREE OUT_DIR
    assert run(state, env={"LTOBISECT_TREE": str(missing)}, cwd=tmp_path).returncode == CANNOT
    # The tree it was found on is gone (a maintainer's machine), and none is given: the
    # error names every place tried, not only the sender's path.
    moved = tmp_path / "moved-tree"
    tree.rename(moved)
    try:
        nowhere = run(state, cwd=tmp_path)
        assert nowhere.returncode == CANNOT
        assert "LTOBISECT_TREE is not set" in nowhere.stderr
        assert f"{tree} (where ltobisect ran) does not exist" in nowhere.stderr
        assert f"the current directory {tmp_path} is not a source tree" in nowhere.stderr
        assert run(state, "--bisect", cwd=tmp_path).returncode == SKIP
    finally:
        moved.rename(tree)
    assert not (tmp_path / "out").exists()  # nothing was built


def test_a_directory_that_is_not_a_kernel_tree_cannot_run(built, tmp_path):
    state, tree = built
    mine = as_kernel_session(state, tmp_path / "state")
    # The tiny tree has a Makefile but no arch/ and no merge_config.sh.
    plain = run(mine, tree, "-o", tmp_path / "out")
    assert plain.returncode == CANNOT and "is not a kernel tree" in plain.stderr
    assert run(mine, "--bisect", tree, "-o", tmp_path / "out").returncode == SKIP
    assert run(mine, "--no-such-option", tree).returncode == CANNOT


# -- the tree the session ran on ----------------------------------------------------------------
def test_it_reproduces_0_and_bisects_as_bad_1(built, tmp_path):
    state, tree = built
    ok = run(state, tree, "-o", tmp_path / "out1")
    assert ok.returncode == REPRODUCED, ok.stdout + ok.stderr
    assert "REPRODUCED: ld.lld: undefined symbol: foo_lto_stub" in ok.stdout
    assert (tmp_path / "out1" / "reproduce.log").is_file()
    bad = run(state, "--bisect", "-o", tmp_path / "out2", tree)
    assert bad.returncode == BAD, bad.stdout + bad.stderr


def test_without_the_failure_it_says_1_and_bisects_as_good_0(built, tmp_path):
    state, tree = built
    mine = copy_state(state, tmp_path / "state")
    edit(mine / "minimal.config", "# CONFIG_KEEP is not set", "CONFIG_KEEP=y")
    gone = run(mine, tree, "-o", tmp_path / "out1")
    assert gone.returncode == NOT_REPRODUCED, gone.stdout + gone.stderr
    assert "did not reproduce: the build passed" in gone.stdout
    assert run(mine, "--bisect", tree, "-o", tmp_path / "out2").returncode == GOOD


def test_a_single_argument_is_the_tree_even_when_it_does_not_exist(built, tmp_path):
    # Earlier versions took a single argument that did not exist as the output directory, so
    # a mistyped tree built the tree of the current directory into the typo.
    state, tree = built
    typo = tmp_path / "typo"
    plain = run(state, typo, cwd=tree)
    assert plain.returncode == CANNOT, plain.stdout + plain.stderr
    assert f"no source tree at {typo}" in plain.stderr
    assert run(state, "--bisect", typo, cwd=tree).returncode == SKIP
    assert not typo.exists()
    # $LTOBISECT_TREE that is not a tree is named as such, not replaced by another tree.
    env = run(state, env={"LTOBISECT_TREE": str(typo)}, cwd=tree)
    assert env.returncode == CANNOT and "($LTOBISECT_TREE)" in env.stderr
    # The output directory is -o OUT_DIR, or the second of TREE OUT_DIR.
    done = run(state, tree, tmp_path / "out", cwd=tmp_path)
    assert done.returncode == REPRODUCED, done.stdout + done.stderr
    assert (tmp_path / "out" / "reproduce.log").is_file() and f"tree: {tree}" in done.stdout


# -- a kernel tree: config target, merge_config.sh, olddefconfig ---------------------------------
@pytest.fixture
def kernel(built, tmp_path):
    state, tree = built
    return as_kernel_session(state, tmp_path / "state"), fake_kernel(tree, state, tmp_path / "linux")


def test_a_kernel_tree_reproduces_from_the_baseline_and_the_fragment(kernel, tmp_path):
    mine, linux = kernel
    script = (mine / "reproduce.sh").read_text()
    assert " defconfig " in script and "merge_config.sh" in script and "olddefconfig" in script
    ok = run(mine, linux, "-o", tmp_path / "out1")
    assert ok.returncode == REPRODUCED, ok.stdout + ok.stderr
    assert "CONFIG_NET_FOO=y" in (tmp_path / "out1" / ".config").read_text()
    assert run(mine, "--bisect", linux, "-o", tmp_path / "out2").returncode == BAD
    # As `git bisect run` calls it: from the top of the tree, no TREE given.
    assert run(mine, "--bisect", "-o", tmp_path / "out3", cwd=linux).returncode == BAD


def test_a_kernel_build_that_passes_or_fails_otherwise(kernel, tmp_path):
    mine, linux = kernel
    frag = mine / "fragment.config"
    frag.write_text(frag.read_text().replace("CONFIG_LTO=y\n", ""))
    passes = run(mine, linux, "-o", tmp_path / "out1")
    assert passes.returncode == NOT_REPRODUCED, passes.stdout + passes.stderr
    assert run(mine, "--bisect", linux, "-o", tmp_path / "out2").returncode == GOOD
    frag.write_text(frag.read_text() + "CONFIG_OPT01=y\n")
    other = run(mine, linux, "-o", tmp_path / "out3")
    assert other.returncode == NOT_REPRODUCED, other.stdout + other.stderr
    assert "failed in another way" in other.stdout
    # What it failed with instead, in ltobisect's words.
    assert "use of undeclared identifier 'other_thing' [kernel/other.c] (compile-error)" \
        in other.stdout
    # Another error may hide this one: git bisect must skip that commit, not call it good.
    assert run(mine, "--bisect", linux, "-o", tmp_path / "out4").returncode == SKIP


@pytest.mark.parametrize("failing", ["FAKE_DEFCONFIG_FAILS", "FAKE_MERGE_FAILS"])
def test_a_failing_config_step_cannot_run_rather_than_not_reproduce(kernel, tmp_path, failing):
    mine, linux = kernel
    plain = run(mine, linux, "-o", tmp_path / "out1", env={failing: "1"})
    assert plain.returncode == CANNOT, plain.stdout + plain.stderr
    assert "cannot run" in plain.stderr and "config.log" in plain.stderr
    assert run(mine, "--bisect", linux, "-o", tmp_path / "out2", env={failing: "1"}).returncode == SKIP


# -- a --test script session ---------------------------------------------------------------------
def test_a_test_script_is_attached_and_run_from_its_copy(scripted, tmp_path):
    state, tree = scripted
    copy = state / "test-script.sh"
    assert copy.read_bytes() == (tree / "test.sh").read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    text = (state / "report.txt").read_text()
    assert str(tree) not in text and str(state) not in text
    assert "Test:       test-script.sh (a copy of test.sh)" in text
    assert '        (cd out && ../test-script.sh "$PWD/.config")\n' in text
    listed = text.split("Attachments:\n", 1)[1].split("\n\n", 1)[0].split("\n")
    names = [line.split()[0] for line in listed]
    assert "test-script.sh" in names and all((state / n).is_file() for n in names)
    assert '"$here/test-script.sh"' in (state / "reproduce.sh").read_text()

    # Mailed elsewhere: the original script and the tree are not there; the copy decides.
    mine = copy_state(state, tmp_path / "mailed")
    moved = tmp_path / "moved-tree"
    tree.rename(moved)
    try:
        assert run(mine, "-o", tmp_path / "out1").returncode == REPRODUCED
        assert run(mine, "--bisect", "-o", tmp_path / "out2").returncode == BAD
        edit(mine / "minimal.config", "# CONFIG_KEEP is not set", "CONFIG_KEEP=y")
        assert run(mine, "-o", tmp_path / "out3").returncode == NOT_REPRODUCED
        assert run(mine, "--bisect", "-o", tmp_path / "out4").returncode == GOOD
        # The script cannot test (125): could not run, and skipped when bisecting.
        (mine / "test-script.sh").write_text("#!/bin/sh\nexit 125\n")
        assert run(mine, "-o", tmp_path / "out5").returncode == CANNOT
        assert run(mine, "--bisect", "-o", tmp_path / "out6").returncode == SKIP
    finally:
        moved.rename(tree)
