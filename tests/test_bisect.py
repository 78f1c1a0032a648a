"""`ltobisect bisect`: the first bad commit of a minimized failure.

Two levels:
- the bisection's rules on small git histories of our own, where a revision's build answers what
  a file of the revision says (good, bad, another failure, flaky): skips, the range they hide,
  flakiness, the revert check, a killed run continued;
- the demo's history (:func:`ltobisect.testing.planted.demo_git_history`), minimized and bisected
  through the command line with real builds: the skip and the revert check visible, kill -9 and
  the same command again.

The real kernel's history is in test_e2e_kernel_slow.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from ltobisect.conductor import first_bad as fb
from ltobisect.config import BuildSpec, SessionConfig
from ltobisect.errors import NotReproduced, UserError
from ltobisect.history import Repo
from ltobisect.limits import StopCondition
from ltobisect.model import Change, Outcome, SessionStatus, Signature, Verdict
from ltobisect.testing.planted import demo_git_history
from ltobisect.store.state import ResultDoc

from schema_support import check_lines, read_summary
from support import wait_until

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
pytestmark = pytest.mark.needs("git")

ENV = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="T",
           GIT_COMMITTER_EMAIL="t@example.org", GIT_CONFIG_NOSYSTEM="1")


def history(tmp: Path, answers: List[str]) -> tuple:
    """A repository whose n-th commit's file ``answer`` says how its build goes (good, bad,
    other, flaky); returns (checkout, shas oldest first)."""
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "Kconfig").write_text('config A\n\tbool "a"\n')
    env = dict(ENV, HOME=str(tmp))
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    run("init", "-q", "-b", "main")
    shas = []
    for i, answer in enumerate(answers):
        (repo / "answer").write_text(answer + "\n")
        (repo / f"f{i}").write_text(f"{i}\n")
        run("add", "-A")
        run("commit", "-q", "-m", f"commit {i}: {answer}")
        shas.append(run("rev-parse", "HEAD"))
    return repo, shas


class Builds:
    """The executor: a build's verdict is what ``answer`` in the checkout says; a flaky one
    alternates. ``built`` lists (answer, label) of every build."""

    def __init__(self, src: Path) -> None:
        self.src = src
        self.built: List[tuple] = []
        self.flips: Dict[str, int] = {}

    def __call__(self, spec) -> "Builds":
        return self

    def judge_by(self, spec) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, items, on_done, labels=None):
        answer = (self.src / "answer").read_text().strip()
        self.built.append((answer, labels[0] if labels else ""))
        if answer == "flaky":
            n = self.flips[answer] = self.flips.get(answer, 0) + 1
            answer = "bad" if n % 2 else "good"
        verdict = {"good": Verdict.PASSES, "bad": Verdict.REPRODUCES}.get(answer, Verdict.OTHER_FAILURE)
        return [Outcome(verdict=verdict, duration=1.0, detail="" if answer in ("good", "bad")
                        else "make: missing separator [net/Kbuild] (make)")]


def prepared(tmp: Path, repo: Path, verify: int = 1) -> fb.Prepared:
    cfg = SessionConfig(bad_config=tmp / "bad.config", state_dir=tmp / "state",
                        build=BuildSpec(tree=repo), baseline="allnoconfig", verify_repeats=verify)
    sig = Signature(kind="compile-error", tool="cc", message="boom", location="a.c")
    result = ResultDoc(status=SessionStatus.MINIMIZED, exit_code=0, message="",
                       best={"digest": "d", "changes": [{"name": "A", "value": "y"}]})
    return fb.Prepared(cfg, sig, result, frozenset({Change("A", "y")}))


def bisection(tmp: Path, repo: Path, good: str, bad: str, verify: int = 1):
    builds = Builds(tmp / "work" / "bisect" / "src")
    bis = fb.Bisection(prepared(tmp, repo, verify), Repo(repo), good, bad, builds, lambda ev: None,
                       StopCondition(), tmp / "work")
    return bis, builds


def test_a_skipped_commit_is_neither_good_nor_bad_and_the_first_bad_one_is_found(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "good", "other", "good", "bad", "bad"])
    bis, builds = bisection(tmp_path, repo, shas[0], shas[-1])
    out = bis.run()
    assert out["first_bad"] == shas[5] and out["candidates"] == []
    assert out["commit"]["subject"] == "commit 5: bad"
    assert out["commit"]["fixes"] == f'Fixes: {shas[5][:12]} ("commit 5: bad")'
    assert [s["rev"] for s in out["skipped"]] == [shas[3]]
    assert out["skipped"][0]["why"] == "make: missing separator [net/Kbuild] (make)"
    # Endpoints first, then git's own choice: the middle of the range, which is the skip.
    assert builds.built[:3] == [("good", "bisect test"), ("bad", "bisect test"), ("other", "bisect test")]
    assert out["confidence"]["line"] == "confirmed: it failed 2 times out of 2, its parent built 2 " \
                                        "times out of 2"
    # Reverting commit 5 on commit 6 puts back answer=good.
    assert out["revert"] == {"reverted": True, "verdict": "good",
                             "line": f"reverted on {shas[-1][:12]}, it builds clean"}
    # The user's checkout is as it was: no bisect refs, no index change, a clean tree.
    assert not (repo / ".git" / "BISECT_LOG").exists() and not (repo / ".git" / "refs" / "bisect").exists()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert status.stdout == ""


def test_skips_next_to_the_first_bad_commit_leave_a_range(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "other", "other", "bad", "bad"])
    bis, _ = bisection(tmp_path, repo, shas[0], shas[-1])
    out = bis.run()
    assert out["first_bad"] is None and out["commit"] is None
    assert set(out["candidates"]) == {shas[2], shas[3], shas[4]}
    assert "revert" not in out  # nothing to revert when the commit is not known


def test_a_flaky_side_is_said_and_makes_the_result_uncertain(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "flaky", "bad"])
    bis, _ = bisection(tmp_path, repo, shas[0], shas[-1])
    out = bis.run()
    # flaky builds: bad (the test), good (the confirmation)
    assert out["first_bad"] == shas[2]
    assert out["confidence"]["flaky"] == [{"rev": shas[2], "verdicts": ["bad", "good"]}]
    assert out["confidence"]["line"].startswith(f"flaky: {shas[2][:12]} gave bad, good")


def test_endpoints_that_do_not_answer_as_they_must_end_the_run_in_one_line(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "bad", "bad", "good"])
    bis, _ = bisection(tmp_path, repo, shas[1], shas[2])
    with pytest.raises(UserError, match="the good revision .* does not build cleanly"):
        bis.run()
    (tmp_path / "b").mkdir()
    bis, _ = bisection(tmp_path / "b", repo, shas[0], shas[3])
    with pytest.raises(NotReproduced, match="the bad revision .* does not fail this way"):
        bis.run()
    (tmp_path / "c").mkdir()
    bis, _ = bisection(tmp_path / "c", repo, shas[2], shas[0])
    with pytest.raises(UserError, match="is not an ancestor of the bad one"):
        bis.run()
    with pytest.raises(UserError, match="'nope' is not a commit"):
        Repo(repo).resolve("nope", "--good")
    with pytest.raises(UserError, match="is not a git checkout"):
        Repo(tmp_path)


def test_a_second_run_builds_nothing_the_first_one_finished(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "good", "good", "bad", "bad"])
    bis, first = bisection(tmp_path, repo, shas[0], shas[-1])
    one = bis.run()
    bis2, second = bisection(tmp_path, repo, shas[0], shas[-1])
    two = bis2.run()
    assert second.built == [] and one["first_bad"] == two["first_bad"] == shas[4]
    assert two["builds"] == one["builds"] == len(first.built)


# -- the demo's history, through the command line --------------------------------------------
needs_cc = pytest.mark.needs("cc", "make")


def cli(*args, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def done(proc: subprocess.Popen, timeout: float = 600) -> tuple:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def minimized(tmp_path_factory) -> tuple:
    tmp = tmp_path_factory.mktemp("history")
    repo, revs, bad = demo_git_history(DEMO, tmp)
    state = tmp / "state"
    code, out, err = done(cli("minimize", bad, "--tree", repo, "--state", state, "--workers", "2",
                              "--json", cwd=tmp))
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["fragment"] == ["CONFIG_NET=y", "CONFIG_NET_TSO=y"]
    return tmp, repo, revs, state


@needs_cc
def test_the_demo_history_bisects_to_the_commit_that_broke_it(minimized, tmp_path: Path):
    tmp, repo, revs, state = minimized
    mine = tmp_path / "state"
    shutil.copytree(state, mine)
    index_before = (repo / ".git" / "index").stat().st_mtime_ns
    code, out, err = done(cli("bisect", mine, "--good", revs["good"][:10], "--verify", "1", "--json",
                              cwd=tmp_path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    check_lines(lines)
    b = lines[-1]["bisect"]
    assert read_summary(mine / "summary.json")["bisect"]["first_bad"] == revs["first_bad"]
    assert b["first_bad"] == revs["first_bad"]
    assert b["commit"]["fixes"] == f'Fixes: {revs["first_bad"][:12]} ("net: tso: use the device\'s GSO size")'
    assert b["commit"]["author"] == "A. Developer <dev@example.org>"
    # The commit that broke net/Kbuild another way was tested and skipped, not judged.
    assert [s["rev"] for s in b["skipped"]] == [revs["broken"]]
    assert b["revert"]["line"] == f"reverted on {revs['bad'][:12]}, it builds clean"
    assert b["range"] == 6 and b["builds"] == len(b["steps"]) <= 9
    report = (mine / "report.txt").read_text()
    assert f'First bad commit: {revs["first_bad"][:12]} ("net: tso: use the device\'s GSO size")' in report
    assert f"skipped {revs['broken'][:12]}: make: missing separator [net/Kbuild] (make)" in report
    assert (repo / ".git" / "index").stat().st_mtime_ns == index_before
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout == ""


@needs_cc
def test_a_killed_bisection_continues_without_building_again(minimized, tmp_path: Path):
    tmp, repo, revs, state = minimized
    mine = tmp_path / "state"
    shutil.copytree(state, mine)
    proc = cli("bisect", mine, "--good", revs["good"], "--verify", "1", "--json", cwd=tmp_path)
    steps = mine / "bisect" / fb.STEPS_FILE
    wait_until(lambda: proc.poll() is not None
               or steps.is_file() and len(steps.read_text().splitlines()) >= 3,
               timeout=300, what="three bisection steps")
    assert proc.poll() is None, "the bisection ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    before = steps.read_text().splitlines()
    assert len(before) >= 3

    code, out, err = done(cli("bisect", mine, "--json", cwd=tmp_path))  # no --good: remembered
    assert code == 0, err
    b = json.loads(out.splitlines()[-1])["bisect"]
    assert b["first_bad"] == revs["first_bad"]
    after = steps.read_text().splitlines()
    assert after[:len(before)] == before  # kept, in order
    tests = [(json.loads(ln)["rev"], json.loads(ln)["kind"]) for ln in after]
    assert len([t for t in tests if t[1] == "test"]) == len({t for t in tests if t[1] == "test"})


def test_a_build_killed_by_a_stop_is_no_verdict_and_the_next_run_builds_it(tmp_path: Path):
    from ltobisect.errors import Stopped

    repo, shas = history(tmp_path, ["good", "good", "good", "good", "bad", "bad"])
    bis, builds = bisection(tmp_path, repo, shas[0], shas[-1])
    real_run = builds.run

    def stopped_on_the_third(items, on_done, labels=None):
        if len(builds.built) == 2:
            bis.stop.request("the budget of 1h ran out")
            builds.built.append(("killed", labels[0]))
            return [Outcome(verdict=Verdict.INFRA_ERROR, duration=5.0, detail="killed")]
        return real_run(items, on_done, labels)

    builds.run = stopped_on_the_third
    with pytest.raises(Stopped):
        bis.run()
    recorded = [json.loads(ln) for ln in (tmp_path / "work" / "bisect" / fb.STEPS_FILE).read_text().splitlines()]
    assert [r["verdict"] for r in recorded] == ["good", "bad"]  # the endpoints; not the killed one
    bis2, again = bisection(tmp_path, repo, shas[0], shas[-1])
    out = bis2.run()
    assert out["first_bad"] == shas[4] and again.built[0] == ("good", "bisect test")
    assert ("good", "bisect test") in again.built and len(again.built) == out["builds"] - 2


def test_the_live_view_says_the_range_left_and_the_builds():
    from ltobisect.events import ReduceProgress
    from ltobisect.ui.plain import reduce_progress

    said = reduce_progress(ReduceProgress(step="bisect", size=3, unit="commits", start=40, tests=5))
    assert said == "bisecting: 3 of 40 commits left after 5 builds"


def test_the_live_view_expects_a_few_more_builds_while_bisecting():
    from ltobisect.events import ReduceProgress
    from ltobisect.model import Phase
    from ltobisect.ui.view import ViewState

    st = ViewState()
    st.apply(ReduceProgress(step="bisect", size=64, unit="commits", start=64, tests=2))
    assert st.phase == Phase.BISECTING and st.commits_left == 64
    assert st.phase_detail == "bisecting: 64 of 64 commits left after 2 builds"
    st.build_seconds, st.timed = 600.0, 2  # builds of 5 minutes: 6 halvings and 3 checks left
    assert st.eta(1) == pytest.approx((6 + 3) * 300.0)


@needs_cc
def test_what_cannot_be_bisected_is_one_line_and_leaves_the_result_as_it_was(minimized, tmp_path: Path):
    tmp, repo, revs, state = minimized
    mine = tmp_path / "state"
    shutil.copytree(state, mine)
    result = (mine / "result.json").read_text()
    cases = [
        (["--good", revs["good"], "--repo", tmp_path], 1, "is not a git checkout"),
        (["--repo", repo], 1, "--good is needed the first time"),
        (["--good", "v0.0-nope"], 1, "--good 'v0.0-nope' is not a commit"),
        (["--good", revs["first_bad"]], 1, "the good revision"),
        (["--good", revs["good"], "--bad", revs["fixed"]], 4, "does not fail this way"),
    ]
    for args, code, said in cases:
        got, out, err = done(cli("bisect", mine, *args, cwd=tmp_path))
        assert got == code and said in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert (mine / "result.json").read_text() == result
    got, out, err = done(cli("bisect", tmp_path / "nothing", "--good", "HEAD", cwd=tmp_path))
    assert got == 1 and "Traceback" not in err


def test_a_revision_whose_kconfig_cannot_be_read_is_skipped(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "bad", "bad", "bad"])
    env = dict(ENV, HOME=str(tmp_path))
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    # One more history: the middle commit's Kconfig does not parse.
    git("checkout", "-q", "-b", "broken", shas[1])
    (repo / "Kconfig").write_text('config A\n\tbool "a"\n\tdepends on (\n')
    (repo / "answer").write_text("bad\n")
    git("commit", "-qam", "Kconfig: a syntax error")
    broken = git("rev-parse", "HEAD")
    (repo / "Kconfig").write_text('config A\n\tbool "a"\n')
    git("commit", "-qam", "Kconfig: fixed")
    bis, builds = bisection(tmp_path, repo, shas[0], git("rev-parse", "HEAD"))
    out = bis.run()
    skipped = {s["rev"]: s["why"] for s in out["skipped"]}
    assert list(skipped) == [broken] and skipped[broken].startswith("its Kconfig cannot be read")
    assert out["first_bad"] is None and set(out["candidates"]) == {broken, git("rev-parse", "HEAD")}


def test_a_fragment_line_a_revision_does_not_know_is_said_not_dropped(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "bad", "bad"])
    env = dict(ENV, HOME=str(tmp_path))
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                    capture_output=True, text=True).stdout.strip()
    # An older revision before CONFIG_A existed: the good endpoint builds without it.
    git("checkout", "-q", "-b", "older", shas[0])
    (repo / "Kconfig").write_text('config B\n\tbool "b"\n')
    git("commit", "-qam", "Kconfig: before A")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-edit", "older", "-s", "ours")  # A's history sees the old one too
    bis, _ = bisection(tmp_path, repo, git("rev-parse", "older"), git("rev-parse", "HEAD"))
    out = bis.run()
    assert out["unknown"] == ["CONFIG_A=y (unknown symbol)"]
    first = next(s for s in out["steps"] if s["rev"] == git("rev-parse", "older"))
    assert first["unknown"] == ["CONFIG_A=y (unknown symbol)"] and first["verdict"] == "good"
    assert out["first_bad"] == shas[2]
    from ltobisect.artifacts.facts import bisect_lines
    assert "  some revisions do not hold: CONFIG_A=y (unknown symbol)" in bisect_lines(out)


def test_a_step_torn_by_a_kill_is_cut_off_and_built_again(tmp_path: Path):
    repo, shas = history(tmp_path, ["good", "good", "good", "bad", "bad"])
    bis, _ = bisection(tmp_path, repo, shas[0], shas[-1])
    one = bis.run()
    steps = tmp_path / "work" / "bisect" / fb.STEPS_FILE
    lines = steps.read_text().splitlines(keepends=True)
    steps.write_text("".join(lines[:-1]) + lines[-1][:20])  # the last record half written
    bis2, again = bisection(tmp_path, repo, shas[0], shas[-1])
    two = bis2.run()
    assert len(again.built) == 1 and two["first_bad"] == one["first_bad"] == shas[3]
    assert [json.loads(ln) for ln in steps.read_text().splitlines()]  # every line whole again
