"""examples/hook-ci.sh, run as a CI job runs it after the demo's build failed: the artifacts
directory holds the report and the script's log and nothing to keep out of an upload (no build
directories, no ccache), nothing that existed before is deleted, and the exit code is ltobisect's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
SCRIPT = REPO / "examples" / "hook-ci.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None or shutil.which("make") is None or shutil.which("bash") is None,
    reason="the demo needs make and cc, the script bash")


@pytest.fixture
def failed_build(tmp_path) -> Path:
    """The demo's O= directory after its build failed, and the build's log beside it."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", out / ".config")
    build = subprocess.run(["make", "-C", str(DEMO), f"O={out}", "-k", "-j2"],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode != 0
    (tmp_path / "build.log").write_text(build.stdout + build.stderr)
    return out


def hook_ci(tmp_path: Path, *args: object, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO),
               "LTOBISECT": f"{sys.executable} -m ltobisect", **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=tmp_path, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def test_hook_ci_leaves_only_the_artifacts_and_deletes_nothing(tmp_path, failed_build):
    # Directories that existed before: where the artifacts go (empty but for a hidden file of
    # the job's, which ltobisect tolerates) and where the work goes.
    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / ".job-marker").write_text("kept\n")
    inode = arts.stat().st_ino
    work = tmp_path / "cache" / "work"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("kept\n")

    # A short budget: the session stops with the best so far, the report is written (exit 3).
    proc = hook_ci(tmp_path, failed_build, tmp_path / "build.log", ARTIFACTS=str(arts),
                   LTOBISECT_BUDGET="8s", LTOBISECT_WORK_DIR=str(work), LTOBISECT_WORKERS="2",
                   CCACHE_DIR=str(tmp_path / "cache" / "ccache"))
    summary = json.loads((arts / "summary.json").read_text())
    assert proc.returncode == summary["exit_code"], proc.stdout + proc.stderr
    assert proc.returncode in (0, 3)
    assert "Traceback" not in proc.stdout + proc.stderr

    # Nothing that existed was deleted (nor deleted and made again).
    assert arts.stat().st_ino == inode and (arts / ".job-marker").read_text() == "kept\n"
    assert (work / "keep.txt").read_text() == "kept\n"
    assert (failed_build / ".config").is_file() and (tmp_path / "build.log").is_file()

    # What a job uploads: the report and the script's log; builds and caches stay out.
    assert (arts / "report.txt").is_file()
    log = (arts / "hook.log").read_text()
    assert "ltobisect" in log and "finished:" in log
    assert f"ltobisect exit {proc.returncode}" in log
    for name in ("workers", "ccache", "logs", "journal.jsonl"):
        assert not (arts / name).exists(), name
    assert (work / "journal.jsonl").is_file() and (work / "workers").is_dir()


def test_hook_ci_passes_the_exit_code_of_bad_input_and_keeps_a_foreign_directory(
        tmp_path, failed_build):
    """An artifacts directory that holds someone else's files: ltobisect refuses it (exit 1),
    the script says so with that exit code and touches nothing in it."""
    arts = tmp_path / "artifacts"
    arts.mkdir()
    (arts / "notes.txt").write_text("the user's\n")
    proc = hook_ci(tmp_path, failed_build, tmp_path / "build.log", ARTIFACTS=str(arts),
                   LTOBISECT_BUDGET="8s", LTOBISECT_WORK_DIR=str(tmp_path / "work"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "is not empty" in proc.stdout + proc.stderr
    assert sorted(p.name for p in arts.iterdir()) == ["notes.txt"]
    assert (arts / "notes.txt").read_text() == "the user's\n"
