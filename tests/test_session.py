"""Whole sessions over a tiny Kconfig tree: results, resume after kill -9, Ctrl-C, faults, bad input.

The tree (tests/data/tinytree) is loaded by the real Kconfig layer; tests run either the real
script oracle (test.sh) or PyOracle, the same predicate in Python with injected faults.
"""
from __future__ import annotations

import _thread
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ltobisect.store import journal as jr
from ltobisect.config import Limits
from ltobisect.errors import ExitCode
from ltobisect.events import ListReporter, StrategyStarted, TestFinished
from ltobisect.model import Label
from ltobisect.artifacts.report import FLAKY_SHOWN
from ltobisect.conductor.session import Session

from session_support import EXPECTED, PyOracle, py_factory, tiny_config, tiny_tree
from support import wait_until
from schema_support import read_summary

SEARCH_LABELS_EXCLUDED = {"verify", "recheck"}


def journal_records(state: Path):
    return jr.Journal(state / "journal.jsonl").records()


def assert_no_test_ran_twice(state: Path) -> None:
    """Every search test (all but verification rebuilds) of a digest is in the journal once."""
    seen = {}
    for r in journal_records(state):
        if r.label in SEARCH_LABELS_EXCLUDED:
            continue
        key = (r.digest, r.fingerprint)
        assert key not in seen, f"{r.digest[:12]} tested twice ({seen[key]}, then {r.label})"
        seen[key] = r.label


# -- the plain path --------------------------------------------------------------------------
def test_minimizes_with_the_script_oracle_and_writes_every_artifact(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    rep = ListReporter()
    result = Session(tiny_config(tree, state), rep).run()
    assert result.status == "minimized" and result.exit_code == ExitCode.MINIMIZED
    assert result.fragment == EXPECTED
    assert result.verified and result.total_changes == 24 and result.best_size == 4
    for name in ("report.txt", "summary.json", "minimal.config", "fragment.config", "reproduce.sh"):
        assert (state / name).is_file(), name
    assert (state / "fragment.config").read_text().splitlines() == list(EXPECTED)
    summary = read_summary(state / "summary.json")
    assert summary["status"] == "minimized" and summary["fragment"] == list(EXPECTED)
    assert summary["counts"]["builds"] == result.builds > 0
    # The reproducer works from a clean directory and says so with its exit status.
    proc = subprocess.run(["sh", str(state / "reproduce.sh"), "-o", str(tmp_path / "clean")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_test_ran_twice(state)
    # The default strategy's steps are announced as they start, each from the best so far.
    started = [(e.strategy, e.size, e.total) for e in rep.events if isinstance(e, StrategyStarted)]
    assert [s[0] for s in started] == ["bisect", "swap"]
    assert started[0] == ("bisect", 24, 24) and started[1][1] == 4


def test_a_link_failure_found_by_a_build_oracle_is_minimized_and_verified(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs")
    result = Session(tiny_config(tree, state, test_script=None), ListReporter(),
                     oracle_factory=py_factory(oracle)).run()
    assert result.status == "minimized", result.message
    assert result.fragment == EXPECTED
    assert result.signature == "ld.lld: undefined symbol: foo_lto_stub (link-error)"
    report = (state / "report.txt").read_text()
    assert "ld.lld: error: undefined symbol: foo_lto_stub" in report  # the log excerpt
    assert all(len(line) <= 80 for line in report.splitlines())


def test_resuming_a_finished_session_builds_nothing(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs")
    first = Session(tiny_config(tree, state, test_script=None), oracle_factory=py_factory(oracle)).run()
    before = len(oracle.tested)
    again = Session.resume(state, ListReporter(), oracle_factory=py_factory(oracle))
    assert again.status == "minimized" and again.fragment == first.fragment
    assert len(oracle.tested) == before, "a finished test was run again"


# -- kill -9 and resume ----------------------------------------------------------------------
DRIVER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from session_support import tiny_config
from ltobisect.conductor.session import Session
tree, state = Path(sys.argv[1]), Path(sys.argv[2])
Session(tiny_config(tree, state)).run()
"""


def _lines(path: Path) -> list:
    try:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except (OSError, ValueError):
        return []


@pytest.mark.parametrize("kill_when", ["after the bad config", "after 6 tests", "after 14 tests",
                                       "during verification"])
def test_kill_9_then_resume_gives_the_same_result_and_reruns_no_finished_test(tmp_path, kill_when):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    env = dict(os.environ, TINY_DELAY="0.1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(tree), str(state),
                             str(Path(__file__).parent)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = state / "journal.jsonl"

    def ready() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode()
        recs = _lines(journal)
        if kill_when == "after the bad config":
            return len(recs) >= 1
        if kill_when == "during verification":
            return any(r["label"] == "verify" for r in recs)
        return len(recs) >= int(kill_when.split()[1])

    wait_until(ready, timeout=60, what=f"the session to get {kill_when}", interval=0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {(r["digest"], r["label"]) for r in _lines(journal)}
    assert finished

    os.environ["TINY_DELAY"] = "0"
    try:
        result = Session.resume(state, ListReporter())
    finally:
        del os.environ["TINY_DELAY"]
    assert result.status == "minimized", result.message
    assert result.fragment == EXPECTED
    assert_no_test_ran_twice(state)
    after = journal_records(state)
    verify = [r for r in after if r.label == "verify"]
    assert len(verify) == 2  # verification builds done before the kill were not done again
    new = after[len(finished):]
    assert not {(r.digest, r.label) for r in new if r.label not in SEARCH_LABELS_EXCLUDED} & finished


def test_a_torn_last_journal_line_is_ignored_and_the_session_resumes(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs", hook=lambda n, r: n == 8 and _thread.interrupt_main())
    with pytest.raises(KeyboardInterrupt):
        Session(tiny_config(tree, state, test_script=None), oracle_factory=py_factory(oracle)).run()
    kept = len(journal_records(state))
    with open(state / "journal.jsonl", "a") as f:
        f.write('{"digest": "abc", "verd')  # killed in the middle of a write
    oracle2 = PyOracle(tmp_path / "logs2")
    result = Session.resume(state, oracle_factory=py_factory(oracle2))
    assert result.status == "minimized" and result.fragment == EXPECTED
    lines = (state / "journal.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines)  # the torn fragment was cut off, nothing else lost
    assert len(lines) >= kept


# -- stopping --------------------------------------------------------------------------------
def test_ctrl_c_stops_cleanly_and_leaves_a_partial_report(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs", hook=lambda n, r: n == 9 and _thread.interrupt_main())
    session = Session(tiny_config(tree, state, test_script=None), oracle_factory=py_factory(oracle))
    with pytest.raises(KeyboardInterrupt):
        session.run()
    result = session.result
    assert result.status == "partial" and result.exit_code == ExitCode.PARTIAL
    assert "Ctrl-C" in result.message
    report = (state / "report.txt").read_text()
    assert "PARTIAL RESULT" in report and "NOT verified" in report
    summary = read_summary(state / "summary.json")
    assert summary["partial"] is True and summary["status"] == "partial"
    best = json.loads((state / "best.json").read_text())
    assert (state / "fragment.config").read_text().count("\n") == best["size"] == result.best_size
    assert result.best_size <= 24


def long_builds(tmp_path: Path):
    """A PyOracle whose tests after the bad config and the baseline "build" for 60 s unless
    killed (closed); ``building`` is set once one of them runs, and ``ends`` says how each
    ended: "killed", or "finished" when it ran its 60 s."""
    building = threading.Event()
    ends: list = []
    holder = {}

    def hook(n, r) -> None:
        if n >= 3:
            building.set()
            ends.append("killed" if holder["o"].closed.wait(60) else "finished")

    oracle = holder["o"] = PyOracle(tmp_path / "logs", hook=hook)
    return oracle, building, ends


def test_ctrl_c_kills_running_builds_at_once(tmp_path):
    """Ctrl-C while search builds run: each is killed (its wait ends by the oracle's close,
    not by running its 60 s), and none is reported as a verdict. No wall-clock measure: how
    each build ended says it."""
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle, building, ends = long_builds(tmp_path)
    # Ctrl-C once a search build runs (from another thread, as the terminal's SIGINT comes).
    presser = threading.Thread(target=lambda: building.wait(60) and _thread.interrupt_main(),
                               daemon=True)
    presser.start()
    rep = ListReporter()
    session = Session(tiny_config(tree, state, test_script=None, workers=2), rep,
                      oracle_factory=py_factory(oracle))
    with pytest.raises(KeyboardInterrupt):
        session.run()
    result = session.result
    assert result.status == "partial", result.message
    assert ends and all(e == "killed" for e in ends), ends  # the running builds were killed
    assert len(rep.of(TestFinished)) == 2  # a killed build is never reported as a verdict
    assert {r.label for r in journal_records(state)} <= {"bad config", Label.DERIVED, "baseline"}
    assert "PARTIAL" in (state / "report.txt").read_text()


def test_request_stop_and_limits_end_with_a_partial_result(tmp_path):
    tree = tiny_tree(tmp_path)
    oracle = PyOracle(tmp_path / "logs")
    holder = {}
    oracle.hook = lambda n, r: n == 6 and holder["s"].request_stop("budget spent")
    s = holder["s"] = Session(tiny_config(tree, tmp_path / "a", test_script=None),
                              oracle_factory=py_factory(oracle))
    result = s.run()
    assert result.status == "partial" and "budget spent" in result.message
    limited = Session(tiny_config(tree, tmp_path / "b", test_script=None, limits=Limits(max_tests=5)),
                      oracle_factory=py_factory(PyOracle(tmp_path / "logs2"))).run()
    assert limited.status == "partial" and limited.exit_code == ExitCode.PARTIAL
    assert "5 builds" in limited.message
    assert (tmp_path / "b" / "report.txt").is_file()


# -- faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_infra_faults_and_flaky_verdicts_still_give_the_minimal_result(tmp_path, seed):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs", infra=0.2, flaky=0.05, seed=seed)
    result = Session(tiny_config(tree, state, test_script=None, workers=2),
                     oracle_factory=py_factory(oracle)).run()
    assert result.status == "minimized", result.message
    assert result.fragment == EXPECTED
    assert oracle._shared["faults"] > 0
    report = (state / "report.txt").read_text()
    # Every flip that a rebuild caught is named, with its changes, in the report, up to the
    # report's count; the rest are counted there and all are in summary.json.
    shown = result.flaky[:FLAKY_SHOWN]
    for line in shown:
        assert line.split(" gave ")[0].split("(")[0].strip() in report
    for line in result.flaky[FLAKY_SHOWN:]:
        assert line.split(" gave ")[0].split("(")[0].strip() not in report
    if len(result.flaky) > FLAKY_SHOWN:
        assert f"and {len(result.flaky) - FLAKY_SHOWN} more (all are in summary.json" in report
    summary = json.loads((state / "summary.json").read_text())
    assert [f["line"] for f in summary["flaky"]] == list(result.flaky)
    if result.flaky:
        assert "gave different verdicts" in report


def test_flaky_verdicts_are_named(tmp_path):
    # Seeds whose flips hit a configuration that was rebuilt: at least one names a flake.
    named = []
    for seed in range(1, 9):
        tree = tiny_tree(tmp_path / str(seed))
        state = tmp_path / str(seed) / "state"
        oracle = PyOracle(tmp_path / str(seed) / "logs", flaky=0.08, seed=seed)
        result = Session(tiny_config(tree, state, test_script=None),
                         oracle_factory=py_factory(oracle)).run()
        assert result.status == "minimized" and result.fragment == EXPECTED, (seed, result.message)
        named += list(result.flaky)
    assert named, "no flaky configuration was ever named"
    assert all(" gave " in line and "changes" in line for line in named)


def test_disk_full_is_a_clear_error_and_the_journal_stays_intact(tmp_path, monkeypatch):
    import errno

    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    calls = {"n": 0}
    real = jr._write

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] >= 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(jr, "_write", write)
    result = Session(tiny_config(tree, state, test_script=None),
                     oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    assert result.status == "infra-error" and result.exit_code == ExitCode.INFRA
    assert "disk full" in result.message and "resume" in result.hint
    lines = (state / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(x) for x in lines)
    monkeypatch.setattr(jr, "_write", real)
    again = Session.resume(state, oracle_factory=py_factory(PyOracle(tmp_path / "logs2")))
    assert again.status == "minimized" and again.fragment == EXPECTED
    assert_no_test_ran_twice(state)


def test_a_tree_that_vanishes_mid_run_is_an_infra_error_not_a_verdict(tmp_path):
    import shutil

    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    oracle = PyOracle(tmp_path / "logs", hook=lambda n, r: n == 5 and shutil.rmtree(tree))
    result = Session(tiny_config(tree, state, test_script=None),
                     oracle_factory=py_factory(oracle)).run()
    assert result.status == "infra-error" and result.exit_code == ExitCode.INFRA
    assert "vanished" in result.message
    records = journal_records(state)
    # the bad config (observed, then as the signature's), the baseline and two search tests
    assert len(records) == 5 and all(r.outcome.verdict.is_final for r in records)


# -- bad input -------------------------------------------------------------------------------
def test_an_unwritable_state_directory_is_bad_input(tmp_path):
    tree = tiny_tree(tmp_path)
    (tmp_path / "file").write_text("x")
    result = Session(tiny_config(tree, tmp_path / "file" / "state")).run()
    assert result.status == "bad-input" and result.exit_code == ExitCode.BAD_INPUT
    assert "cannot write to the state directory" in result.message


def test_a_state_directory_of_another_session_is_refused_untouched(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    Session(tiny_config(tree, state, test_script=None),
            oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    before = (state / "journal.jsonl").read_bytes()
    other = tmp_path / "other.config"
    other.write_text("CONFIG_LTO=y\n")
    result = Session(tiny_config(tree, state, bad_config=other)).run()
    assert result.status == "bad-input" and "belongs to another session" in result.message
    assert (state / "journal.jsonl").read_bytes() == before


def test_a_bad_config_that_does_not_fail_is_not_reproduced(tmp_path):
    tree = tiny_tree(tmp_path)
    good = tmp_path / "good.config"
    good.write_text("CONFIG_OPT01=y\nCONFIG_LTO=y\n")
    state = tmp_path / "state"
    result = Session(tiny_config(tree, state, bad_config=good, test_script=None),
                     oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    assert result.status == "not-reproduced" and result.exit_code == ExitCode.NOT_REPRODUCED
    assert "builds without error" in result.message and "log:" in result.message
    assert "NOT REPRODUCED" in (state / "report.txt").read_text()


def test_a_bad_config_equal_to_the_baseline_is_bad_input(tmp_path):
    tree = tiny_tree(tmp_path)
    same = tmp_path / "same.config"
    same.write_text("CONFIG_KEEP=y\n")
    result = Session(tiny_config(tree, tmp_path / "state", bad_config=same)).run()
    assert result.status == "bad-input" and "nothing to minimize" in result.message


def test_a_signature_regex_that_matches_nothing_in_the_log_is_bad_input(tmp_path):
    tree = tiny_tree(tmp_path)
    log = tmp_path / "fail.log"
    log.write_text("ld.lld: error: undefined symbol: foo_lto_stub\n")
    result = Session(tiny_config(tree, tmp_path / "state", test_script=None, failure_log=log,
                                 signature_regex="undefined symbol: bar"),
                     oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    assert result.status == "bad-input" and "matches nothing" in result.message


def test_a_baseline_that_already_fails_is_refused_with_a_suggestion(tmp_path):
    tree = tiny_tree(tmp_path)
    base = tmp_path / "base.config"
    base.write_text("CONFIG_NET=y\nCONFIG_NET_FOO=y\nCONFIG_LTO=y\n# CONFIG_KEEP is not set\n")
    result = Session(tiny_config(tree, tmp_path / "state", test_script=None, baseline=str(base)),
                     oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    assert result.status == "bad-input" and "already fails" in result.message
    assert "tinyconfig" in result.hint


def test_a_deadline_stops_even_a_batch_of_long_builds(tmp_path):
    """From the third test on, every "build" takes 60 s unless killed: the deadline ends the
    session, and every build it had running was killed there (none ran its 60 s)."""
    tree = tiny_tree(tmp_path)
    oracle, _, ends = long_builds(tmp_path)
    result = Session(tiny_config(tree, tmp_path / "state", test_script=None,
                                 limits=Limits(deadline=2.0)),
                     oracle_factory=py_factory(oracle)).run()
    assert result.status == "partial" and result.message == "stopped: the budget of 2s ran out"
    assert ends and all(e == "killed" for e in ends), ends
    assert read_summary(tmp_path / "state" / "summary.json")["partial"] is True


def test_builds_left_running_by_a_killed_run_are_stopped_before_resuming(tmp_path):
    from ltobisect.executor import reap_orphans

    state = tmp_path / "state"
    tmp = state / "workers" / "0" / "tmp"
    tmp.mkdir(parents=True)
    orphan = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], env=dict(os.environ, TMPDIR=str(tmp)),
                              start_new_session=True)
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)

    def orphan_runs() -> bool:
        """The orphan's shell runs with its TMPDIR (exec done) and has started its child."""
        try:
            env = Path(f"/proc/{orphan.pid}/environ").read_bytes().split(b"\0")
            children = Path(f"/proc/{orphan.pid}/task/{orphan.pid}/children").read_text()
        except OSError:
            return False
        return f"TMPDIR={tmp}".encode() in env and children.strip() != ""

    try:
        wait_until(orphan_runs, timeout=10, what="the orphan build and its child to run")
        assert reap_orphans(state) == 1
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert bystander.poll() is None  # not ours: left alone
    finally:
        bystander.kill()
        bystander.wait()
