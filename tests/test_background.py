"""tests/background.py, which starts the real minimizations with the session: checked in a
pytest run of its own on small modules, so what it promises holds without a kernel tree."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support import wait_until

HERE = Path(__file__).resolve().parent

# The wiring of tests/conftest.py, in a conftest of the inner run.
CONFTEST = """
import pytest

import background


def pytest_collection_modifyitems(items):
    background.order_last(items)


@pytest.fixture(scope="session", autouse=True)
def background_fixtures(request):
    background.start(request)
    yield
    background.stop()


@pytest.fixture(scope="session")
def source():
    return "ready"


@pytest.fixture(scope="session")
def no_tree():
    pytest.skip("no such tree here")
"""


def _inner(tmp_path: Path, modules: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name, text in modules.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = {**os.environ, "PYTHONPATH": str(HERE), "MARKS": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-s",
                           "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_a_background_fixture_starts_first_runs_niced_and_its_tests_come_last(tmp_path):
    proc = _inner(tmp_path, {
        "test_a_early.py": """
            import os, threading
            from pathlib import Path
            import background

            @background.fixture
            def result(source):
                Path(os.environ["MARKS"], "started").touch()
                background.later(lambda: print("SHOWN-IN", threading.current_thread().name))
                niceness = background.run(["sh", "-c", "nice"], timeout=30).stdout.strip()
                return threading.current_thread().name, niceness, source

            def test_takes_the_result(result):
                name, niceness, source = result
                assert name != "MainThread" and niceness == "10" and source == "ready"
                assert Path(os.environ["MARKS"], "plain-ran").is_file()  # moved to the end

            @background.fixture
            def skipped(no_tree):
                return 1

            def test_whose_input_skips(skipped):
                pass
            """,
        "test_b_plain.py": """
            import os, time
            from pathlib import Path

            def test_plain():
                marks = Path(os.environ["MARKS"])
                deadline = time.monotonic() + 60
                while not (marks / "started").is_file() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert (marks / "started").is_file(), "the background fixture had not started"
                (marks / "plain-ran").touch()
            """,
    })
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "2 passed, 1 skipped" in out
    assert "no such tree here" in out  # the skip lands on the test, as without the background
    assert "SHOWN-IN MainThread" in out  # shown when the result was taken, in the main thread


def test_the_end_of_the_session_kills_what_the_background_still_runs(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    proc = _inner(tmp_path, {
        "test_a_early.py": """
            import background

            @background.fixture
            def forever(source):
                background.run(["sh", "-c", 'echo $$ > sleeper.pid; exec sleep 300'], timeout=600)

            def test_never_reached(forever):
                pass
            """,
        "test_b_plain.py": """
            import os, time
            from pathlib import Path

            def test_fails_once_the_sleeper_runs():
                pid = Path(os.environ["MARKS"], "sleeper.pid")
                deadline = time.monotonic() + 60
                while not (pid.is_file() and pid.read_text().strip()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert False, "stop the session here (-x)"
            """,
    }, "-x")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_until(gone, timeout=30, what="the background's sleep to be killed")
