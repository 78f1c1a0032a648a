"""The seams of the house: one stop condition, a picklable oracle spec, typed state documents,
outcome enums users read as before, and a ``verified`` that means every asked-for check passed."""
from __future__ import annotations

import io
import json
import os
import pickle
import re
import threading
from pathlib import Path

import pytest

from ltobisect.logs import signature as sigmod
from ltobisect.config import BuildSpec, Limits
from ltobisect.errors import Stopped
from ltobisect.events import ListReporter, SessionFinished, TestFinished
from ltobisect.limits import StopCondition, grace
from ltobisect.model import Outcome, SessionStatus, Signature, SignatureKind, Verdict
from ltobisect.oracle import KernelOracle, OracleSpec, make_oracle
from ltobisect.conductor.session import Session
from ltobisect.store.state import ResultDoc, SessionDoc, StateDir
from ltobisect.ui.plain import JsonReporter

from session_support import PyOracle, py_factory, tiny_config, tiny_tree
from schema_support import read_summary

FAKE = Path(__file__).parent / "fakelinux"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_searches_run_one_after_another_share_one_budget_and_build_limit() -> None:
    """--each-failure's searches: each starts with what the ones before it left, and none
    starts once the deadline, the build limit or a stop request ends the whole."""
    clock = Clock()
    stop = StopCondition(Limits(deadline=600.0, max_tests=20), clock=clock)
    assert stop.spent(builds=0) == "" and stop.left(builds=0) == Limits(deadline=600.0, max_tests=20)
    clock.now += 450
    assert stop.left(builds=15) == Limits(deadline=150.0, max_tests=5)
    assert stop.spent(builds=20) == "build limit reached (20)"
    clock.now += 150
    assert stop.spent(builds=3) == "deadline reached"
    assert stop.left(builds=30) == Limits(deadline=1.0, max_tests=1)  # never none at all
    asked = StopCondition(Limits(), clock=clock)
    asked.request("interrupted")
    assert asked.spent(builds=0) == "interrupted" and asked.left(builds=0) == Limits()


def test_the_stop_condition_names_the_limit_that_ended_the_search() -> None:
    clock = Clock()
    stop = StopCondition(Limits(deadline=60.0, max_tests=5, stall_tests=3), clock=clock)
    best = frozenset()
    stop.check(best, builds=4, builds_since_best=2)  # nothing reached: no exception
    with pytest.raises(Stopped, match=r"5 builds done \(--max-builds\)"):
        stop.check(best, builds=5)
    with pytest.raises(Stopped, match="no progress in 3 builds"):
        stop.check(best, builds=1, builds_since_best=3)
    clock.now += 57.0  # the stop is due 5% of the budget before the deadline
    with pytest.raises(Stopped, match="the budget of 1m ran out") as info:
        stop.check(best, builds=0)
    assert info.value.result == best
    assert stop.time_left() == pytest.approx(3.0)
    assert [grace(d) for d in (1.0, 6.0, 60.0, 7200.0)] == [0.5, 2.0, 3.0, 30.0]


def test_a_stop_request_reaches_listeners_once_and_keeps_the_first_reason() -> None:
    stop = StopCondition()
    heard = []
    stop.on_request(heard.append)
    stop.request("interrupted (Ctrl-C)")
    stop.request("deadline reached")
    assert heard == ["interrupted (Ctrl-C)"]  # the second request changes nothing
    assert stop.reason == "interrupted (Ctrl-C)" and stop.requested
    with pytest.raises(Stopped, match=r"interrupted \(Ctrl-C\)"):
        stop.check(frozenset(), builds=0)
    late = []
    stop.on_request(late.append)  # a listener added after the request hears it at once
    assert late == ["interrupted (Ctrl-C)"]


def test_the_deadline_timer_requests_the_stop_in_the_middle_of_a_batch() -> None:
    stop = StopCondition(Limits(deadline=0.2))
    stop.arm()
    assert stop.event.wait(5.0)
    assert stop.reason == "the budget of 0.2s ran out"
    stop.disarm()


def test_an_oracle_spec_crosses_a_process_boundary_and_makes_the_same_oracle(tmp_path) -> None:
    sig = Signature(kind=SignatureKind.LINK_ERROR, tool="ld.lld", message="undefined symbol: foo")
    spec = OracleSpec(work_dir=tmp_path / "work", build=BuildSpec(tree=FAKE, jobs=1),
                      signature=sig, timeout=60.0, workers=2, targets=("vmlinux",))
    here = make_oracle(spec)
    there = make_oracle(pickle.loads(pickle.dumps(spec)))
    assert isinstance(there, KernelOracle)
    assert there.fingerprint() == here.fingerprint()
    assert there.targets() == ["vmlinux"] and there.timeout == 60.0
    # The build key ignores the signature: another failure's search shares the builds.
    other = make_oracle(spec.judged_by(Signature(kind="regex", message="error:"), 60.0))
    assert other.build_key() == here.build_key() and other.fingerprint() != here.fingerprint()


def test_the_session_document_keeps_keys_it_does_not_know(tmp_path) -> None:
    bad = Outcome(Verdict.OTHER_FAILURE, duration=12.5, log_path="logs/x.log",
                  signature=Signature(kind="compile-error", tool="clang", message="boom"))
    written = {"format": 1, "identity": {"bad_config": "/x"}, "created": 1.0, "timeout": 37.5,
               "bad_outcome": bad.to_json(), "signature": bad.signature.to_json(),
               "from_a_newer_version": {"kept": True}}
    state = StateDir(tmp_path)
    state.write_session(written)
    doc = state.read_doc()
    assert doc.bad_outcome == bad and doc.timeout == 37.5 and doc.confirmed
    assert doc.changes is None and not SessionDoc(identity={}, created=0.0).confirmed
    state.write_doc(doc)
    again = json.loads(state.session_file.read_text())
    assert again["from_a_newer_version"] == {"kept": True}
    assert again["bad_outcome"] == bad.to_json() and again["timeout"] == 37.5


def test_a_result_written_before_verified_existed_reads_as_before() -> None:
    old = ResultDoc.from_json({"status": "minimized", "exit_code": 0, "message": "m"})
    assert old.status is SessionStatus.MINIMIZED and old.verified is True
    partial = ResultDoc.from_json({"status": "partial", "exit_code": 2, "message": "m"})
    assert partial.verified is False


def test_outcome_enums_are_spelled_as_users_read_them() -> None:
    """Every verdict and every status, as the product's JSON lines write them, is spelled as
    the README documents it (the verdicts' sentence, the status table). Written by JsonReporter,
    not by ``json.dumps`` on a member: how Python serializes a str enum is not ours to test."""
    out = io.StringIO()
    with JsonReporter(out) as rep:
        for v in Verdict:
            rep.event(TestFinished(slot=0, digest="d", size=3, verdict=v, duration=1.0))
        for status in SessionStatus:
            rep.event(SessionFinished(status=status, exit_code=3))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    verdicts = [line["verdict"] for line in lines if line["event"] == "TestFinished"]
    statuses = [line["status"] for line in lines if line["event"] == "SessionFinished"]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    said = re.search(r"`verdict` is the oracle's: (.*?) `shown_verdict`", readme, re.S).group(1)
    documented = re.findall(r"`([a-z-]+)`", said)
    assert sorted(verdicts) == sorted(documented) and len(documented) == len(Verdict)
    table = set(re.findall(r"^\| `([a-z-]+)` \| \d+", readme, re.M))  # status | exit_code
    assert set(statuses) <= table and len(statuses) == len(set(statuses)) == len(SessionStatus)


@pytest.mark.parametrize("repeats", [0, 2])
def test_verified_means_every_verification_that_was_asked_for_passed(tmp_path, repeats) -> None:
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    result = Session(tiny_config(tree, state, test_script=None, verify_repeats=repeats),
                     ListReporter(), oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    assert result.status == "minimized", result.message
    summary = read_summary(state / "summary.json")
    unverified = summary["verification"]["unverified"]
    if repeats == 0:
        assert result.verified is False and summary["verified"] is False
        assert "no rebuilds (--verify 0)" in unverified
        assert "NOT verified" in (state / "report.txt").read_text()
    else:
        assert result.verified is True and summary["verified"] is True and unverified == []
        assert summary["verification"]["verdicts"] == ["reproduces", "reproduces"]


def test_a_stop_requested_from_another_thread_ends_the_session_partial(tmp_path) -> None:
    tree = tiny_tree(tmp_path)
    holder = {}
    oracle = PyOracle(tmp_path / "logs", delay=0.05,
                      hook=lambda n, r: n == 4 and threading.Thread(
                          target=holder["s"].request_stop, args=("budget spent",)).start())
    session = holder["s"] = Session(tiny_config(tree, tmp_path / "state", test_script=None),
                                    oracle_factory=py_factory(oracle))
    result = session.run()
    assert result.status == "partial" and result.message == "stopped: budget spent"
    assert result.verified is False and result.best_size is not None


def test_a_tree_named_relative_to_the_output_directory_is_stripped_from_locations(tmp_path) -> None:
    # kbuild may name sources relative to the O= directory: a bisection's checkout beside its
    # worker directories printed "../../../src/init/main.c", and the skip said so to the user.
    tree = tmp_path / "bisect" / "src"
    tree.mkdir(parents=True)
    (tree / "Makefile").write_text("all:\n")
    oracle = KernelOracle(BuildSpec(tree=tree), tmp_path / "bisect")
    relative = os.path.relpath(tree, oracle.out_dir(0))
    assert relative in oracle.roots(0)
    log = f"{relative}/init/main.c:1627:37: error: use of undeclared identifier 'x'\n"
    found = sigmod.extract(log, roots=oracle.roots(0))
    assert found.location == "init/main.c" and found.message == "use of undeclared identifier 'x'"
