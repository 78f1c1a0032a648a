"""The journal and the state directory: durable, keyed by fingerprint, tolerant of kill -9."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from ltobisect.store import journal as jr
from ltobisect.store import state as st
from ltobisect.config import (BuildSpec, Limits, RetryPolicy, SessionConfig, config_from_json,
                              config_to_json)
from ltobisect.errors import InfraError, UserError
from ltobisect.model import Change, ConfDisagreement, Outcome, Resolved, Signature, Verdict

SIG = Signature(kind="link-error", tool="ld.lld", message="undefined symbol: foo")


def resolved(digest: str, size: int = 2) -> Resolved:
    cand = frozenset(Change(f"C{i}", "y") for i in range(size))
    return Resolved(candidate=cand, config_text="CONFIG_X=y\n", digest=digest)


def test_a_recorded_verdict_is_found_again_after_reopening(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = jr.Journal(path, "fp1")
    j.append(resolved("d1"), Outcome(Verdict.REPRODUCES, SIG, 12.5, 1 << 30, "/logs/d1.log"), "bisect")
    j.append(resolved("d2"), Outcome(Verdict.PASSES, duration=3.0), "bisect")
    again = jr.Journal(path, "fp1")
    got = again.lookup("d1")
    assert got is not None and got.verdict is Verdict.REPRODUCES and got.signature == SIG
    assert got.duration == 12.5 and got.peak_rss == 1 << 30 and got.log_path == "/logs/d1.log"
    rec = again.records()[0]
    assert rec.label == "bisect" and rec.size == 2 and rec.fingerprint == "fp1"


def test_results_of_another_tree_or_toolchain_are_never_reused(tmp_path):
    path = tmp_path / "journal.jsonl"
    jr.Journal(path, "clang-16").append(resolved("d1"), Outcome(Verdict.REPRODUCES, SIG))
    assert jr.Journal(path, "clang-14").lookup("d1") is None
    assert jr.Journal(path, "clang-16").lookup("d1") is not None


def test_infra_errors_are_not_answers_and_the_latest_verdict_wins(tmp_path):
    j = jr.Journal(tmp_path / "j.jsonl", "fp")
    j.append(resolved("d"), Outcome(Verdict.INFRA_ERROR, detail="sandbox"))
    assert j.lookup("d") is None
    j.append(resolved("d"), Outcome(Verdict.REPRODUCES, SIG))
    j.append(resolved("d"), Outcome(Verdict.PASSES), "verify")
    assert j.lookup("d").verdict is Verdict.PASSES
    assert jr.flaky_digests(j.records()) == {"d": ["reproduces", "passes"]}


def test_a_torn_last_line_is_ignored_then_cut_off_before_the_next_record(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = jr.Journal(path, "fp")
    j.append(resolved("d1"), Outcome(Verdict.PASSES))
    with open(path, "ab") as f:
        f.write(b'{"digest": "d2", "fingerpri')  # kill -9 in the middle of a write
    j2 = jr.Journal(path, "fp")
    assert j2.torn and len(j2) == 1 and j2.lookup("d2") is None
    j2.append(resolved("d3"), Outcome(Verdict.REPRODUCES, SIG))
    lines = path.read_text().splitlines()
    assert [json.loads(x)["digest"] for x in lines] == ["d1", "d3"]


def test_a_journal_overwritten_by_garbage_is_set_aside_and_said_plainly(tmp_path):
    path = tmp_path / "journal.jsonl"
    garbage = bytes(range(256)) * 12  # random bytes: no line of it is a record
    path.write_bytes(garbage)
    j = jr.Journal(path, "fp")
    assert len(j) == 0 and not j.torn
    assert "no record could be read, so every build runs again" in j.damage
    assert "journal.jsonl.damaged" in j.damage
    assert (tmp_path / "journal.jsonl.damaged").read_bytes() == garbage  # nothing thrown away
    assert path.read_bytes() == b""
    j.append(resolved("d1"), Outcome(Verdict.PASSES))
    again = jr.Journal(path, "fp")
    assert again.damage == "" and again.lookup("d1").verdict is Verdict.PASSES


def test_damage_in_the_middle_keeps_every_readable_record_and_counts_the_lost(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = jr.Journal(path, "fp")
    j.append(resolved("d1"), Outcome(Verdict.PASSES))
    j.append(resolved("d2"), Outcome(Verdict.REPRODUCES, SIG))
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + b"\x00\x13garbage\n\xff\xfemore garbage\n" + second)
    j2 = jr.Journal(path, "fp")
    assert j2.damage.startswith(f"the journal {path} is damaged (2 unreadable lines): 2 records "
                                "could be read and are kept")
    assert j2.lookup("d1").verdict is Verdict.PASSES
    assert j2.lookup("d2").verdict is Verdict.REPRODUCES
    assert [json.loads(x)["digest"] for x in path.read_text().splitlines()] == ["d1", "d2"]


def test_a_report_reads_a_damaged_journal_without_repairing_it(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"\x00garbage\n\x01more\n")
    j = jr.Journal(path, "fp", repair=False)
    assert len(j) == 0
    assert path.read_bytes() == b"\x00garbage\n\x01more\n"
    assert not (tmp_path / "journal.jsonl.damaged").exists()


def test_disk_full_raises_an_infra_error_and_leaves_the_journal_intact(tmp_path, monkeypatch):
    path = tmp_path / "journal.jsonl"
    j = jr.Journal(path, "fp")
    j.append(resolved("d1"), Outcome(Verdict.PASSES))
    before = path.read_bytes()

    def half_then_full(fd, data):
        jr.os.write(fd, bytes(data[:10]))  # part of the record reaches the disk...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(jr, "_write", half_then_full)
    with pytest.raises(InfraError, match="disk full"):
        j.append(resolved("d2"), Outcome(Verdict.PASSES))
    assert path.read_bytes() == before
    assert j.lookup("d2") is None


def test_write_atomic_replaces_whole_files_only(tmp_path, monkeypatch):
    target = tmp_path / "best.json"
    jr.write_atomic(target, "old\n")

    def boom(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jr.os, "fsync", boom)
    with pytest.raises(InfraError, match="disk full"):
        jr.write_atomic(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]  # no temporary file left


def config(tmp_path: Path, bad: str = "bad.config", **kw) -> SessionConfig:
    (tmp_path / bad).write_text("CONFIG_X=y\n")
    return SessionConfig(bad_config=tmp_path / bad, state_dir=tmp_path / "state",
                         build=BuildSpec(tree=tmp_path, arch="x86_64", llvm="-16", make_vars=("W=1",)),
                         limits=Limits(deadline=60.0, max_tests=5), retry=RetryPolicy(attempts=4), **kw)


def test_the_session_config_round_trips_through_json(tmp_path):
    cfg = config(tmp_path, memory_threshold=1 << 30, failure_log=tmp_path / "f.log")
    back = config_from_json(json.loads(json.dumps(config_to_json(cfg))))
    assert back == cfg


def test_a_state_directory_of_another_session_is_refused(tmp_path):
    sd = st.StateDir(tmp_path / "state")
    sd.prepare()
    cfg = config(tmp_path)
    assert sd.claim(cfg) is None
    sd.write_session({"identity": st.session_identity(cfg), "config": config_to_json(cfg)})
    assert sd.claim(cfg) is not None  # the same session: continue it
    other = config(tmp_path, bad="other.config")
    with pytest.raises(UserError, match="belongs to another session") as exc:
        sd.claim(other)
    assert "resume" in exc.value.hint


def test_a_non_empty_directory_that_is_no_session_is_refused(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not empty"):
        st.StateDir(tmp_path / "state").claim(config(tmp_path))


def test_two_runs_cannot_own_one_state_directory(tmp_path):
    a, b = st.StateDir(tmp_path), st.StateDir(tmp_path)
    a.acquire()
    try:
        with pytest.raises(UserError, match="another ltobisect is running"):
            b.acquire()
    finally:
        a.release()
    b.acquire()
    b.release()


def test_an_unwritable_state_directory_is_a_clear_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write to the state directory"):
        st.StateDir(tmp_path / "file" / "state").prepare()


def test_the_best_so_far_is_replaced_atomically(tmp_path):
    sd = st.StateDir(tmp_path)
    r = resolved("d1", 3)
    sd.write_best(r.candidate, r, total=10)
    best = sd.read_best()
    assert best["size"] == 3 and best["total"] == 10 and best["digest"] == "d1"
    assert (tmp_path / "best.config").read_text() == "CONFIG_X=y\n"
    assert {Change(**c) for c in best["changes"]} == set(r.candidate)


def test_a_build_conf_disagreed_with_is_recorded_under_the_config_really_built(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = jr.Journal(path, "fp")
    conf = ConfDisagreement("built", ("CONFIG_FOO: ours y, conf n",), 1)
    j.append(resolved("ours"), Outcome(Verdict.REPRODUCES, SIG, conf=conf), "ddmin")
    again = jr.Journal(path, "fp")
    own, copy = again.records(copies=True)
    assert (own.digest, own.built_for, own.outcome.conf) == ("ours", "", conf)
    assert (copy.digest, copy.built_for, copy.outcome.conf, copy.label) == ("built", "ours", None, "ddmin")
    # The verdict answers for both configs; counts of builds see one build.
    assert again.lookup("ours").conf == conf and again.lookup("built").verdict is Verdict.REPRODUCES
    assert [r.digest for r in again.records()] == ["ours"] and len(again.records("fp")) == 1
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["conf"] == {"built_digest": "built", "symbols": ["CONFIG_FOO: ours y, conf n"], "total": 1}
    assert lines[1]["built_for"] == "ours" and "conf" not in lines[1]


def test_a_journal_written_before_the_conf_check_still_loads(tmp_path):
    path = tmp_path / "journal.jsonl"
    old = {"v": 1, "digest": "d1", "fingerprint": "fp", "label": "bisect", "size": 3, "at": 1.0,
           "verdict": "passes", "signature": None, "duration": 2.0, "peak_rss": None,
           "log_path": None, "detail": "build succeeded", "exit_code": 0}
    path.write_text(json.dumps(old) + "\n")
    j = jr.Journal(path, "fp")
    rec = j.records()[0]
    assert (rec.digest, rec.built_for, rec.outcome.conf, rec.outcome.verdict) == ("d1", "", None, Verdict.PASSES)
    # Records of agreeing builds are written as before: no new keys.
    j.append(resolved("d2"), Outcome(Verdict.PASSES))
    assert set(json.loads(path.read_text().splitlines()[1])) == set(old)
