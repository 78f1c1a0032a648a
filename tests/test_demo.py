"""The embedded demo end to end, through the real command: real builds of examples/demo by the
machine's cc, the same oracle path as a kernel.

The demo's randconfig has 135 changes against its baseline; its link error needs exactly three of
them (examples/demo/README.md). Each test here runs a whole minimization (about 30-40 s on two
cores).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import Lines, wait_until
from schema_support import check_lines, check_summary, read_summary

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
CULPRITS = {"CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"}
ARTIFACTS = ("report.txt", "summary.json", "fragment.config", "minimal.config", "reproduce.sh")

pytestmark = pytest.mark.needs("cc", "make")


def ltobisect(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def fragment(state: Path) -> set:
    text = (state / "fragment.config").read_text()
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_demo_minimizes_to_the_planted_culprits(tmp_path):
    # How long the demo takes is benchmarks/' business; the timeout only guards against a hang.
    proc = ltobisect("demo", tmp_path / "demo", "--json", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    state = tmp_path / "demo" / "state"
    for name in ARTIFACTS:
        assert (state / name).is_file(), name
    assert fragment(state) == CULPRITS
    summary = read_summary(state / "summary.json")
    assert summary["status"] == "minimized"
    report = (state / "report.txt").read_text()
    assert "undefined reference to `trace_net_queue_packet'" in report
    assert all(c in report for c in CULPRITS)

    records = [json.loads(line) for line in out.splitlines()]
    check_lines(records)
    kinds = [r["event"] for r in records]
    assert kinds[-1] == "Summary" and records[-1]["status"] == "minimized"
    assert "TestStarted" in kinds and "TestFinished" in kinds and "BestImproved" in kinds
    verdicts = {r["verdict"] for r in records if r["event"] == "TestFinished"}
    # A candidate with TSO but not GSO fails to compile: another failure, never ours.
    assert {"reproduces", "passes", "other-failure"} <= verdicts

    # The source tree was copied read-only and never written by a build.
    tree = tmp_path / "demo" / "tree"
    assert not list(tree.rglob("*.o")) and not (tree / ".config").exists()

    # `report` renders the same report again.
    proc = ltobisect("report", state, cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert all(c in out for c in CULPRITS)

    # reproduce.sh reproduces the failure from a clean O= directory.
    run = subprocess.run(["sh", str(state / "reproduce.sh")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_hook_after_a_failed_build(tmp_path):
    """A build farm's O= directory after the failure: the hook finds tree, config and log."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", out / ".config")
    build = subprocess.run(["make", "-C", str(DEMO), f"O={out}", "-j2"], capture_output=True,
                           text=True, timeout=120)
    assert build.returncode != 0
    (out / "build.log").write_text(build.stdout + build.stderr)
    assert (out / "source").is_symlink()  # as the kernel leaves in an O= directory

    arts = tmp_path / "artifacts"
    proc = ltobisect("hook", "--build-dir", out, "--log", out / "build.log", "--budget", "5m",
                     "--out", arts, "--workers", "2", "--summary-json", tmp_path / "s.json",
                     cwd=tmp_path, stdin=subprocess.DEVNULL)
    stdout, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    # No --baseline: allnoconfig for a tree that is not a kernel, and there NET is off too.
    assert fragment(arts) == CULPRITS | {"CONFIG_NET=y"}
    for name in ARTIFACTS:
        assert (arts / name).is_file(), name
    copied = json.loads((tmp_path / "s.json").read_text())  # --summary-json: the Summary
    check_summary(copied)
    assert copied["status"] == "minimized"
    assert "\x1b" not in stdout  # plain lines for the farm's log
    # The demo's build products in the source tree: none (builds happen in the out dir's workers).
    assert not list(DEMO.rglob("*.o"))


def test_hook_never_runs_past_its_budget(tmp_path):
    """The demo takes longer than 6 s: the hook ends because its budget ran out (exit 3, the
    reason on stderr, a partial result), stopped by the session itself a little before the
    budget, not by the watchdog's last resort. No wall-clock measure: the timeout of
    communicate() only guards against a hang."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", out / ".config")
    proc = ltobisect("hook", "--build-dir", out, "--tree", DEMO, "--budget", "6s",
                     "--out", tmp_path / "arts",
                     cwd=tmp_path, stdin=subprocess.DEVNULL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "the budget of 6s ran out" in err and "Traceback" not in err
    assert "did not stop" not in err  # the watchdog never had to end it
    assert (tmp_path / "arts" / "report.txt").is_file()
    assert read_summary(tmp_path / "arts" / "summary.json")["status"] == "partial"


def _interrupt_after_first_best(proc: subprocess.Popen) -> str:
    """Read plain lines until the search has a best result, then press Ctrl-C once."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if " best: " in line:
            break
    proc.send_signal(signal.SIGINT)
    return "".join(seen)


def test_ctrl_c_once_stops_cleanly_with_a_partial_result(tmp_path):
    proc = ltobisect("demo", tmp_path / "demo", "--workers", "1", cwd=tmp_path)
    _interrupt_after_first_best(proc)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    state = tmp_path / "demo" / "state"
    assert (state / "report.txt").is_file() and (state / "best.config").is_file()
    summary = read_summary(state / "summary.json")
    assert summary["status"] == "partial"

    # `resume` continues from the journal, reruns no finished build, and ends minimized.
    builds_before = len((state / "journal.jsonl").read_text().splitlines())
    proc = ltobisect("resume", state, "--json", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert fragment(state) == CULPRITS
    finished = [json.loads(line) for line in out.splitlines()]
    check_lines(finished)
    assert finished[-1]["event"] == "Summary" and finished[-1]["status"] == "minimized"
    # Verification rebuilds the result on purpose; every other finished test is never rerun.
    started = {r["digest"] for r in finished
               if r["event"] == "TestStarted" and r["label"] not in ("verify", "recheck")}
    journal = [json.loads(line) for line in (state / "journal.jsonl").read_text().splitlines()]
    earlier = {r.get("digest") for r in journal[:builds_before]}
    assert not (started & earlier) - {None}, "a finished build ran again"


def test_ctrl_c_twice_kills(tmp_path):
    """The first Ctrl-C lands once the test script runs; the second once the first has been
    honoured ("stopping: ..." is shown). The script ignores SIGTERM, so the clean stop the
    first press started is still waiting for it (SIGTERM, then SIGKILL to its group) when the
    second lands, as a user's impatient second Ctrl-C does."""
    script = tmp_path / "stubborn.sh"
    running = tmp_path / "running"
    script.write_text(f"#!/bin/sh\ntrap '' TERM\ntouch {running}\nsleep 60\n")
    script.chmod(0o755)
    proc = ltobisect("minimize", DEMO / "configs" / "randconfig.config", "--tree", DEMO,
                     "--test", script, "--state", tmp_path / "state", cwd=tmp_path)
    out = Lines(proc.stdout)

    def script_runs() -> bool:
        assert proc.poll() is None, f"ltobisect ended first: {proc.stderr.read()}"
        return running.exists()

    wait_until(script_runs, timeout=60, what="the test script to run")
    proc.send_signal(signal.SIGINT)
    out.wait_for("stopping: killing the running builds", timeout=60)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    err = proc.stderr.read()
    out.rest(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "killed" in err and "ltobisect resume" in err
    assert (tmp_path / "state" / "session.json").is_file()  # the journal's session survives


def test_demo_sources_found_and_their_absence_explained(tmp_path, monkeypatch, capsys):
    """From a checkout the demo's sources are examples/demo (from an installed package, its
    ltobisect/demo_tree: tests/test_install.py); when neither is there, the error says how to get
    them."""
    from ltobisect.cli import commands, main

    found = commands.demo_source()
    assert sorted(p.relative_to(found) for p in found.rglob("*") if p.is_file()) == \
        sorted(p.relative_to(DEMO) for p in DEMO.rglob("*") if p.is_file())
    monkeypatch.setattr(commands, "DEMO_SOURCE", tmp_path / "nowhere")
    assert main(["demo", str(tmp_path / "demo")]) == 1
    err = capsys.readouterr().err
    assert "the demo sources are missing" in err and "pip install ." in err
    assert not (tmp_path / "demo").exists()
