"""The hook's --out holds only what a CI job uploads; the rest lives in the work directory.

Real builds of the embedded demo (examples/demo) through the real command, as a build farm's
post-failure hook runs it: a first run stopped by --max-builds, then `resume OUT`, which finds
the work directory from --out alone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ltobisect.config import default_work_dir

from schema_support import read_summary

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
CULPRITS = {"CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y", "CONFIG_NET=y"}

pytestmark = pytest.mark.needs("cc", "make")


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def journal(work: Path) -> list:
    return [json.loads(line) for line in (work / "journal.jsonl").read_text().splitlines()]


def test_the_hooks_out_holds_the_artifacts_and_resume_finds_the_work_dir(tmp_path, own_cache_home):
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", build / ".config")
    out = tmp_path / "artifacts"

    first = run("hook", "--build-dir", build, "--tree", DEMO, "--out", out, "--max-builds", "4",
                "--workers", "2", "--json", cwd=tmp_path)
    assert first.returncode == 3, first.stderr  # partial: the build limit
    work = default_work_dir(out)
    assert work.parent == own_cache_home / "work" and work.name.startswith("artifacts-")
    # What a CI job uploads, and nothing heavy: no build directories, logs, journal or ccache.
    assert not {"workers", "logs", "journal.jsonl", "ccache", "kconfig"} & {p.name for p in out.iterdir()}
    assert {"report.txt", "summary.json", "fragment.config", "reproduce.sh"} <= {p.name for p in out.iterdir()}
    assert (work / "workers").is_dir() and list((work / "logs").iterdir())
    builds_before = len(journal(work))
    assert f"ltobisect resume {out}" in first.stderr

    second = run("resume", out, "--max-builds", "500", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    summary = read_summary(out / "summary.json")
    assert summary["status"] == "minimized"
    lines = {l.strip() for l in (out / "fragment.config").read_text().splitlines() if l.strip()}
    assert lines == CULPRITS
    # The first run's builds came from the journal in the work directory: none ran again.
    records = journal(work)
    digests = [r["digest"] for r in records[:builds_before] if r.get("label") != "bad config (observed)"]
    rerun = [r for r in records[builds_before:] if r["digest"] in digests
             and r.get("label") not in ("verify", "recheck", "bad config (observed)")]
    assert rerun == []
    assert not (out / "workers").exists() and not (out / "journal.jsonl").exists()
    # `resume` is not the hook: it leaves the work directory as it is.
    assert (work / "workers").is_dir()
    # `report OUT` renders again from --out plus the work directory it names.
    again = run("report", out, cwd=tmp_path)
    assert again.returncode == 0 and "CONFIG_NET_SCHED_STATS=y" in again.stdout


def test_an_explicit_work_dir_for_minimize(tmp_path):
    state, work = tmp_path / "state", tmp_path / "work"
    proc = run("minimize", DEMO / "configs" / "randconfig.config", "--tree", DEMO, "--state", state,
               "--work-dir", work, "--max-builds", "2", "--json", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert (work / "journal.jsonl").is_file() and (work / "workers").is_dir()
    assert not (state / "journal.jsonl").exists() and not (state / "workers").exists()
    assert json.loads((state / "session.json").read_text())["config"]["work_dir"] == str(work.resolve())


def test_a_finished_hook_drops_its_build_directories_and_keeps_its_journal(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", build / ".config")
    out = tmp_path / "arts"
    proc = run("hook", "--build-dir", build, "--tree", DEMO, "--out", out, "--workers", "2",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    work = default_work_dir(out)
    assert not (work / "workers").exists()
    assert len(journal(work)) > 10
    assert run("report", out, cwd=tmp_path).returncode == 0


def test_two_sessions_cannot_share_a_work_directory_at_once(tmp_path):
    from ltobisect.errors import UserError
    from ltobisect.store.state import StateDir

    work = tmp_path / "work"
    first, second = StateDir(tmp_path / "a", work), StateDir(tmp_path / "b", work)
    for s in (first, second):
        s.prepare()
    first.acquire()
    try:
        with pytest.raises(UserError, match=f"another ltobisect is running on {work}"):
            second.acquire()
        # Refused whole: its own state directory is not left locked either.
        third = StateDir(tmp_path / "b")
        third.acquire()
        third.release()
    finally:
        first.release()
    second.acquire()  # free again once the first is done
    second.release()
