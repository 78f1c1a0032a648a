"""A tester's run that stops and goes on: SIGTERM and SIGHUP stop like Ctrl-C and say which
signal it was; `resume` takes a new budget, build limit and number of workers; the summary's
tarball line agrees with `verified`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ltobisect.config import Limits
from ltobisect.events import ListReporter
from ltobisect.conductor.session import Session

from session_support import PyOracle, py_factory, tiny_config, tiny_tree
from schema_support import read_summary

REPO = Path(__file__).resolve().parent.parent


def ltobisect(*args: object, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TINY_DELAY": "0.3"}
    return subprocess.Popen([sys.executable, "-m", "ltobisect", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("sig, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_name_the_signal(tmp_path, sig, name):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    proc = ltobisect("minimize", tree / "bad.config", "--tree", tree, "--baseline", "allnoconfig",
                     "--test", tree / "test.sh", "--state", state, "--json")
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the search to be under way
        if json.loads(line).get("event") == "TestFinished":
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert f"stopped: interrupted ({name})" in err
    summary = read_summary(state / "summary.json")
    assert summary["status"] == "partial" and summary["message"] == f"stopped: interrupted ({name})"
    assert "Traceback" not in err


def test_resume_takes_a_new_build_limit_and_workers(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    first = Session(tiny_config(tree, state, limits=Limits(max_tests=3))).run()
    assert first.status == "partial" and first.message == "stopped: 3 builds done (--max-builds)"
    proc = ltobisect("resume", state, "--max-builds", "2", "--workers", "2", "--json")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "stopped: 2 builds done (--max-builds)" in err
    stored = json.loads((state / "session.json").read_text())["config"]
    assert stored["workers"] == 2 and stored["limits"]["max_tests"] == 2
    proc = ltobisect("resume", state, "--max-builds", "500", "--json")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    summary = read_summary(state / "summary.json")
    assert summary["status"] == "minimized" and summary["counts"]["runs"] == 3


def test_resume_refuses_a_limit_below_one(tmp_path, capsys):
    from ltobisect.cli import main

    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    Session(tiny_config(tree, state, limits=Limits(max_tests=1))).run()
    assert main(["resume", str(state), "--workers", "0"]) == 1
    assert capsys.readouterr().err.strip().endswith(
        "error: --workers must be at least 1, not 0 (for example --workers 2)")


def test_the_tarball_line_agrees_with_verified_for_a_link_failure_off_a_kernel(tmp_path):
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    result = Session(tiny_config(tree, state, test_script=None), ListReporter(),
                     oracle_factory=py_factory(PyOracle(tmp_path / "logs"))).run()
    summary = read_summary(state / "summary.json")
    assert result.verified and summary["verified"] is True
    assert summary["signature"]["kind"] == "link-error"
    assert summary["ld_reproduce"] == {"made": False, "path": None,
                                       "reason": "not attempted (not a kernel tree)",
                                       "relinks": None, "relink_command": None, "relink_said": None}
