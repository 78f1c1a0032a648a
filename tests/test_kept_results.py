"""A finished result is never lost, and input that cannot work is refused before anything is
written: the paths a user walks after a session (a moved tree, a read-only or damaged copy, a
second run, a typo), through the real command on the embedded demo.

One demo session (about 20 s on two cores) is shared by the module; the tests that change its
tree put it back, the ones that damage its state work on a copy.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from support import missing

REPO = Path(__file__).resolve().parent.parent
CULPRITS = ["CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"]
RESULT_FILES = ("report.txt", "summary.json", "result.json", "fragment.config", "minimal.config",
                "reproduce.sh")

pytestmark = pytest.mark.needs("cc", "make")


def run(*args: object, cwd: Path, prefix: tuple = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    return subprocess.run([*prefix, sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def snapshot(state: Path) -> Dict[str, bytes]:
    return {name: (state / name).read_bytes() for name in RESULT_FILES if (state / name).exists()}


def journal_lines(state: Path) -> int:
    return len((state / "journal.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("kept") / "demo"
    done = run("demo", top, cwd=top.parent)
    assert done.returncode == 0, done.stderr
    return top


def minimize_args(tree: Path, state: Path, *extra: object) -> list:
    return ["minimize", tree / "configs" / "randconfig.config", "--tree", tree,
            "--baseline", tree / "configs" / "baseline.config", "--state", state, *extra]


def test_a_finished_session_leaves_no_lock_file_among_its_artifacts(demo):
    state = demo / "state"
    assert (state / "report.txt").is_file()
    assert not (state / ".lock").exists()


def test_resume_of_a_finished_session_says_so_and_builds_nothing(demo):
    state = demo / "state"
    before, lines = snapshot(state), journal_lines(state)
    done = run("resume", state, "--json", cwd=demo)
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["status"] == "minimized" and last["exit_code"] == 0
    assert sorted(last["fragment"]) == CULPRITS
    assert any("minimized by an earlier run" in line for line in done.stdout.splitlines())
    assert journal_lines(state) == lines  # not one build
    assert snapshot(state) == before  # the same summary and report, byte for byte

    plain = run("resume", state, cwd=demo)
    assert plain.returncode == 0
    assert "info: already minimized by an earlier run: 3 of 135 changes; nothing was built" \
        in plain.stdout
    assert journal_lines(state) == lines


def test_a_failed_resume_after_the_tree_moved_keeps_the_result(demo):
    state, tree = demo / "state", demo / "tree"
    partial = demo / "partial"
    # A partial session (stopped at its build limit) on the same tree: resumable, so its
    # inputs are checked.
    first = run(*minimize_args(tree, partial, "--max-builds", 4, "--workers", 1), cwd=demo)
    assert first.returncode == 3, first.stderr
    before = snapshot(partial)
    assert b"PARTIAL" in before["report.txt"]
    tree.rename(demo / "tree-moved")
    try:
        done = run("resume", partial, cwd=demo)
        again = run("resume", state, cwd=demo)  # the finished one needs no tree at all
    finally:
        (demo / "tree-moved").rename(tree)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith(f"ltobisect: error: cannot resume {partial}: bad config "
                               f"{tree}/configs/randconfig.config does not exist")
    assert f"what {partial} holds is unchanged" in lines[0]
    assert snapshot(partial) == before  # report, summary, result: not NOT STARTED
    assert again.returncode == 0 and "already minimized" in again.stdout + again.stderr
    shown = run("report", partial, cwd=demo)
    assert shown.returncode == 0 and "PARTIAL RESULT" in shown.stdout
    assert "NOT STARTED" not in shown.stdout


def test_a_worse_run_in_the_same_directory_never_replaces_the_result(demo, tmp_path):
    """Inside the session (past the input checks), a run that ends as bad input writes its
    error to the terminal only."""
    from ltobisect.errors import UserError
    from ltobisect.conductor.session import Session

    state = tmp_path / "state"
    shutil.copytree(demo / "state", state)
    data = json.loads((state / "result.json").read_text())
    data["status"] = "partial"  # as if stopped: the session is searched again, not skipped
    (state / "result.json").write_text(json.dumps(data))
    before = snapshot(state)

    def vanished(config, work):
        raise UserError("the tree vanished while loading")

    session = Session.from_state(state, tree_loader=vanished)
    result = session.run()
    assert result.exit_code == 1 and result.message == "the tree vanished while loading"
    assert result.hint == f"the earlier result in {state} is unchanged"
    assert result.artifacts == {}
    assert snapshot(state) == before


def test_report_prints_from_a_read_only_copy_and_writes_nothing(demo, tmp_path):
    copy = tmp_path / "downloaded"
    shutil.copytree(demo / "state", copy)
    listing = sorted((p.name, p.stat().st_mtime_ns) for p in copy.iterdir())
    expected = (copy / "report.txt").read_text()
    if os.geteuid() == 0:
        # Root writes through any mode bits: only a read-only mount stops it. Where there is
        # none to make, skipped by hand, failed in CI (the read-only case would go untested).
        if shutil.which("unshare") is None:
            missing("root without unshare: no read-only mount to test with")
        script = (f"mount --bind {copy} {copy} && mount -o remount,bind,ro {copy} && "
                  f"exec {sys.executable} -m ltobisect report {copy}")
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        if "mount" in done.stderr and done.returncode != 0 and not done.stdout:
            missing(f"no read-only mount here: {done.stderr.strip()}")
    else:
        for p in [copy, *copy.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        done = run("report", copy, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert all(c in done.stdout for c in CULPRITS)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in copy.iterdir()) == listing


def test_report_of_an_uploaded_out_directory_prints_the_report_as_written(demo, tmp_path):
    """A CI job uploads --out without the journal: a render would lose the statistics."""
    copy = tmp_path / "artifact"
    shutil.copytree(demo / "state", copy, ignore=shutil.ignore_patterns(
        "journal.jsonl", "workers", "logs", "kconfig"))
    done = run("report", copy, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (demo / "state" / "report.txt").read_text()


def test_a_damaged_session_json_is_one_plain_line_and_the_report_stays(demo, tmp_path):
    copy = tmp_path / "state"
    shutil.copytree(demo / "state", copy)
    (copy / "session.json").write_text("<html>proxy error</html>\n")
    before = snapshot(copy)
    for command in ("report", "resume"):
        done = run(command, copy, cwd=tmp_path)
        assert done.returncode == 1, (command, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr == (f"ltobisect: error: {copy}/session.json is damaged: it is not JSON "
                               f"at line 1, column 1 (the last report is {copy}/report.txt; start "
                               "a new session with another directory)\n")
    assert snapshot(copy) == before


def test_a_journal_of_random_bytes_is_said_as_lost_not_as_one_torn_record(demo, tmp_path):
    copy = tmp_path / "state"
    shutil.copytree(demo / "state", copy)
    data = json.loads((copy / "result.json").read_text())
    data["status"] = "partial"
    (copy / "result.json").write_text(json.dumps(data))
    garbage = os.urandom(4000).replace(b"{", b"x")
    (copy / "journal.jsonl").write_bytes(garbage)
    done = run("resume", copy, "--max-builds", 2, "--workers", 1, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    warning = [line for line in done.stdout.splitlines() if "journal" in line and "damaged" in line]
    assert len(warning) == 1, done.stdout
    assert "no record could be read, so every build runs again" in warning[0]
    assert "cut short" not in done.stdout
    assert (copy / "journal.jsonl.damaged").read_bytes() == garbage


@pytest.mark.parametrize("extra, message", [
    (["--failure", "99", "--log", "LOG"], "--failure 99: LOG holds 1 distinct failure"),
    (["--target", "nosuchtarget"], "--target nosuchtarget: the tree's Makefile has no such goal"),
    (["--target", "net/nosuch.o"], "--target net/nosuch.o: no source in the tree builds it"),
    (["--target", "nosuchdir/"], "--target nosuchdir/: the tree has no directory nosuchdir/"),
])
def test_a_typo_is_refused_before_the_state_directory_is_claimed(demo, tmp_path, extra, message):
    log = json.loads((demo / "state" / "session.json").read_text())["bad_outcome"]["log_path"]
    state = tmp_path / "state"
    extra = [str(log) if e == "LOG" else e for e in extra]
    done = run(*minimize_args(demo / "tree", state, *extra), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("ltobisect: error: " + message.replace("LOG", str(log)))
    assert len(done.stderr.strip().splitlines()) == 1
    assert not state.exists()


def test_a_failure_number_found_wrong_after_the_build_does_not_hold_the_directory(demo, tmp_path):
    state = tmp_path / "state"
    wrong = run(*minimize_args(demo / "tree", state, "--failure", 3, "--workers", 1), cwd=tmp_path)
    assert wrong.returncode == 1
    assert "--failure 3:" in wrong.stderr and "holds 1 distinct failure" in wrong.stderr
    assert "resume" not in wrong.stderr  # resuming would repeat the bad option
    fixed = run(*minimize_args(demo / "tree", state, "--failure", 1, "--max-builds", 2,
                               "--workers", 1), cwd=tmp_path)
    assert fixed.returncode == 3, fixed.stderr  # taken over, stopped at its build limit
    assert "belongs to another session" not in fixed.stderr


@pytest.mark.parametrize("where", ["tree", "state"])
def test_a_path_make_cannot_use_is_refused_with_a_clear_line(demo, tmp_path, where):
    odd = tmp_path / "with space"
    if where == "tree":
        shutil.copytree(demo / "tree", odd)
        args = minimize_args(odd, tmp_path / "state")
        said = f"the tree '{odd}' has a space in its path, where make cannot build"
        left = tmp_path / "state"
    else:
        args = minimize_args(demo / "tree", odd)
        said = f"--state '{odd}' has a space in its path, where make cannot build"
        left = odd
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"ltobisect: error: {said} (use a path without spaces or colons)\n"
    assert not left.exists()


def test_a_hook_rerun_on_its_finished_out_builds_nothing(demo, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(demo / "tree" / "configs" / "randconfig.config", build / ".config")
    out = tmp_path / "out"
    args = ["hook", "--build-dir", build, "--tree", demo / "tree", "--baseline",
            demo / "tree" / "configs" / "baseline.config", "--out", out, "--json"]
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert not (out / ".lock").exists()
    before = snapshot(out)
    second = run(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    last = json.loads(second.stdout.splitlines()[-1])
    assert last["status"] == "minimized" and sorted(last["fragment"]) == CULPRITS
    assert not any('"event": "test_started"' in line for line in second.stdout.splitlines())
    assert snapshot(out) == before


def test_a_refused_hook_leaves_no_directory_in_the_cache(demo, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    bad = (demo / "tree" / "configs" / "randconfig.config").read_text()
    (build / ".config").write_text(bad)
    # A baseline that differs only in a symbol the tree does not have: it passes the checks
    # made before the session, which then finds nothing to minimize after loading the tree
    # (in its work directory, under the cache).
    baseline = tmp_path / "same.config"
    baseline.write_text(bad + "CONFIG_NOT_A_SYMBOL_OF_THE_DEMO=y\n")
    work = Path(os.environ["LTOBISECT_CACHE_DIR"]) / "work"
    before = sorted(p.name for p in work.iterdir()) if work.is_dir() else []
    done = run("hook", "--build-dir", build, "--tree", demo / "tree", "--baseline", baseline,
               "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 1
    assert "equals the baseline" in done.stderr
    after = sorted(p.name for p in work.iterdir()) if work.is_dir() else []
    assert after == before
    assert not (tmp_path / "out" / ".lock").exists()
