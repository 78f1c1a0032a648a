"""The JSON contract of ``--json`` (schema 1), driven as a build farm's hook drives it: the real
command in a subprocess, stdout a pipe, stderr the one-line error, the exit code read back.

Every exit path ends with the same last line on stdout: a Summary of schema 1 whose fields are
those of :data:`ltobisect.events.SUMMARY_FIELDS`, whose ``exit_code`` is the process's and whose
message names the problem (README.md, "JSON output (schema 1)"). Every line is also checked
against the JSON Schema that ships in the package (ltobisect/artifacts/schema-1.json, through
schema_support), and the schema itself against the code: its Summary has exactly the fields of
SUMMARY_FIELDS, its events the fields of the event types, its enums the values of the code's. One
test runs a whole demo minimization (about 40 s); the others end before any build, or after the
first ones.
"""
from __future__ import annotations

import copy
import dataclasses
import fcntl
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from ltobisect import cli, events
from ltobisect.artifacts.summary import schema_path
from ltobisect.errors import ExitCode
from ltobisect.events import (KILLED, SCHEMA, SUMMARY_FIELDS, BestImproved, CacheHit, Event,
                              TestFinished, TestStarted, summary_document)
from ltobisect.matrix import lto
from ltobisect.model import Phase, SessionStatus, SignatureKind, Verdict
from ltobisect.store.dirlock import LOCK_FILE
from ltobisect.ui.plain import FAILS, JsonReporter, PlainReporter

from schema_support import (check_lines, check_summary, definition, problems, read_summary,
                            schema)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
BAD = DEMO / "configs" / "randconfig.config"
BASE = DEMO / "configs" / "baseline.config"

needs_cc = pytest.mark.needs("cc", "make")


def ltobisect(*args: object, cwd: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def run(*args: object, cwd: Path, timeout: float = 120) -> Tuple[int, List[dict], str]:
    """Run the command; its exit code, every stdout line parsed as JSON, and stderr."""
    proc = ltobisect(*args, cwd=cwd)
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err


def summary_of(code: int, lines: List[dict], status: str, *needles: str) -> dict:
    """The contract of every exit path: schema 1 on every line (and the schema file's shapes),
    the Summary last, with every field, the status, the process's exit code and a message that
    names the problem."""
    assert lines, "nothing on stdout"
    check_lines(lines)
    assert all(line.get("schema") == SCHEMA for line in lines), lines
    last = lines[-1]
    assert last["event"] == "Summary"
    assert set(last) == set(SUMMARY_FIELDS), set(last) ^ set(SUMMARY_FIELDS)
    assert set(last["counts"]) == set(SUMMARY_FIELDS["counts"])
    assert set(last["durations"]) == set(SUMMARY_FIELDS["durations"])
    assert last["status"] == status, last
    assert last["exit_code"] == code
    assert isinstance(last["message"], str) and isinstance(last["hint"], str)
    for needle in needles:
        assert needle in last["message"], (needle, last["message"])
    assert [line["event"] for line in lines].count("Summary") == 1
    return last


def one_error_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ltobisect: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# -- bad input: argparse, our own checks, the state directory --------------------------------------
def test_unknown_option(tmp_path):
    code, lines, err = run("minimize", BAD, "--tree", DEMO, "--frobnicate", "--json", cwd=tmp_path)
    assert code == ExitCode.BAD_INPUT
    summary_of(code, lines, "bad-input", "--frobnicate")
    one_error_line(err, "--frobnicate")


def test_missing_required_argument(tmp_path):
    code, lines, err = run("hook", "--json", cwd=tmp_path)
    assert code == ExitCode.BAD_INPUT
    last = summary_of(code, lines, "bad-input", "required", "--build-dir")
    assert "--help" in last["hint"]
    one_error_line(err, "--build-dir")


def test_missing_bad_config(tmp_path):
    code, lines, err = run("minimize", tmp_path / "missing.config", "--tree", DEMO, "--json",
                           cwd=tmp_path)
    assert code == ExitCode.BAD_INPUT
    last = summary_of(code, lines, "bad-input", "missing.config", "does not exist")
    assert last["hint"] == "check the path"
    one_error_line(err, "missing.config")


def test_resume_of_a_directory_that_is_not_a_state_dir(tmp_path):
    (tmp_path / "notes.txt").write_text("not a session\n")
    code, lines, err = run("resume", tmp_path, "--json", cwd=tmp_path)
    assert code == ExitCode.BAD_INPUT
    summary_of(code, lines, "bad-input", "not an ltobisect state directory")
    one_error_line(err, str(tmp_path))


@needs_cc
def test_state_dir_locked_by_another_run(tmp_path):
    """The session itself finds the lock: its events come first, then the same Summary."""
    state = tmp_path / "state"
    state.mkdir()
    fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, lines, err = run("minimize", BAD, "--tree", DEMO, "--baseline", BASE,
                               "--state", state, "--json", cwd=tmp_path)
    finally:
        os.close(fd)
    assert code == ExitCode.BAD_INPUT
    last = summary_of(code, lines, "bad-input", "another ltobisect is running", str(state))
    assert last["state_dir"] == str(state)
    assert last["counts"]["builds"] == 0 and last["fragment"] is None
    one_error_line(err, "another ltobisect is running")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_unwritable_summary_json_is_bad_input_before_any_build(tmp_path):
    """Refused before any build: no test started and no session was started (the run's
    timeout only guards against a hang)."""
    code, lines, err = run("minimize", BAD, "--tree", DEMO, "--baseline", BASE,
                           "--state", tmp_path / "state", "--summary-json", "/dev/full", "--json",
                           cwd=tmp_path)
    assert code == ExitCode.BAD_INPUT
    summary_of(code, lines, "bad-input", "--summary-json", "/dev/full")
    assert not any(line["event"] == "TestStarted" for line in lines)
    one_error_line(err, "--summary-json /dev/full")
    assert not (tmp_path / "state").exists()  # no session was started


# -- Ctrl-C and SIGTERM, internal errors ----------------------------------------------------------
@needs_cc
@pytest.mark.parametrize("signals,code,status,needle", [
    (1, ExitCode.PARTIAL, "partial", "SIGTERM"),
    # The second one exits at once from the signal handler (no clean return): the last stdout
    # line is still the Summary.
    (2, ExitCode.INTERRUPTED, "killed", "killed by a second Ctrl-C"),
])
def test_sigterm_during_the_session(tmp_path, signals, code, status, needle):
    """SIGTERM while the first build runs: once stops the session cleanly (partial), twice kills
    it; either way the Summary line ends stdout."""
    tree = tmp_path / "demo"
    shutil.copytree(DEMO, tree)
    proc = ltobisect("minimize", tree / "configs" / "randconfig.config", "--tree", tree,
                     "--baseline", tree / "configs" / "baseline.config",
                     "--state", tmp_path / "state", "--json", cwd=tmp_path)
    lines = []
    assert proc.stdout is not None
    sent = 0
    for text in proc.stdout:
        lines.append(json.loads(text))
        if lines[-1]["event"] == "TestStarted" and sent == 0:
            proc.send_signal(signal.SIGTERM)
            sent = 1
        elif sent and lines[-1]["event"] == "Message" and "stopping" in lines[-1]["text"]:
            # The first one was handled (two pending signals of a kind would count once).
            if signals == 2:
                proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=120)
    lines += [json.loads(text) for text in rest.splitlines()]
    assert proc.returncode == code, err
    last = summary_of(proc.returncode, lines, status, needle)
    assert last["partial"] is (status == "partial")
    assert last["state_dir"] == str(tmp_path / "state")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _raises(exc: BaseException):
    def command(args, ctx):
        raise exc
    return command


@pytest.mark.parametrize("exc,code,status,needle", [
    (KeyboardInterrupt(), ExitCode.INTERRUPTED, "killed", "interrupted"),
    (RuntimeError("kaboom"), ExitCode.INFRA, "infra-error", "internal error: RuntimeError: kaboom"),
    (OSError(28, "No space left on device", "journal.jsonl"), ExitCode.INFRA, "infra-error",
     "disk full while writing journal.jsonl"),
])
def test_errors_outside_the_session(capsys, monkeypatch, in_tmp, exc, code, status, needle):
    """Ctrl-C (or SIGTERM) before the session started, a bug, a full disk: main()'s own paths."""
    monkeypatch.setitem(cli.COMMANDS, "minimize", _raises(exc))
    got = cli.main(["minimize", str(BAD), "--tree", str(DEMO), "--json"])
    out, err = capsys.readouterr()
    assert got == code
    summary_of(got, [json.loads(line) for line in out.splitlines()], status, needle)
    one_error_line(err, needle)


def test_sigterm_before_the_session_started(capsys, monkeypatch, in_tmp):
    """SIGTERM while the input is being checked (no session yet): ends as Ctrl-C does."""
    def checking(args, ctx):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not end the run")

    monkeypatch.setitem(cli.COMMANDS, "minimize", checking)
    before = signal.getsignal(signal.SIGTERM)
    got = cli.main(["minimize", str(BAD), "--tree", str(DEMO), "--json"])
    out, err = capsys.readouterr()
    assert got == ExitCode.INTERRUPTED
    summary_of(got, [json.loads(line) for line in out.splitlines()], "killed", "interrupted")
    assert signal.getsignal(signal.SIGTERM) is before  # main() leaves the handlers as it found them


def test_without_json_stdout_stays_empty(capsys, in_tmp):
    assert cli.main(["minimize", "--frobnicate"]) == ExitCode.BAD_INPUT
    out, err = capsys.readouterr()
    assert out == "" and "required" in err


# -- the summary's shape, and the events ----------------------------------------------------------
def test_a_session_result_is_printed_under_the_summary_s_own_names():
    """A session that ended before writing summary.json hands over its SessionResult's JSON
    (state_dir, builds, artifacts, elapsed, signature as text): the Summary renames nothing."""
    given = {"status": "bad-input", "exit_code": 1, "message": "m", "hint": "h",
             "state_dir": "S", "fragment": [], "best_size": None, "builds": 3, "cache_hits": 1,
             "artifacts": {"report": "S/report.txt"}, "elapsed": 1.5, "signature": "ld: x",
             "flaky": [], "each_failure": True, "failures": [], "total": 2}
    doc = summary_document("bad-input", 1, given)
    check_summary(doc)
    assert set(doc) == set(SUMMARY_FIELDS)
    assert doc["counts"]["builds"] == 3 and doc["counts"]["cache_hits"] == 1
    assert doc["durations"]["wall"] == 1.5
    assert doc["paths"] == {"report": "S/report.txt", "state_dir": "S"}
    assert doc["signature"] == {"describe": "ld: x"}
    assert doc["fragment"] is None and doc["log_failures"] == 2 and doc["each_failure"] is True
    # The run's own status and exit code win: the process exits with them.
    assert summary_document("partial", 3, dict(given, status="minimized"))["exit_code"] == 3


def test_the_bad_config_s_failure_is_shown_the_same_in_json_and_text():
    started = TestStarted(slot=0, digest="a" * 32, size=135, label="bad config", at=1.0)
    finished = TestFinished(slot=0, digest="a" * 32, size=135, verdict="other-failure",
                            duration=1.6, signature="ld: undefined reference", at=2.0)
    out, text = io.StringIO(), io.StringIO()
    for rep, stream in ((JsonReporter(out), out), (PlainReporter(text), text)):
        rep.event(started)
        rep.event(finished)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    check_lines(records)
    assert records[1]["shown_verdict"] == "fails" and records[1]["label"] == "bad config"
    assert records[1]["verdict"] == "other-failure"  # the oracle's: no signature yet
    assert "worker 0: fails with 135 changes" in text.getvalue()


def test_best_improved_carries_every_change():
    changes = tuple(f"CONFIG_OPTION_{i}=y" for i in range(135))
    out, text = io.StringIO(), io.StringIO()
    JsonReporter(out).event(BestImproved(size=135, total=135, changes=changes))
    PlainReporter(text).event(BestImproved(size=135, total=135, changes=changes))
    check_lines([json.loads(out.getvalue())])
    assert tuple(json.loads(out.getvalue())["changes"]) == changes
    assert "CONFIG_OPTION_0=y" in text.getvalue() and "and 115 more" in text.getvalue()


# -- the schema file: shipped, and as strict as the code ------------------------------------------
#: What JsonReporter adds to an event's own fields (``event_json``).
ADDED_TO_EVENTS = {"TestFinished": {"label", "shown_verdict"}, "CacheHit": {"shown_verdict"}}


def event_types() -> dict:
    """Every event type of ltobisect.events, by name."""
    return {name: cls for name, cls in vars(events).items()
            if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event}


def enum_of(name: str) -> set:
    return set(definition(name)["enum"])


def test_the_schema_is_a_draft_2020_12_schema_beside_the_summary_module():
    from jsonschema import Draft202012Validator

    path = schema_path()
    assert path.name == f"schema-{SCHEMA}.json"
    assert path.parent == REPO / "ltobisect" / "artifacts"
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_s_summary_has_exactly_the_summary_fields():
    """A field added to SUMMARY_FIELDS (or dropped from it) without the schema fails here."""
    summary = definition("Summary")
    assert set(summary["properties"]) == set(SUMMARY_FIELDS)
    assert set(summary["required"]) == set(SUMMARY_FIELDS)
    for name in ("counts", "durations"):
        nested = definition(name)
        assert set(nested["properties"]) == set(nested["required"]) == set(SUMMARY_FIELDS[name])
    # The default of every field, the Summary of an error before any session, is valid.
    check_summary(summary_document("bad-input", 1, message="m", hint="h"))


def test_the_schema_s_events_have_the_fields_of_the_event_types():
    types = event_types()
    assert set(definition("line")["properties"]["event"]["enum"]) == set(types) | {"Summary"}
    for name, cls in types.items():
        fields = {f.name for f in dataclasses.fields(cls)} | {"event", "schema"}
        fields |= ADDED_TO_EVENTS.get(name, set())
        shape = definition(name)
        assert set(shape["required"]) == fields, (name, set(shape["required"]) ^ fields)
        assert set(shape["properties"]) == fields, (name, set(shape["properties"]) ^ fields)
        assert shape["properties"]["event"] == {"const": name}


def test_the_schema_s_enums_are_the_code_s():
    assert enum_of("status") == {s.value for s in SessionStatus}
    assert enum_of("runStatus") == {s.value for s in SessionStatus} | {KILLED}
    assert enum_of("exitCode") == {int(c) for c in ExitCode}
    assert enum_of("phase") == {p.value for p in Phase}
    assert enum_of("verdict") == {v.value for v in Verdict}
    assert enum_of("shownVerdict") == {v.value for v in Verdict} | {FAILS}
    assert enum_of("signatureKind") == {k.value for k in SignatureKind}
    assert enum_of("matrixOutcome") == set(lto.OUTCOMES)
    modes = definition("ltoMatrix")["properties"]["modes"]["items"]["properties"]["lto"]["enum"]
    assert set(modes) == set(lto.MODES)


def _summary() -> dict:
    """A Summary as a session's end writes it: a full signature, a result, counts."""
    return summary_document("minimized", 0, {
        "message": "minimized 24 changes to 1", "fragment": ["CONFIG_A=y"], "best_size": 1,
        "total_changes": 24, "best_digest": "0123456789abcdef0123456789abcdef",
        "signature": {"kind": "link-error", "tool": "ld.lld", "message": "undefined symbol: foo",
                      "location": "foo", "threshold": None, "describe": "ld.lld: ... (link-error)"},
        "counts": {"builds": 9, "cache_hits": 0, "verdicts": {"reproduces": 5, "passes": 4},
                   "flaky": 0, "runs": 1},
        "durations": {"wall": 12.5, "build": 30.25, "bad_build": 2.0, "timeout": 30.0},
        "paths": {"report": "S/report.txt"}}, state_dir="S", at=1.0)


def _drop(key: str):
    def change(doc: dict) -> None:
        del doc[key]
    return change


def _put(path: str, value: object):
    def change(doc: dict) -> None:
        *parents, last = path.split("/")
        for name in parents:
            doc = doc[name]
        doc[last] = value
    return change


@pytest.mark.parametrize("change,where", [
    (_drop("hint"), "'hint' is a required property"),
    (_drop("not_searched"), "'not_searched' is a required property"),
    (_put("exit_code", "0"), "/exit_code"),
    (_put("exit_code", 5), "/exit_code"),
    (_put("status", "done"), "/status"),
    (_put("schema", 2), "/schema"),
    (_put("partial", "no"), "/partial"),
    (_put("fragment", "CONFIG_A=y"), "/fragment"),
    (_put("best_size", -1), "/best_size"),
    (_put("counts/verdicts/fails", 1), "/counts/verdicts"),
    (lambda doc: doc["counts"].pop("runs"), "'runs' is a required property"),
    (_put("durations/wall", "12s"), "/durations/wall"),
    (_put("signature/kind", "warning"), "/signature/kind"),
    (lambda doc: doc["signature"].pop("tool"), "'tool' is a required property"),
    (lambda doc: doc["signature"].pop("describe"), "'describe' is a required property"),
    (_put("flaky", [{"digest": "0" * 32}]), "/flaky/0"),
    (_put("paths/report", None), "/paths/report"),
])
def test_the_schema_rejects_a_summary_that_breaks_the_contract(change, where):
    good = _summary()
    assert problems(good) == []
    bad = copy.deepcopy(good)
    change(bad)
    found = problems(bad)
    assert any(where in p for p in found), found


@pytest.mark.parametrize("change,where", [
    (_drop("verdict"), "'verdict' is a required property"),
    (_drop("shown_verdict"), "'shown_verdict' is a required property"),
    (_put("verdict", "fails"), "/verdict"),
    (_put("digest", "not-a-digest"), "/digest"),
    (_put("peak_rss", "40M"), "/peak_rss"),
    (_put("event", "TestEnded"), "/event"),
    (_drop("at"), "'at' is a required property"),
])
def test_the_schema_rejects_an_event_that_breaks_the_contract(change, where):
    started = TestStarted(slot=0, digest="a" * 32, size=3, label="bisect", at=1.0)
    finished = TestFinished(slot=0, digest="a" * 32, size=3, verdict=Verdict.PASSES,
                            duration=1.0, at=2.0)
    out = io.StringIO()
    rep = JsonReporter(out)
    rep.event(started)
    rep.event(finished)
    rep.event(CacheHit(digest="b" * 32, size=2, verdict=Verdict.REPRODUCES, at=3.0))
    good = [json.loads(line) for line in out.getvalue().splitlines()]
    check_lines(good)
    bad = copy.deepcopy(good[1])
    change(bad)
    found = problems(bad)
    assert any(where in p for p in found), found


# -- a whole run ---------------------------------------------------------------------------------
@needs_cc
def test_a_normal_run_of_the_demo(tmp_path):
    code, lines, err = run("demo", tmp_path / "demo", "--json", cwd=tmp_path, timeout=300)
    assert code == ExitCode.MINIMIZED, err
    last = summary_of(code, lines, "minimized", "minimized")
    assert last["verified"] is True and last["best_size"] == len(last["fragment"]) == 3
    assert last["state_dir"] == str(tmp_path / "demo" / "state")
    on_disk = read_summary(tmp_path / "demo" / "state" / "summary.json")
    assert set(on_disk) <= set(SUMMARY_FIELDS), set(on_disk) - set(SUMMARY_FIELDS)
    # Every field summary.json holds is one the schema requires of it: none written unlisted.
    assert set(on_disk) == set(definition("sessionSummaryFile")["required"])
    assert last["fragment"] == on_disk["fragment"]

    started = {line["digest"]: line["label"] for line in lines if line["event"] == "TestStarted"}
    bad = [line for line in lines
           if line["event"] == "TestFinished" and started.get(line["digest"]) == "bad config"]
    assert bad and bad[0]["shown_verdict"] == "fails" and bad[0]["label"] == "bad config"
    best = [line for line in lines if line["event"] == "BestImproved"]
    assert best and all(len(line["changes"]) == line["size"] for line in best)
    assert best[0]["size"] > 20  # the first best is large: every change is listed all the same
