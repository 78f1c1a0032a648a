"""The LLVM axis: the minimal config built with other LLVM releases (``--llvm-matrix``).

The toolchains are played by empty programs on a PATH of the test's own, the Kconfig side by a
resolver that drops an option the "older compiler" does not offer, the builds by a table. The
real runs are the demo's LLVM 16 crash (test_reduce.py) and the Linux 6.1 one
(test_e2e_kernel_slow.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from ltobisect.matrix import llvm as lm
from ltobisect.cli import main
from ltobisect.config import BuildSpec
from ltobisect.errors import InfraError, UserError
from ltobisect.store.journal import Journal
from ltobisect.model import Change, Ineffective, Outcome, Resolved, Verdict
from ltobisect.testing.planted import demo_git_history
from ltobisect.problem import Problem
from schema_support import check_lines, read_summary

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo"

TREE = Path("/src/linux")
ORIGINAL_PATH = os.environ.get("PATH", "")


@pytest.fixture
def toolchains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with clang and ld.lld 14, 16 and 19, and a clang-17 without its ld.lld."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("clang-14", "ld.lld-14", "clang-16", "ld.lld-16", "clang-19", "ld.lld-19", "clang-17"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_releases_are_read_from_a_list_or_from_what_is_installed(toolchains: Path):
    assert lm.parse("-19,-14,16,-16") == ("14", "16", "19")
    # clang-17 has no ld.lld-17: it cannot link, so it is not a release here.
    assert lm.parse("installed") == ("14", "16", "19")
    assert lm.missing("17") == "ld.lld-17" and lm.missing("15") == "clang-15 and ld.lld-15"
    with pytest.raises(UserError, match="'sixteen' is not an LLVM release"):
        lm.parse("-14,sixteen")


def test_a_toolchain_moves_to_another_release_however_it_names_its_own():
    def moved(**kw) -> BuildSpec:
        return lm.retarget(BuildSpec(tree=TREE, **kw), "19")

    assert moved(llvm="-16").llvm == "-19"
    assert moved(llvm="1").llvm == "-19"
    assert moved(llvm="/usr/lib/llvm-16/bin/").llvm == "/usr/lib/llvm-19/bin/"
    got = moved(make_vars=("CC=ccache clang-16 -flto=thin -fuse-ld=lld", "W=1", "KCFLAGS=-O1"))
    assert got.make_vars == ("CC=ccache clang-19 -flto=thin -fuse-ld=lld", "W=1", "KCFLAGS=-O1")
    assert moved(make_vars=("CC=clang", "LD=ld.lld")).make_vars == ("CC=clang-19", "LD=ld.lld-19")
    # The release the session runs with, whichever way it is named.
    assert lm.major_of(BuildSpec(tree=TREE, llvm="-16")) == "16"
    assert lm.major_of(BuildSpec(tree=TREE, make_vars=("CC=clang-16 -flto=thin",))) == "16"
    assert lm.major_of(BuildSpec(tree=TREE, llvm="1"),
                       {"clang": "Debian clang version 19.1.7 (3~deb12u1)"}) == "19"
    with pytest.raises(UserError, match="needs an LLVM toolchain"):
        lm.retarget(BuildSpec(tree=TREE, make_vars=("CC=gcc",)), "19")


def test_a_reproducer_script_moves_with_every_llvm_program_it_names():
    script = "ld.lld-16 @response.txt && llvm-link-16 a.bc && /usr/lib/llvm-16/bin/opt -O2 x -fuse-ld=lld"
    assert lm.retarget_text(script, "14") == (
        "ld.lld-14 @response.txt && llvm-link-14 a.bc && /usr/lib/llvm-14/bin/opt -O2 x -fuse-ld=lld")


def row(major: str, outcome: str, **kw) -> Dict:
    return lm.row(major, outcome, **kw)


@pytest.mark.parametrize("rows, line", [
    ([row("14", "builds"), row("15", "builds"), row("16", "reproduces"), row("19", "reproduces")],
     "builds with 14, 15; fails with 16, 19; first failing release: 16"),
    ([row("16", "reproduces"), row("17", "builds"), row("19", "builds")],
     "fails with 16; builds with 17, 19; first release that builds: 17"),
    ([row("16", "reproduces"), row("19", "builds")],
     "fails with 16; builds with 19; it was fixed between 16 and 19 (releases in between not tested)"),
    # Two flips: no single boundary to name.
    ([row("14", "reproduces"), row("15", "builds"), row("16", "reproduces")],
     "fails with 14, 16; builds with 15"),
    ([row("16", "reproduces"), row("14", "unavailable", detail="clang-14 not installed")],
     "not installed: 14; fails with 16"),
])
def test_the_line_says_which_releases_fail_and_where_it_starts(rows: List[Dict], line: str):
    assert lm.describe({"reported": "16", "releases": rows, "note": ""}) == line


class Stand:
    """The session's side of the matrix: a resolver per release, builds from a table."""

    def __init__(self, verdicts: Dict[str, Verdict], older_lacks: str = "") -> None:
        self.verdicts = verdicts
        self.older_lacks = older_lacks
        self.built: List[str] = []

    def resolve_for(self, build: BuildSpec) -> Resolved:
        major = lm.major_of(build)
        missing = ()
        if self.older_lacks and int(major) < 16:
            missing = (Ineffective(Change(self.older_lacks, "y"), "n", "unmet dependency: CC_HAS_FOO"),)
        return Resolved(frozenset(), f"CLANG_VERSION={major}0000\n", f"d{major}", ineffective=missing)

    def test(self, build: BuildSpec, resolved: Resolved) -> Outcome:
        major = lm.major_of(build)
        self.built.append(major)
        return Outcome(verdict=self.verdicts[major], duration=1.0)


def test_each_release_is_built_once_and_the_reported_one_never(toolchains: Path):
    stand = Stand({"14": Verdict.PASSES, "19": Verdict.REPRODUCES}, older_lacks="KCOV")
    build = BuildSpec(tree=TREE, llvm="-16")
    matrix = lm.run_matrix(("14", "15", "16", "19"), "16", build, stand.resolve_for, stand.test,
                           lambda n: "")
    assert stand.built == ["14", "19"]
    assert matrix["releases"] == [
        row("14", "builds", meaning=["CONFIG_KCOV=y (unmet dependency: CC_HAS_FOO)"]),
        row("15", "unavailable", detail="clang-15 and ld.lld-15 not installed"),
        row("16", "reproduces", detail="as reported"),
        row("19", "reproduces")]
    assert lm.describe(matrix) == (
        "builds with 14; not installed: 15; fails with 16, 19; it started failing between 14 and "
        "16 (releases in between not tested) (under 14 the fragment does not hold CONFIG_KCOV=y (unmet dependency: CC_HAS_FOO))")


def test_a_budget_that_cannot_afford_them_builds_none_and_says_why(toolchains: Path):
    stand = Stand({})
    matrix = lm.run_matrix(("14", "16", "19"), "16", BuildSpec(tree=TREE, llvm="-16"),
                           stand.resolve_for, stand.test,
                           lambda n: lm.affordable(100.0, None, 60.0, n))
    assert stand.built == []
    assert [r["outcome"] for r in matrix["releases"]] == ["skipped", "reproduces", "skipped"]
    assert matrix["note"] == "the budget left (100s) cannot afford 2 more clean builds of about 240s each"
    assert lm.affordable(None, 1, 60.0, 2) == "the build limit leaves no room for 2 more builds"


def test_an_infrastructure_error_keeps_what_was_built_and_says_the_rest_was_not(toolchains: Path):
    stand = Stand({"14": Verdict.PASSES})

    def test(build: BuildSpec, resolved: Resolved) -> Outcome:
        if lm.major_of(build) == "19":
            raise InfraError("the worker went away")
        return stand.test(build, resolved)

    matrix = lm.run_matrix(("14", "19"), "16", BuildSpec(tree=TREE, llvm="-16"),
                           stand.resolve_for, test, lambda n: "")
    assert [r["outcome"] for r in matrix["releases"]] == ["builds", "reproduces", "skipped"]
    assert "the worker went away" in matrix["note"]


class Runner:
    """Builds answer from a table by digest; ``runs`` counts the builds."""

    workers = 1

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.runs = 0

    def run(self, items, on_done, labels=None):
        out = []
        for i, r in enumerate(items):
            self.runs += 1
            o = Outcome(verdict=self.verdict, duration=2.0)
            on_done(i, r, o)
            out.append(o)
        return out


def test_a_release_s_build_is_journaled_under_its_oracle_and_never_becomes_the_session_s(tmp_path: Path):
    journal = Journal(tmp_path / "journal.jsonl", "session-fp")
    same = Resolved(frozenset({Change("A", "y")}), "CONFIG_A=y\n", "same-digest")
    session_runner = Runner(Verdict.REPRODUCES)
    problem = Problem([Change("A", "y")], lambda c: same, session_runner, journal)
    assert problem.test_many([{Change("A", "y")}])[0].verdict is Verdict.REPRODUCES

    # The same config text under another release (a demo tree has no CC-derived symbols).
    journal.fingerprint = "llvm19-fp"
    problem._runner = other = Runner(Verdict.PASSES)
    assert problem.test_resolved([same])[0].verdict is Verdict.PASSES and other.runs == 1
    journal.fingerprint = "session-fp"
    assert problem.known({Change("A", "y")}) is Verdict.REPRODUCES  # still the session's own

    # A resumed session (a new journal reader, a new problem) builds it no more.
    journal2 = Journal(tmp_path / "journal.jsonl", "llvm19-fp")
    again = Runner(Verdict.REPRODUCES)
    later = Problem([Change("A", "y")], lambda c: same, again, journal2)
    assert later.test_resolved([same])[0].verdict is Verdict.PASSES and again.runs == 0


def test_the_command_line_refuses_a_matrix_it_cannot_build_before_any_build(
        tmp_path: Path, capsys, toolchains: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", f"{toolchains}:{ORIGINAL_PATH}")  # make and cc too
    demo = Path(__file__).resolve().parent.parent / "examples" / "demo"
    bad = demo / "configs" / "randconfig.config"
    cases = [
        (["--make", "CC=clang-16", "--llvm-matrix", "-14,-15"],
         "--llvm-matrix: clang-15 and ld.lld-15 not installed"),
        (["--make", "CC=cc", "--llvm-matrix", "-14"], "--llvm-matrix needs an LLVM toolchain"),
        (["--make", "CC=clang-16", "--llvm-matrix", "-14,x"], "--llvm-matrix: 'x' is not an LLVM release"),
    ]
    for extra, said in cases:
        state = tmp_path / "state"
        code = main(["minimize", str(bad), "--tree", str(demo), "--state", str(state), *extra])
        err = capsys.readouterr().err
        assert code == 1 and said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
        assert not state.exists()


@pytest.mark.needs("make", "clang-16", "ld.lld-16", "clang-19", "ld.lld-19")
def test_a_minimized_session_asked_later_builds_only_the_releases(tmp_path: Path):
    """`resume --llvm-matrix` on a minimized session: no search again, one build per release
    (each journaled: a second resume builds nothing), the result and its report amended."""
    repo, _, bad = demo_git_history(DEMO, tmp_path)  # the demo's net/tso.c compile error
    state = tmp_path / "state"
    first = cli("minimize", bad, "--tree", repo, "--state", state, "--make", "CC=clang-16",
                "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    builds = len((state / "journal.jsonl").read_text().splitlines())
    assert json.loads(first.stdout.splitlines()[-1])["llvm_matrix"] is None

    later = cli("resume", state, "--llvm-matrix", "-16,-19", "--json", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    lines = [json.loads(line) for line in later.stdout.splitlines()]
    check_lines(lines)
    s = lines[-1]
    assert s["llvm_matrix"]["line"] == "LLVM: fails with 16, 19"
    assert read_summary(state / "summary.json")["llvm_matrix"]["line"] == s["llvm_matrix"]["line"]
    assert s["fragment"] == ["CONFIG_NET=y", "CONFIG_NET_TSO=y"]
    records = [json.loads(ln) for ln in (state / "journal.jsonl").read_text().splitlines()]
    assert len(records) == builds + 1 and records[-1]["label"] == "llvm matrix"
    assert "LLVM: fails with 16, 19" in (state / "report.txt").read_text()

    again = cli("resume", state, "--llvm-matrix", "-19", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len((state / "journal.jsonl").read_text().splitlines()) == builds + 1


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_the_session_s_own_release_is_in_the_line_even_when_not_asked_for(toolchains: Path):
    stand = Stand({"14": Verdict.PASSES, "19": Verdict.PASSES})
    matrix = lm.run_matrix(("14", "19"), "16", BuildSpec(tree=TREE, llvm="-16"), stand.resolve_for,
                           stand.test, lambda n: "")
    assert stand.built == ["14", "19"]
    assert [r["llvm"] for r in matrix["releases"]] == ["14", "16", "19"]
    assert lm.describe(matrix) == "builds with 14, 19; fails with 16"
