"""examples/hook-ci.sh, run as a CI job runs it after the demo's build failed: the artifacts
directory holds the report and the script's log and nothing to keep out of an upload (no build
directories, no ccache), nothing that existed before is deleted, and the exit code is ltobisect's.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schema_support import read_summary

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
SCRIPT = REPO / "examples" / "hook-ci.sh"

pytestmark = pytest.mark.needs("cc", "make", "bash")


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
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(0o022))  # a CI runner's usual umask


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
    summary = read_summary(arts / "summary.json")
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


#: Where the hook's CI pattern is shown to users; each `make ... | tee build.log ||` there must
#: keep the step failed whatever the hook did.
DOCUMENTED = [REPO / "README.md", REPO / "examples" / "linux-lto" / "README.md", SCRIPT,
              REPO / "examples" / "ci" / "gitlab-ci.yml"]


def documented_patterns() -> list:
    """(file, the lines from `| tee build.log ||` to the end of its right-hand side)."""
    from ltobisect.cli.helptexts import HOOK_HELP

    found = []
    for name, text in [(p.name, p.read_text()) for p in DOCUMENTED] + [("hook --help", HOOK_HELP)]:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if "| tee build.log ||" in line:
                found.append((name, "\n".join(lines[i:i + 4])))
    return found


def test_every_documented_pattern_keeps_a_failed_build_failing():
    """`make | tee build.log || hook` turned a failed build into a passing step once the hook
    minimized it (exit 0): every place that shows it ends the right-hand side with `exit 1`."""
    found = documented_patterns()
    assert {name for name, _ in found} == {p.name for p in DOCUMENTED} | {"hook --help"}
    for name, pattern in found:
        assert pattern.split("||", 1)[1].lstrip().startswith("{"), (name, pattern)
        assert "exit 1" in pattern, (name, pattern)


def test_the_pattern_fails_the_step_after_a_successful_minimization(tmp_path):
    """The README's pattern, run by bash as a CI step runs it, on the demo's failing build."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "LTOBISECT": f"{sys.executable} -m ltobisect",
           "ARTIFACTS": str(tmp_path / "artifacts"), "LTOBISECT_WORK_DIR": str(tmp_path / "work"),
           "LTOBISECT_WORKERS": "2", "CCACHE_DIR": str(tmp_path / "ccache")}
    (tmp_path / "out").mkdir()
    shutil.copy(DEMO / "configs" / "randconfig.config", tmp_path / "out" / ".config")
    step = (f"set -o pipefail\n"
            f"make -C {DEMO} O={tmp_path / 'out'} -k -j2 2>&1 | tee build.log || {{\n"
            f"    {SCRIPT} out build.log\n"
            f"    exit 1\n"
            f"}}\n")
    proc = subprocess.run(["bash", "-e", "-c", step], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    summary = read_summary(tmp_path / "artifacts" / "summary.json")
    assert summary["exit_code"] == 0, proc.stderr  # the hook minimized it...
    assert proc.returncode == 1, proc.stderr  # ...and the step still fails with the build
    assert "hook-ci.sh: ltobisect exit 0: minimized" in proc.stderr


def hook_ci_until_a_best(tmp_path: Path, failed_build: Path, arts: Path, **popen: object):
    """hook-ci.sh started as a CI job starts it, read until ltobisect has a first best result
    (a stop then has something to write); returns the process and the lines seen."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), "ARTIFACTS": str(arts),
               "LTOBISECT": f"{sys.executable} -m ltobisect", "LTOBISECT_BUDGET": "5m",
               "LTOBISECT_WORK_DIR": str(tmp_path / "work"), "CCACHE_DIR": str(tmp_path / "cc")}
    proc = subprocess.Popen(["bash", str(SCRIPT), str(failed_build), str(tmp_path / "build.log")],
                            cwd=tmp_path, env=environ, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    seen = ""
    for line in proc.stdout:  # ltobisect's lines, shown as they come
        seen += line
        if "best:" in line:
            break
    return proc, seen


def test_a_signal_is_named_and_a_rerun_appends_to_a_readable_log(tmp_path, failed_build):
    """SIGTERM (a cancelled job) was reported as "the budget ran out"; a rerun overwrote
    hook.log; hook.log was private (mode 600) beside artifacts readable by all (644)."""
    arts = tmp_path / "artifacts"
    proc, seen = hook_ci_until_a_best(tmp_path, failed_build, arts,
                                      preexec_fn=lambda: os.umask(0o022))
    proc.terminate()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, seen + out + err
    assert "stopped by SIGTERM" in err.splitlines()[-1] and "budget" not in err.splitlines()[-1]
    first = (arts / "hook.log").read_text()
    assert first.count("hook-ci.sh: ") >= 2 and "SIGTERM" in first

    # The rerun continues the same session and keeps the first run's lines.
    again = hook_ci(tmp_path, failed_build, tmp_path / "build.log", ARTIFACTS=str(arts),
                    LTOBISECT_BUDGET="5m", LTOBISECT_WORK_DIR=str(tmp_path / "work"),
                    CCACHE_DIR=str(tmp_path / "cc"))
    assert again.returncode == 0, again.stdout + again.stderr
    log = (arts / "hook.log").read_text()
    assert log.startswith(first) and log.count("minimizing the config of") == 2
    assert "ltobisect exit 0: minimized" in log
    modes = {p.name: p.stat().st_mode & 0o777 for p in (arts / "hook.log", arts / "report.txt")}
    assert modes == {"hook.log": 0o644, "report.txt": 0o644}, modes


def test_a_sigterm_to_the_whole_process_group_is_one_clean_stop(tmp_path, failed_build):
    """CI runners cancel a job by signalling its process group: ltobisect got the signal from
    the runner and again from the script, and two signals mean "kill" (exit 130). It runs in a
    session of its own, so it hears the script's one SIGTERM only."""
    import signal

    arts = tmp_path / "artifacts"
    proc, seen = hook_ci_until_a_best(tmp_path, failed_build, arts, start_new_session=True)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, seen + out + err
    assert "stopped by SIGTERM" in err.splitlines()[-1]
    assert "killed" not in err
    summary = read_summary(arts / "summary.json")
    assert summary["status"] == "partial" and summary["fragment"]
