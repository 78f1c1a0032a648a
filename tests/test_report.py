"""The artifacts: report.txt for a mailing list, summary.json, reproduce.sh, from the state dir alone.

A module-wide session minimizes the tiny tree's planted link error through the real build
oracle (make O=... with the tree's Makefile), then each test reads or re-renders its state.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ltobisect import report
from ltobisect.session import Session

from session_support import EXPECTED, tiny_config, tiny_tree


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    top = tmp_path_factory.mktemp("report")
    tree = tiny_tree(top)
    state = top / "state"
    result = Session(tiny_config(tree, state, test_script=None)).run()
    assert result.status == "minimized", result.message
    return result, state, top


def copy_state(state: Path, dst: Path) -> Path:
    shutil.copytree(state, dst, ignore=shutil.ignore_patterns("workers"))
    return dst


def test_the_report_is_plain_text_within_80_columns_with_what_a_maintainer_needs(done):
    result, state, _ = done
    text = (state / "report.txt").read_text()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert lines[0] == "ltobisect: ld.lld: undefined symbol: foo_lto_stub (link-error)"
    assert text.isascii()
    # The fragment, as its own block of lines.
    for frag in EXPECTED:
        assert f"\n  {frag}\n" in text
    assert "Minimal fragment: 4 of 24 changes against defconfig (verified, 2 rebuilds):" in text
    # The commands from a clean tree, the error itself, the toolchain, what was searched.
    assert "cp minimal.config out/.config" in text and "make O=out -k" in text
    assert "ld.lld: error: undefined symbol: foo_lto_stub" in text
    assert "Compiler:" in text and "Baseline:   defconfig" in text
    assert f"builds: {result.builds}," in text and "flaky: none observed" in text
    assert "rebuilt 2 time(s): reproduces, reproduces" in text
    assert "removing any single line stops the failure" in text


def test_the_summary_carries_the_same_facts_for_machines(done):
    result, state, _ = done
    s = json.loads((state / "summary.json").read_text())
    assert s["status"] == "minimized" and s["exit_code"] == 0 and not s["partial"] and s["verified"]
    assert s["signature"]["kind"] == "link-error" and s["signature"]["tool"] == "ld.lld"
    assert s["fragment"] == list(EXPECTED) and s["best_size"] == 4 and s["total_changes"] == 24
    assert s["counts"]["builds"] == result.builds
    assert sum(s["counts"]["verdicts"].values()) == result.builds
    assert s["durations"]["wall"] > 0 and s["durations"]["timeout"] >= 30
    assert "undefined symbol: foo_lto_stub" in s["excerpt"]
    assert s["ld_reproduce"]["made"] is False and s["ld_reproduce"]["reason"]
    for key in ("report", "summary", "minimal_config", "fragment", "reproduce"):
        assert Path(s["paths"][key]).is_file(), key


def test_reproduce_sh_exits_0_from_a_clean_directory_and_1_when_the_failure_is_gone(done, tmp_path):
    _, state, _ = done
    ok = subprocess.run(["sh", str(state / "reproduce.sh"), str(tmp_path / "out1")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "REPRODUCED" in ok.stdout, ok.stdout
    mine = copy_state(state, tmp_path / "state")
    text = (mine / "minimal.config").read_text().replace("# CONFIG_KEEP is not set", "CONFIG_KEEP=y")
    (mine / "minimal.config").write_text(text)
    gone = subprocess.run(["sh", str(mine / "reproduce.sh"), str(tmp_path / "out2")],
                          capture_output=True, text=True)
    assert gone.returncode == 1 and "did not reproduce" in gone.stdout


def test_render_needs_only_the_state_directory_even_when_logs_are_gone(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    res = json.loads((mine / "result.json").read_text())
    res["best_log"] = str(mine / "logs" / Path(res["best_log"]).name)
    (mine / "result.json").write_text(json.dumps(res))
    shutil.rmtree(mine / "logs")
    path = report.render(mine)
    text = path.read_text()
    assert path == mine / "report.txt"
    assert "ld.lld: error: undefined symbol: foo_lto_stub" in text  # the excerpt was kept
    assert "no longer on disk" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_session_killed_before_its_end_renders_as_partial(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    (mine / "result.json").unlink()
    report.render(mine)
    text = (mine / "report.txt").read_text()
    assert "PARTIAL RESULT" in text and "NOT verified" in text
    assert json.loads((mine / "summary.json").read_text())["partial"] is True
    assert (mine / "fragment.config").read_text().splitlines() == list(EXPECTED)


def test_long_log_lines_are_wrapped_not_cut(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    log = tmp_path / "long.log"
    long_path = "drivers/" + "very_long_directory_name/" * 8 + "foo.c"
    log.write_text(f"ld.lld: error: undefined symbol: foo_lto_stub\n>>> referenced by {long_path}\n")
    res = json.loads((mine / "result.json").read_text())
    res["best_log"] = str(log)
    (mine / "result.json").write_text(json.dumps(res))
    text = report.render(mine).read_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "".join(line.strip() for line in text.splitlines()).count("very_long_directory_name") == 8
