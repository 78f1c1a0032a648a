"""Verification's re-check; the kernel's own olddefconfig agrees with our resolution; lld's
reproduce tarball."""
from __future__ import annotations

import tarfile
import threading
from pathlib import Path

import pytest

from ltobisect.config import BuildSpec
from ltobisect.model import Change
from ltobisect.artifacts.linkrepro import lld_reproduce, relink_alone
from ltobisect.model import Signature
from ltobisect.conductor.verify import SETTLE_MAX, Verifier, check_with_make

from fakes import changes, make_problem


def test_the_recheck_is_not_decided_by_a_single_flip():
    """A needed-looking change the search kept because of one flaky "passes": the re-check
    rebuilds best minus it until one side leads by two, so one more flip cannot decide.

    {a} gives P in the search, then R, P (a tie, then behind by one: a rule that let one flip
    decide stopped there and kept b), then R from there on. What is asserted is the rule of
    ``Verifier._second_opinion``, not a number of builds: {a} is adopted; its verdicts end
    with one side two ahead (within SETTLE_MAX), and the rebuilds stopped as soon as that was
    so; {b}, whose verdicts agree, costs at most the one re-check rebuild.
    """
    chs = changes(4)
    a, b = chs[:2]
    script = {frozenset({a}): iter([False, True, False] + [True] * 10)}  # {a} does fail

    def predicate(r) -> bool:
        seq = script.get(r.candidate)
        return next(seq) if seq is not None else a in r.candidate

    problem = make_problem(chs, predicate)
    problem.set_best(frozenset({a, b}))
    assert not problem.consider({a})  # the flip during the search
    problem.consider({b})
    verifier = Verifier(problem, problem.fake_journal, chs, 2, on_best=lambda *_: None,
                        emit=lambda _: None, phase=lambda *_: None)
    assert verifier.recheck(frozenset({a, b}))
    assert problem.best == {a}

    def verdicts(cand) -> list:
        digest = problem.resolve(frozenset(cand)).digest
        return [rec.outcome.verdict.value for rec in problem.fake_journal.history(digest)]

    def lead(vs: list) -> int:
        return abs(vs.count("reproduces") - vs.count("passes"))

    of_a = verdicts({a})
    assert of_a[:3] == ["passes", "reproduces", "passes"]  # behind by one: not decided there
    assert lead(of_a) >= 2 and of_a.count("reproduces") > of_a.count("passes")
    assert len(of_a) <= SETTLE_MAX  # "or SETTLE_MAX verdicts are in"
    assert lead(of_a[:-1]) < 2  # no rebuild once one side led by two
    of_b = verdicts({b})
    assert set(of_b) == {"passes"} and len(of_b) <= 2


@pytest.mark.needs("ld.lld-16", "clang-16")
def test_lld_reproduce_keeps_the_tarball_of_the_failing_link(tmp_path):
    src = tmp_path / "a.c"
    src.write_text("void missing(void);\nvoid _start(void) { missing(); }\n")
    script = tmp_path / "reproduce.sh"
    script.write_text(
        "#!/bin/sh\n"
        "[ \"$1\" = -o ] || exit 2  # called as reproduce.sh -o OUT_DIR\n"
        "shift\n"
        "mkdir -p \"$1\" || exit 2\n"
        f"clang-16 -c {src} -o {tmp_path}/a.o || exit 2\n"
        f"ld.lld-16 {tmp_path}/a.o -o {tmp_path}/a.out 2>\"$1/link.log\"\n"
        "grep -q 'undefined symbol: missing' \"$1/link.log\" && exit 0\n"
        "exit 1\n"
    )
    state = tmp_path / "state"
    state.mkdir()
    info = lld_reproduce(script, state, state / "lld-reproduce.tar", limit=60, stop=threading.Event())
    assert info["made"] is True, info
    with tarfile.open(info["path"]) as tar:
        names = tar.getnames()
    assert any(n.endswith("response.txt") for n in names)
    assert any(n.endswith("a.o") for n in names)
    # Replayed alone, from the tarball in a clean directory, as a maintainer will.
    ours = Signature("link-error", "ld.lld", "undefined symbol: missing", "missing")
    again = relink_alone(Path(info["path"]), "ld.lld-16", ours, state, limit=60, stop=threading.Event())
    assert again == {"relinks": True, "relink_said": "ld.lld: undefined symbol: missing (link-error)",
                     "relink_command": "cd lld-reproduce && ld.lld-16 @response.txt"}
    assert not (state / "relink").exists()  # the unpacked copy is gone
    other = Signature("link-error", "ld.lld", "undefined symbol: elsewhere", "elsewhere")
    said = relink_alone(Path(info["path"]), "ld.lld-16", other, state, limit=60, stop=threading.Event())
    assert said["relinks"] is False
    assert said["relink_said"] == "ld.lld: undefined symbol: missing (link-error)"


def test_a_tarball_that_is_not_lds_own_is_not_unpacked(tmp_path):
    bad = tmp_path / "evil.tar"
    with tarfile.open(bad, "w") as tar:
        (tmp_path / "x").write_text("x")
        tar.add(tmp_path / "x", arcname="../outside")
    ours = Signature("link-error", "ld.lld", "undefined symbol: missing", "missing")
    said = relink_alone(bad, "ld.lld-16", ours, tmp_path / "w", limit=60, stop=threading.Event())
    assert said == {"relinks": False, "relink_said": "the tarball holds more than lld writes"}
    assert not (tmp_path / "outside").exists()


def test_lld_reproduce_says_why_when_the_reproducer_does_not_reproduce(tmp_path):
    script = tmp_path / "reproduce.sh"
    script.write_text("#!/bin/sh\nexit 1\n")
    state = tmp_path / "state"
    state.mkdir()
    info = lld_reproduce(script, state, state / "lld-reproduce.tar", limit=60, stop=threading.Event())
    assert info["made"] is False and "did not reproduce" in info["reason"]


@pytest.mark.kernel
def test_the_kernels_olddefconfig_agrees_with_our_resolution_on_linux_6_1(kernel_tree, tmp_path):
    from ltobisect.kconfig import KconfigTree

    build = BuildSpec(tree=kernel_tree, arch="x86_64", llvm="-16")
    tree = KconfigTree.load(kernel_tree, arch="x86_64", llvm="-16", work_dir=tmp_path / "k")
    base = tree.baseline("tinyconfig")
    best = frozenset({Change("USELIB", "y"), Change("CROSS_MEMORY_ATTACH", "y")})
    resolved = tree.resolver(base)(best)
    got = check_with_make(tree, build, base, best, resolved, tmp_path / "olddefconfig")
    assert got["checked"] is True, got
    assert got["equal"] is True, got["diff"]


@pytest.mark.kernel
def test_half_a_choice_switch_is_caught_where_merge_config_reads_it_otherwise(kernel_tree, tmp_path):
    """Linux 6.1, defconfig + `# CONFIG_HZ_1000 is not set` alone: appended, conf keeps HZ_1000
    (what we resolve); merge_config.sh drops the baseline's HZ_1000=y line, so conf takes the
    default HZ_250. The check must say the fragment is not exact, and through which reading."""
    from ltobisect.kconfig import KconfigTree, parse_config

    build = BuildSpec(tree=kernel_tree, arch="x86_64", llvm="-16")
    tree = KconfigTree.load(kernel_tree, arch="x86_64", llvm="-16", work_dir=tmp_path / "k")
    base = tree.baseline("defconfig")
    best = frozenset({Change("HZ_1000", "n", "bool", "y")})
    resolved = tree.resolver(base)(best)
    assert parse_config(resolved.config_text)["HZ_1000"] == "y"
    got = check_with_make(tree, build, base, best, resolved, tmp_path / "olddefconfig")
    assert got["checked"] is True and got["equal"] is False
    assert got["readings"]["appended"]["equal"] is True
    merged = got["readings"]["merge_config"]
    assert merged["equal"] is False
    assert "CONFIG_HZ_1000: ours y, make n" in merged["diff"]
    assert "CONFIG_HZ_250: ours n, make y" in merged["diff"]


@pytest.mark.kernel
def test_both_readings_agree_on_linux_6_12(kernel_tree_612, tmp_path):
    """6.11+ conf reads a fragment the same appended or merged: the last line of each symbol
    counts, and its place in the choice's priority list is that line's place."""
    from ltobisect.kconfig import KconfigTree, parse_config

    build = BuildSpec(tree=kernel_tree_612, arch="x86_64", llvm="-19")
    tree = KconfigTree.load(kernel_tree_612, arch="x86_64", llvm="-19", work_dir=tmp_path / "k")
    base = tree.baseline("defconfig")
    best = frozenset({Change("HZ_1000", "n", "bool", "y")})
    resolved = tree.resolver(base)(best)
    got = check_with_make(tree, build, base, best, resolved, tmp_path / "olddefconfig")
    assert got["checked"] is True and got["equal"] is True, got["diff"]
    assert parse_config(resolved.config_text)["HZ_1000"] == "n"
