"""Bad input at the command line: one line that says what and what to do, a documented exit code,
never a traceback.

Most cases run ``main()`` in-process (they end before any build); the few that need the session
(a bad config that builds, a state directory of another session) build the demo tree for real.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ltobisect import cli, inputs
from ltobisect.errors import ExitCode

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
BAD = DEMO / "configs" / "randconfig.config"
BASE = DEMO / "configs" / "baseline.config"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run every command from a scratch directory, so default state dirs land there."""
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv: str):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *needles: str) -> str:
    """The single error line; it names the problem and, in parentheses, what to do."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("ltobisect: error: "), line
    assert line.endswith(")"), f"no hint in: {line}"
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def expect(capsys, code: int, needles, *argv: str) -> str:
    got, _out, err = run(capsys, *argv)
    line = one_line(err, *needles)
    assert got == code, (got, line)
    return line


def minimize(*extra: str, bad: Path = BAD, tree: Path = DEMO):
    return ("minimize", bad, "--tree", tree, "--baseline", BASE, *extra)


@pytest.fixture
def kernel_like(tmp_path) -> Path:
    """The shape of a kernel tree (enough for the checks made before a build)."""
    tree = tmp_path / "linux"
    for d in ("arch/x86", "arch/arm64", "scripts/kconfig"):
        (tree / d).mkdir(parents=True)
    (tree / "Kconfig").write_text('mainmenu "Linux"\nsource "arch/$(SRCARCH)/Kconfig"\n')
    (tree / "Makefile").write_text("all:\n")
    (tree / "scripts" / "kconfig" / "merge_config.sh").write_text("#!/bin/sh\n")
    for arch in ("x86", "arm64"):
        (tree / "arch" / arch / "Kconfig").write_text("config 64BIT\n\tbool\n")
    return tree


# -- files ---------------------------------------------------------------------------------------
def test_missing_bad_config(capsys, tmp_path):
    expect(capsys, 1, ["bad config", "does not exist"], *minimize(bad=tmp_path / "nope.config"))


def test_bad_config_is_a_directory(capsys, tmp_path):
    expect(capsys, 1, ["is a directory"], *minimize(bad=tmp_path))


def test_bad_config_is_binary(capsys, tmp_path):
    f = tmp_path / "vmlinux"
    f.write_bytes(b"\x7fELF\x00\x01\x02")
    expect(capsys, 1, ["binary file"], *minimize(bad=f))


def test_bad_config_is_not_a_config(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("CONFIG_FOO=y\nthis is a shopping list\n")
    expect(capsys, 1, ["not a kernel config", "line 2"], *minimize(bad=f))


def test_empty_bad_config(capsys, tmp_path):
    f = tmp_path / "empty.config"
    f.write_text("")
    expect(capsys, 1, ["no CONFIG_ settings"], *minimize(bad=f))


def test_bad_config_with_only_comments(capsys, tmp_path):
    f = tmp_path / "comments.config"
    f.write_text("#\n# Automatically generated file; DO NOT EDIT.\n#\n")
    expect(capsys, 1, ["no CONFIG_ settings"], *minimize(bad=f))


def test_missing_tree(capsys, tmp_path):
    expect(capsys, 1, ["tree", "does not exist"], *minimize(tree=tmp_path / "linux"))


def test_tree_is_a_file(capsys, tmp_path):
    f = tmp_path / "linux.tar"
    f.write_text("x")
    expect(capsys, 1, ["is not a directory"], *minimize(tree=f))


def test_tree_without_kconfig(capsys, tmp_path):
    (tmp_path / "src").mkdir()
    expect(capsys, 1, ["not a Kconfig tree"], *minimize(tree=tmp_path / "src"))


def test_missing_tree_option(capsys):
    expect(capsys, 1, ["--tree"], "minimize", BAD)


def test_unknown_option(capsys):
    expect(capsys, 1, ["--frobnicate"], *minimize("--frobnicate"))


# -- tree, arch, toolchain -----------------------------------------------------------------------
def test_unknown_arch(capsys, kernel_like):
    expect(capsys, 1, ["unknown ARCH", "sparc9"], *minimize("--arch", "sparc9", tree=kernel_like))


def test_arch_on_a_tree_that_is_not_a_kernel(capsys):
    expect(capsys, 1, ["--arch x86_64", "no arch/"], *minimize("--arch", "x86_64"))


def test_llvm_value_the_kernel_does_not_take(capsys):
    expect(capsys, 1, ["--llvm", "LLVM="], *minimize("--llvm", "16"))


def test_missing_compiler(capsys):
    expect(capsys, 1, ["compiler clang-99 not found", "apt-get install clang-99"],
           *minimize("--llvm", "-99"))


def test_missing_linker(capsys, tmp_path):
    bin_dir = tmp_path / "llvm"
    bin_dir.mkdir()
    clang = bin_dir / "clang"
    clang.write_text("#!/bin/sh\nexit 0\n")
    clang.chmod(0o755)
    expect(capsys, 1, ["linker", "ld.lld not found"], *minimize("--llvm", f"{bin_dir}/"))


def test_baseline_needing_a_kernel_tree(capsys):
    expect(capsys, 1, ["--baseline defconfig needs a kernel tree"],
           "minimize", BAD, "--tree", DEMO, "--baseline", "defconfig")


# -- baseline --------------------------------------------------------------------------------------
def test_baseline_equal_to_bad_config(capsys, tmp_path):
    same = tmp_path / "same.config"
    same.write_text("# reordered copy\n" + "\n".join(reversed(BAD.read_text().splitlines())))
    expect(capsys, 1, ["same config"], "minimize", BAD, "--tree", DEMO, "--baseline", same)


def test_missing_baseline_file(capsys, tmp_path):
    expect(capsys, 1, ["baseline", "does not exist"],
           "minimize", BAD, "--tree", DEMO, "--baseline", tmp_path / "base.config")


# -- what counts as the failure ------------------------------------------------------------------
def test_signature_that_is_not_a_regex(capsys):
    expect(capsys, 1, ["not a valid regex", "escape"], *minimize("--signature", "undefined (symbol"))


def test_signature_matching_nothing_in_the_log(capsys, tmp_path):
    log = tmp_path / "build.log"
    log.write_text("ld.lld: error: undefined symbol: foo\n")
    expect(capsys, 1, ["matches nothing in"],
           *minimize("--signature", "section mismatch", "--log", log))


def test_missing_log(capsys, tmp_path):
    expect(capsys, 1, ["log", "does not exist"], *minimize("--log", tmp_path / "build.log"))


def test_empty_log(capsys, tmp_path):
    log = tmp_path / "build.log"
    log.write_text("\n")
    expect(capsys, 1, ["log", "is empty"], *minimize("--log", log))


def test_test_script_not_executable(capsys, tmp_path):
    script = tmp_path / "still-fails.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    expect(capsys, 1, ["not executable", "chmod +x"], *minimize("--test", script))


def test_missing_test_script(capsys, tmp_path):
    expect(capsys, 1, ["test script", "does not exist"], *minimize("--test", tmp_path / "t.sh"))


def test_test_script_and_signature_conflict(capsys, tmp_path):
    script = tmp_path / "t.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    expect(capsys, 1, ["--test and --signature cannot be used together"],
           *minimize("--test", script, "--signature", "error"))


def test_unknown_strategy(capsys):
    expect(capsys, 1, ["unknown strategy", "one of"], *minimize("--strategy", "astrology"))


# -- numbers ---------------------------------------------------------------------------------------
def test_zero_workers(capsys):
    expect(capsys, 1, ["--workers must be at least 1, not 0"], *minimize("--workers", "0"))


def test_negative_workers(capsys):
    expect(capsys, 1, ["--workers must be at least 1, not -2"], *minimize("--workers", "-2"))


def test_zero_jobs(capsys):
    expect(capsys, 1, ["--jobs must be at least 1"], *minimize("--jobs", "0"))


def test_duration_that_is_not_one(capsys):
    expect(capsys, 1, ["not a duration", "30s, 20m, 2h"], *minimize("--budget", "soon"))


def test_zero_timeout(capsys):
    expect(capsys, 1, ["--timeout must be more than 0"], *minimize("--timeout", "0s"))


def test_size_that_is_not_one(capsys):
    expect(capsys, 1, ["not a size", "512M"], *minimize("--mem-limit", "12Q"))


def test_negative_verify(capsys):
    expect(capsys, 1, ["--verify must be at least 0"], *minimize("--verify", "-1"))


def test_make_variable_without_value(capsys):
    expect(capsys, 1, ["is not VAR=VALUE"], *minimize("--make", "W1"))


def test_make_variable_ltobisect_sets_itself(capsys):
    expect(capsys, 1, ["--make O= conflicts", "own O= directory"], *minimize("--make", "O=/tmp/x"))


# -- output ----------------------------------------------------------------------------------------
def test_summary_json_in_a_missing_directory(capsys, tmp_path):
    expect(capsys, 1, ["cannot write --summary-json", "is not a directory"],
           *minimize("--summary-json", tmp_path / "no" / "such" / "summary.json"))


def test_summary_json_is_a_directory(capsys, tmp_path):
    expect(capsys, 1, ["--summary-json", "is a directory"], *minimize("--summary-json", tmp_path))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_summary_json_where_nothing_can_be_created(capsys, tmp_path):
    """/proc is a directory that even root cannot create a file in: found before any build."""
    expect(capsys, 1, ["cannot write --summary-json /proc/ltobisect-summary.json"],
           *minimize("--state", tmp_path / "state",
                     "--summary-json", "/proc/ltobisect-summary.json"))
    assert not (tmp_path / "state").exists()


def test_summary_json_to_a_pipe_nobody_reads_is_refused_not_waited_for(capsys, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    expect(capsys, 1, ["cannot write --summary-json", "a pipe nobody reads"],
           *minimize("--summary-json", fifo))


def test_output_checks_change_nothing(tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("old\n")
    assert inputs.check_output_file(kept, "--summary-json") == kept
    assert kept.read_text() == "old\n"
    new = tmp_path / "new.json"
    assert inputs.check_output_file(new, "--summary-json") == new
    assert not new.exists()
    state = tmp_path / "a" / "b" / "state"
    assert inputs.check_output_dir(state, "--state") == state
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == [kept]


def test_hook_out_under_a_file(capsys, tmp_path):
    f = tmp_path / "plain-file"
    f.write_text("x")
    expect(capsys, 1, ["cannot create --out", "is not a directory"],
           "hook", "--build-dir", tmp_path, "--out", f / "artifacts")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_demo_dir_that_cannot_be_created(capsys):
    expect(capsys, 1, ["cannot create DIR /proc/ltobisect-demo"], "demo", "/proc/ltobisect-demo")


def test_state_dir_is_a_file(capsys, tmp_path):
    f = tmp_path / "state"
    f.write_text("x")
    expect(capsys, 1, ["--state", "is a file"], *minimize("--state", f))


def test_ccache_dir_is_a_file(capsys, tmp_path):
    f = tmp_path / "ccache"
    f.write_text("x")
    expect(capsys, 1, ["--ccache-dir", "is a file"], *minimize("--ccache-dir", f))


def test_ccache_dir_under_a_file_cannot_be_created(capsys, tmp_path):
    f = tmp_path / "plain-file"
    f.write_text("x")
    expect(capsys, 1, ["cannot create --ccache-dir"], *minimize("--ccache-dir", f / "cache"))


def test_state_dir_under_a_file_is_unwritable(capsys, tmp_path):
    f = tmp_path / "plain-file"
    f.write_text("x")
    expect(capsys, 1, ["cannot create --state", "is not a directory"],
           *minimize("--state", f / "state"))


# -- resume, report, hook --------------------------------------------------------------------------
def test_resume_of_a_directory_that_is_not_a_state_dir(capsys, tmp_path):
    expect(capsys, 1, ["not an ltobisect state directory"], "resume", tmp_path)


def test_resume_of_a_missing_directory(capsys, tmp_path):
    expect(capsys, 1, ["does not exist"], "resume", tmp_path / "state")


def test_report_of_a_directory_that_is_not_a_state_dir(capsys, tmp_path):
    expect(capsys, 1, ["not an ltobisect state directory"], "report", tmp_path)


def test_hook_without_a_config_in_the_build_dir(capsys, tmp_path):
    (tmp_path / "out").mkdir()
    expect(capsys, 1, ["has no .config", "O= directory"], "hook", "--build-dir", tmp_path / "out")


def test_hook_with_a_missing_build_dir(capsys, tmp_path):
    expect(capsys, 1, ["--build-dir", "is not a directory"], "hook", "--build-dir", tmp_path / "out")


def test_hook_cannot_find_the_tree(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(BAD, out / ".config")
    expect(capsys, 1, ["cannot find the source tree", "--tree"], "hook", "--build-dir", out)


# -- failures on our side --------------------------------------------------------------------------
class _Explodes:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __call__(self, config, reporter):
        raise self.exc


def test_disk_full(capsys, monkeypatch, tmp_path):
    import ltobisect.conductor.session as session

    monkeypatch.setattr(session, "Session",
                        _Explodes(OSError(errno.ENOSPC, "No space left on device", "journal.jsonl")))
    line = expect(capsys, 2, ["disk full while writing journal.jsonl", "ltobisect resume"],
                  *minimize("--state", tmp_path / "state"))
    assert str(tmp_path / "state") in line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_summary_json_that_cannot_be_written_is_bad_input_before_any_build(capsys, tmp_path):
    """/dev/full takes the open and refuses every write: found before the first build."""
    expect(capsys, 1, ["cannot write --summary-json /dev/full", "No space left"],
           *minimize("--state", tmp_path / "state", "--summary-json", "/dev/full"))
    assert not (tmp_path / "state").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_writing_the_summary(capsys, monkeypatch, tmp_path):
    """A disk that fills during the search (/dev/full let through the checks): a real ENOSPC
    after a short session (stopped after its first builds), the journal intact, and with
    --json the summary line says so."""
    import json

    from ltobisect.cli import commands

    monkeypatch.setattr(commands, "check_outputs", lambda args: None)
    tree = tmp_path / "demo"
    shutil.copytree(DEMO, tree)
    code, out, err = run(capsys, "minimize", tree / "configs" / "randconfig.config",
                         "--tree", tree, "--baseline", tree / "configs" / "baseline.config",
                         "--max-builds", "1", "--state", tmp_path / "state",
                         "--summary-json", "/dev/full", "--json")
    one_line(err, "cannot write --summary-json /dev/full", "No space left", "ltobisect resume")
    assert code == ExitCode.INFRA
    assert (tmp_path / "state" / "journal.jsonl").is_file()
    last = json.loads(out.splitlines()[-1])
    assert (last["event"], last["schema"], last["status"]) == ("Summary", 1, "infra-error")
    assert last["exit_code"] == code and "/dev/full" in last["message"]


def test_unexpected_exception_points_to_a_log(capsys, monkeypatch, tmp_path):
    import ltobisect.conductor.session as session

    monkeypatch.setattr(session, "Session", _Explodes(RuntimeError("kaboom")))
    (tmp_path / "state").mkdir()
    line = expect(capsys, 2, ["internal error: RuntimeError: kaboom", "error.log"],
                  *minimize("--state", tmp_path / "state"))
    log = (tmp_path / "state" / "error.log").read_text()
    assert "Traceback" in log and "kaboom" in log
    assert "please report it" in line


# -- through the session (real builds of the demo tree) -------------------------------------------
@pytest.fixture
def demo_tree(tmp_path) -> Path:
    tree = tmp_path / "demo"
    shutil.copytree(DEMO, tree)
    return tree


def test_bad_config_that_builds(capsys, demo_tree, tmp_path):
    """The baseline given as the bad config against allnoconfig: it builds, nothing to minimize."""
    code, out, err = run(capsys, "minimize", demo_tree / "configs" / "baseline.config",
                         "--tree", demo_tree, "--baseline", "allnoconfig",
                         "--state", tmp_path / "state")
    line = one_line(err)
    assert code == ExitCode.NOT_REPRODUCED, line
    assert "builds without error" in line


def test_state_dir_of_another_session(capsys, demo_tree, tmp_path):
    from ltobisect.config import BuildSpec, SessionConfig
    from ltobisect.config import config_to_json
    from ltobisect.store.state import StateDir, session_identity

    state = tmp_path / "state"
    other = SessionConfig(bad_config=tmp_path / "other.config", state_dir=state,
                          build=BuildSpec(tree=demo_tree), baseline="allnoconfig")
    sd = StateDir(state)
    sd.prepare()
    sd.write_session({"identity": session_identity(other), "config": config_to_json(other)})
    line = expect(capsys, 1, ["belongs to another session", "ltobisect resume"],
                  "minimize", demo_tree / "configs" / "randconfig.config", "--tree", demo_tree,
                  "--baseline", demo_tree / "configs" / "baseline.config", "--state", state)
    assert "other.config" in line


# -- the real command, as a build farm calls it ----------------------------------------------------
def test_exit_code_and_single_line_from_the_real_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ltobisect", "minimize", str(tmp_path / "x"),
                           "--tree", str(DEMO)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ltobisect: error: bad config")


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["minimize", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--llvm -16" in out


# -- value parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,seconds", [("90", 90), ("30s", 30), ("20m", 1200), ("2h", 7200),
                                          ("1h30m", 5400), ("1.5h", 5400), ("1d", 86400)])
def test_parse_duration(text, seconds):
    assert inputs.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "1h 5", "-3m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        inputs.parse_duration(text)


@pytest.mark.parametrize("text,size", [("4096", 4096), ("512M", 512 * 2**20), ("20G", 20 * 2**30),
                                       ("1.5GiB", int(1.5 * 2**30)), ("64k", 65536)])
def test_parse_size(text, size):
    assert inputs.parse_size(text) == size


def test_hook_reads_arch_and_llvm_from_a_kernel_config():
    header = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.192 Kernel Configuration\n"
    settings = {"X86_64": "y", "CC_IS_CLANG": "y", "CLANG_VERSION": "160006"}
    assert inputs.arch_from_config(settings, header) == "x86_64"
    assert inputs.arch_from_config({}, header.replace("x86", "arm64")) == "arm64"
    expected = "-16" if shutil.which("clang-16") and shutil.which("ld.lld-16") else "1"
    assert inputs.llvm_from_config(settings) == expected
    assert inputs.llvm_from_config({"CC_IS_GCC": "y"}) is None


def test_budget_ends_a_session_that_does_not_stop(tmp_path, capsys):
    """The budget's last resort: a session ignoring request_stop is interrupted at the budget.

    The stubborn session sleeps 60 s (that sleep is the behaviour under test, not a wait): it
    must end by the interrupt, never by waking up, and the outcome is partial. No wall-clock
    measure: how the sleep ended says it.
    """
    import io
    import time

    from ltobisect.conductor.session import SessionResult
    from ltobisect.ui.live import PlainReporter

    class Stubborn:
        result = None
        asked = ""
        interrupted = False

        def request_stop(self, reason: str) -> None:
            self.asked = reason

        def run(self) -> SessionResult:
            try:
                time.sleep(60)
            except KeyboardInterrupt:
                self.interrupted = True
                self.result = SessionResult(status="partial", exit_code=ExitCode.PARTIAL,
                                            message="stopped: interrupted", state_dir=tmp_path)
                raise
            raise AssertionError("not interrupted: the session ran its 60 s")

    session = Stubborn()

    def start(reporter, register):
        register(session)
        return session.run()

    code = cli.run_session(start, tmp_path, PlainReporter(io.StringIO()), budget=3.0)
    assert session.interrupted  # the budget's interrupt ended it, not the end of its sleep
    assert code == ExitCode.PARTIAL
    assert session.asked == ""  # the session stops itself before its budget; this one did not
    assert "partial" in capsys.readouterr().err


# -- values that cannot work, refused while parsing ------------------------------------------------
def max_depth(text: str) -> int:
    """How deep parentheses nest in ``text`` (1: none inside another)."""
    depth = deepest = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize("argv,needles", [
    (("minimize", BAD, "--tree", DEMO, "--budget", "99999999999h"),
     ["--budget 99999999999h is longer than a year", "durations go up to 365d", "--budget 2h"]),
    (("hook", "--build-dir", ".", "--budget", "99999999999h"),
     ["--budget 99999999999h is longer than a year", "365d"]),
    (("resume", ".", "--budget", "99999999999h"),
     ["--budget 99999999999h is longer than a year", "365d"]),
    (("minimize", BAD, "--tree", DEMO, "--timeout", "9" * 400),
     ["--timeout 999", "is longer than a year"]),
    (("minimize", BAD, "--tree", DEMO, "--mem-above", "99999999999T"),
     ["--mem-above 99999999999T is more memory than any machine has", "sizes go up to 1024T",
      "--mem-above 20G"]),
    (("hook", "--build-dir", ".", "--build-memory", "2000T"),
     ["--build-memory 2000T is more memory than any machine has", "1024T"]),
    (("minimize", BAD, "--tree", DEMO, "--mem-limit", "9" * 400 + "T"),
     ["--mem-limit 999", "more memory than any machine has"]),
])
def test_durations_and_sizes_that_cannot_work_are_refused_at_once(capsys, argv, needles):
    """A budget no timer can wait for used to start a session whose timer threads died with
    OverflowError tracebacks; now it is one line before anything runs, naming the bound."""
    line = expect(capsys, 1, needles, *argv)
    assert "internal error" not in line and max_depth(line) == 1, line
    code, out, err = run(capsys, *argv, "--json")
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and summary["exit_code"] == 1 and summary["status"] == "bad-input"
    assert needles[0] in summary["message"], summary


@pytest.mark.parametrize("words,needle", [
    (("--budget", "-1h"), "--budget must be more than 0, not -1h (for example --budget 2h)"),
    (("--budget=-1h",), "--budget must be more than 0, not -1h"),
    (("--timeout", "-30s"), "--timeout must be more than 0, not -30s"),
    (("--mem-limit", "-8G"), "--mem-limit must be more than 0, not -8G (for example --mem-limit 8G)"),
])
def test_a_negative_duration_or_size_says_it_must_be_positive(capsys, words, needle):
    """argparse took ``-1h`` for an option and said only "expected one argument"."""
    line = expect(capsys, 1, [needle], *minimize(*words))
    assert "expected one argument" not in line


def test_a_value_that_is_not_one_names_its_option_once(capsys):
    line = expect(capsys, 1, ["--budget 'soon' is not a duration", "for example --budget 2h"],
                  *minimize("--budget", "soon"))
    assert line.count("(") == 1 and "argument --budget" not in line
    expect(capsys, 1, ["--workers 'x' is not a number (for example --workers 2)"],
           *minimize("--workers", "x"))


def test_huge_budgets_start_no_timer_that_cannot_wait(monkeypatch):
    """The timers themselves, whatever the command line let through: no thread dies."""
    import threading

    from ltobisect.cli.signals import Interrupts
    from ltobisect.config import Limits
    from ltobisect.limits import StopCondition

    died = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    huge = threading.TIMEOUT_MAX * 2
    interrupts = Interrupts(lambda reason: None, lambda: None)
    interrupts.watchdog(huge)
    stop = StopCondition(Limits(deadline=huge))
    stop.arm()
    assert interrupts._timers == [] and stop._timer is None and died == []


def test_unknown_strategy_lists_each_name_once(capsys):
    line = expect(capsys, 1, ["unknown strategy 'bogus'", "(one of default, bisect, "],
                  *minimize("--strategy", "bogus"))
    assert line.count("default") == 1, line


def test_demo_refuses_an_unknown_strategy_before_copying_anything(capsys, tmp_path, monkeypatch):
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the demo would go
    expect(capsys, 1, ["unknown strategy 'nope'", "one of default,"],
           "demo", tmp_path / "demo", "--strategy", "nope")
    expect(capsys, 1, ["unknown strategy 'nope'"], "demo", "--strategy", "nope")
    assert not (tmp_path / "demo").exists() and not any((tmp_path / "tmp").iterdir())


def test_hints_do_not_nest_brackets(capsys, tmp_path):
    for argv in (minimize("--llvm", "-99"), minimize("--signature", "undefined [symbol")):
        line = expect(capsys, 1, [], *argv)
        hint = line[line.rindex(" (") + 2:-1]
        assert "(" not in hint and ")" not in hint, line
    assert "(install it: apt-get install clang-99)" in expect(capsys, 1, [], *minimize("--llvm", "-99"))


# -- 80 columns ------------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", ["80", "200"])
def test_every_help_fits_80_columns(capsys, monkeypatch, columns):
    """argparse wrapped at 100 columns, so an 80-column terminal broke help lines mid-word; the
    help is as wide as the terminal, at most 80 columns."""
    monkeypatch.setenv("COLUMNS", columns)
    for command in ([], *([name] for name in cli.COMMANDS)):
        code, out, _err = run(capsys, *command, "--help")
        assert code == 0 and out.strip(), command
        wide = [line for line in out.splitlines() if len(line) > 80]
        assert not wide, (command, wide)
    code, out, _err = run(capsys, "hook", "--help")
    assert "exit 1" in out  # the documented pattern keeps a failed build's CI step failed


# -- the hook speaks of --out ----------------------------------------------------------------------
@pytest.mark.needs("cc", "make")
def test_hook_errors_name_its_out_option_not_state(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(BAD, out / ".config")
    (out / "source").symlink_to(DEMO)
    foreign = tmp_path / "artifacts"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("the user's\n")
    argv = ("hook", "--build-dir", out, "--out", foreign, "--work-dir", tmp_path / "work")
    code, stdout, err = run(capsys, *argv)
    assert code == 1 and "is not empty" in err and "--out" in err, err
    assert "--state" not in err
    code, stdout, err = run(capsys, *argv, "--json")
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["exit_code"] == 1 and "--out" in summary["hint"], summary
    assert "--state" not in summary["hint"] + summary["message"] + err
    # minimize keeps its own word
    code, _out, err = run(capsys, *minimize("--state", foreign))
    assert code == 1 and "--state" in err
