"""Every failure of a log: listing them, picking one (--failure N, a --signature regex's line),
minimizing each (--each-failure), and limits that leave nothing to minimize.

Logs here are written the way kbuild and clang write them; sessions run the real kernel oracle
on a copy of the fake kernel tree (tests/fakelinux), whose build prints a planted error per
symbol that is on: ``OTHER_ERROR`` (kernel/other.c), ``COMPILE_ERROR`` (fs/planted.c),
``LINK_ERROR`` (ld.lld, undefined symbol).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ltobisect.store import journal as jr
from ltobisect.logs import signature as sg
from ltobisect.cli import main
from ltobisect.config import BuildSpec, RetryPolicy, SessionConfig
from ltobisect.conductor.each_failure import EachFailure
from ltobisect.events import ListReporter, Message
from ltobisect.model import Signature
from ltobisect.oracle import targets_for
from ltobisect.conductor.session import Session

from schema_support import read_summary

FAKE = Path(__file__).parent / "fakelinux"

# A -k log of three failures; the missing prototype shows twice (two objects include the header).
LOG = """\
make[1]: Entering directory '/home/t/out'
  CC      kernel/fork.o
/home/t/linux/include/linux/hdr.h:12:6: error: no previous prototype for function 'helper' [-Werror,-Wmissing-prototypes]
   12 | void helper(void) {}
      |      ^
/home/t/linux/include/linux/hdr.h:12:1: note: declare 'static' if the function is not intended to be used outside of this translation unit
1 error generated.
make[3]: *** [/home/t/linux/scripts/Makefile.build:250: kernel/fork.o] Error 1
  CC      kernel/exit.o
/home/t/linux/include/linux/hdr.h:12:6: error: no previous prototype for function 'helper' [-Werror,-Wmissing-prototypes]
1 error generated.
  CC      drivers/gpu/drm/panel/panel-foo.c
/home/t/linux/drivers/gpu/drm/panel/panel-foo.c:88:21: error: variable 'ret' set but not used [-Werror,-Wunused-but-set-variable]
   88 |         int ret;
1 error generated.
make[5]: *** [/home/t/linux/scripts/Makefile.build:250: drivers/gpu/drm/panel/panel-foo.o] Error 1
  LD      vmlinux.o
ld.lld: error: undefined symbol: foo_init
make: *** [Makefile:1234: vmlinux] Error 2
"""

ROOTS = ("/home/t/out", "/home/t/linux")


def test_a_log_lists_each_distinct_failure_once_numbered_with_its_count_and_line() -> None:
    listed = sg.failures(LOG, roots=ROOTS)
    assert [(f.number, f.signature.kind, f.signature.location, f.count, f.primary) for f in listed] == [
        (1, "compile-error", "include/linux/hdr.h", 2, True),
        (2, "compile-error", "drivers/gpu/drm/panel/panel-foo.c", 1, False),
        (3, "link-error", "foo_init", 1, False),
    ]
    assert listed[0].text == ("include/linux/hdr.h:12:6: error: no previous prototype for function "
                              "'helper' [-Werror,-Wmissing-prototypes]")
    assert listed[2].text == "ld.lld: error: undefined symbol: foo_init"
    assert sg.failures("  CC kernel/fork.o\n", roots=ROOTS) == []


def test_a_regex_picks_the_failure_of_its_line_or_of_the_error_just_above() -> None:
    on_line = sg.regex_failure(LOG, r"set but not used", roots=ROOTS)
    assert on_line is not None and on_line.number == 2
    # The note under the first error belongs to it; a regex matching nothing near an error: None.
    below = sg.regex_failure(LOG, r"declare 'static'", roots=ROOTS)
    assert below is not None and below.number == 1
    assert sg.regex_failure(LOG, r"Entering directory", roots=ROOTS) is None
    assert sg.regex_failure(LOG, r"no such text", roots=ROOTS) is None


def test_the_regex_picked_line_chooses_the_target_and_is_the_headline(tmp_path: Path) -> None:
    from ltobisect.conductor.failures import regex_signature

    tree = tmp_path / "linux"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "Makefile.build").write_text("")
    spec = BuildSpec(tree=tree)
    sig = regex_signature(r"variable 'ret' set but", LOG, ROOTS)
    assert targets_for(spec, sig) == ["drivers/gpu/drm/panel/"]
    assert sig.describe() == ("drivers/gpu/drm/panel/panel-foo.c:88:21: error: variable 'ret' set but not "
                              "used [-Werror,-Wunused-but-set-variable] (log matches /variable 'ret' set but/)")
    # It still matches logs by the regex alone, and survives the journal's JSON.
    assert sg.matches(sig, "x: variable 'ret' set but not used")
    assert Signature.from_json(json.loads(json.dumps(sig.to_json()))) == sig
    # A link error builds vmlinux; a regex pointing at no error builds the default goal.
    assert targets_for(spec, regex_signature(r"undefined symbol", LOG, ROOTS)) == ["vmlinux"]
    assert targets_for(spec, regex_signature(r"Entering", LOG, ROOTS)) == []
    # The user's --target always wins.
    assert targets_for(BuildSpec(tree=tree, target="all"), sig) == ["all"]


def test_failures_command_prints_the_numbered_list_and_json(tmp_path: Path, capsys) -> None:
    log = tmp_path / "build.log"
    log.write_text(LOG)
    assert main(["failures", str(log)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["1", "compile-error", "(clang)", "in", "include/linux/hdr.h,", "2", "times",
                              "(the", "default)"]
    # The build directories are gone (read off the log itself), as a maintainer greps for it.
    assert out[1].strip().startswith("include/linux/hdr.h:12:6: error: no previous prototype")
    assert out[4].split()[:2] == ["3", "link-error"]
    assert out[-2].startswith("3 distinct failures;") and "--each-failure" in out[-1]
    assert all(len(line) <= 80 for line in out[-2:])  # the footer fits a terminal
    assert main(["failures", str(log), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 1
    assert [(f["number"], f["count"], f["location"]) for f in data["failures"]] == [
        (1, 2, "include/linux/hdr.h"), (2, 1, "drivers/gpu/drm/panel/panel-foo.c"), (3, 1, "foo_init")]
    assert main(["failures", str(tmp_path / "missing.log")]) == 1


# -- sessions on the fake tree -----------------------------------------------------------------
KCONFIG = """mainmenu "fake linux, three failures"

config OTHER_ERROR
	bool "kernel/other.c fails"

config COMPILE_ERROR
	bool "fs/planted.c fails"

config LINK_ERROR
	bool "the link fails"

config OPT1
	bool "option 1"

config OPT2
	bool "option 2"

config SLOW
	bool "slow build"

config MEMORY
	bool "300 MB build"
"""

BAD = "CONFIG_OTHER_ERROR=y\nCONFIG_COMPILE_ERROR=y\nCONFIG_LINK_ERROR=y\nCONFIG_OPT1=y\nCONFIG_OPT2=y\n"


def fake_config(tmp_path: Path, bad: str = BAD, **kw) -> SessionConfig:
    tree = tmp_path / "tree"
    if not tree.exists():
        shutil.copytree(FAKE, tree)
        (tree / "Kconfig").write_text(KCONFIG)
    (tmp_path / "bad.config").write_text(bad)
    build = BuildSpec(tree=tree, sandbox="none", jobs=1, target=kw.pop("target", None))
    return SessionConfig(bad_config=tmp_path / "bad.config", state_dir=tmp_path / "state",
                         baseline="defconfig", build=build, verify_repeats=1,
                         retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.01), **kw)


def infos(rep: ListReporter) -> list:
    return [m.text for m in rep.of(Message) if m.level == "info"]


def test_without_a_choice_the_session_says_which_failure_it_took_and_that_others_exist(tmp_path: Path) -> None:
    rep = ListReporter()
    result = Session(fake_config(tmp_path), rep).run()
    assert result.status == "minimized", result.message
    assert result.fragment == ("CONFIG_OTHER_ERROR=y",)
    (note,) = [t for t in infos(rep) if "distinct failures" in t]
    assert note.startswith("the log holds 3 distinct failures; this search minimizes #1: "
                           "kernel/other.c:7:5: error: use of undeclared identifier 'other_thing'")
    assert "--failure N takes another" in note
    summary = read_summary(tmp_path / "state" / "summary.json")
    data = json.loads((tmp_path / "state" / "session.json").read_text())
    assert data["failure_number"] == 1
    assert [f["location"] for f in data["log_failures"]] == ["kernel/other.c:7", "fs/planted.c:3", "planted_symbol"] \
        or [f["location"] for f in data["log_failures"]] == ["kernel/other.c", "fs/planted.c", "planted_symbol"]
    assert summary["status"] == "minimized"
    assert summary["failure_line"] == "kernel/other.c:7:5: error: use of undeclared identifier 'other_thing'"
    assert (summary["failure_number"], summary["log_failures"]) == (1, 3)


def test_a_regex_session_reports_the_error_line_it_picked(tmp_path: Path) -> None:
    result = Session(fake_config(tmp_path, signature_regex=r"planted compile")).run()
    assert result.status == "minimized", result.message
    assert result.fragment == ("CONFIG_COMPILE_ERROR=y",)
    summary = read_summary(tmp_path / "state" / "summary.json")
    line = 'fs/planted.c:3:2: error: "planted compile error"'
    assert summary["failure_line"] == line
    assert summary["signature"]["basis"]["kind"] == "compile-error"
    report = (tmp_path / "state" / "report.txt").read_text()
    assert " ".join(report.split()).startswith(f"ltobisect: {line} (log matches /planted compile/)")


def test_failure_n_minimizes_that_failure_and_a_wrong_n_is_bad_input(tmp_path: Path) -> None:
    result = Session(fake_config(tmp_path, failure=3)).run()
    assert result.status == "minimized", result.message
    assert result.fragment == ("CONFIG_LINK_ERROR=y",)
    assert result.signature == "ld.lld: undefined symbol: planted_symbol (link-error)"
    (tmp_path / "w").mkdir()
    wrong = Session(fake_config(tmp_path / "w", failure=5)).run()
    assert wrong.status == "bad-input" and int(wrong.exit_code) == 1
    assert wrong.message.startswith("--failure 5: ") and "holds 3 distinct failures" in wrong.message


def test_each_failure_minimizes_every_failure_and_later_searches_reuse_earlier_builds(tmp_path: Path) -> None:
    config = fake_config(tmp_path, each_failure=True)
    rep = ListReporter()
    result = EachFailure(config, rep).run()
    assert result.status == "minimized", result.message
    assert result.message == "minimized 3 of 3 distinct failures"
    state = tmp_path / "state"
    summary = read_summary(state / "summary.json")
    assert [(f["number"], f["status"], f["fragment"]) for f in summary["failures"]] == [
        (1, "minimized", ["CONFIG_OTHER_ERROR=y"]),
        (2, "minimized", ["CONFIG_COMPILE_ERROR=y"]),
        (3, "minimized", ["CONFIG_LINK_ERROR=y"]),
    ]
    for n in (1, 2, 3):
        assert (state / "failures" / str(n) / "report.txt").is_file()
        assert (state / "failures" / str(n) / "fragment.config").read_text().strip().endswith(
            summary["failures"][n - 1]["fragment"][0])
    # One journal; the later searches judged most of their configs from earlier builds' logs.
    records = jr.Journal(state / jr.JOURNAL_FILE).records()
    rejudged = [r for r in records if r.label == jr.REJUDGED]
    builds = [r for r in records if r.label not in (jr.REJUDGED, "bad config (observed)")]
    assert len(rejudged) >= 4
    # Each search counts the bad config's shared build; the whole session counts it once.
    assert summary["builds"] == len(builds) == sum(f["builds"] for f in summary["failures"]) - 2
    (tmp_path / "one").mkdir()
    single = Session(fake_config(tmp_path / "one", failure=2)).run()
    assert single.fragment == ("CONFIG_COMPILE_ERROR=y",)
    assert summary["failures"][1]["builds"] < single.builds
    assert len(builds) < 3 * single.builds
    index = (state / "report.txt").read_text()
    assert "[2] fs/planted.c:3:2: error: \"planted compile error\"" in index
    assert "report: failures/3/report.txt" in index
    # Resuming a finished session rebuilds nothing.
    again = EachFailure.from_state(state).run()
    assert again.status == "minimized"
    assert len([r for r in jr.Journal(state / jr.JOURNAL_FILE).records()
                if r.label not in (jr.REJUDGED, "bad config (observed)")]) == len(builds)


def test_each_failure_with_the_users_log_builds_the_bad_config_once(tmp_path: Path) -> None:
    log = tmp_path / "farm.log"
    log.write_text("/farm/linux/kernel/other.c:7:5: error: use of undeclared identifier 'other_thing'\n"
                   "/farm/linux/fs/planted.c:3:2: error: \"planted compile error\"\n"
                   "ld.lld: error: undefined symbol: planted_symbol\n")
    result = EachFailure(fake_config(tmp_path, each_failure=True, failure_log=log)).run()
    assert result.message == "minimized 3 of 3 distinct failures", result.message
    records = jr.Journal(tmp_path / "state" / jr.JOURNAL_FILE).records()
    assert [r.label for r in records].count("bad config") == 1


def test_each_failure_shares_one_build_limit_and_lists_what_it_did_not_search(tmp_path: Path) -> None:
    from ltobisect.config import Limits

    result = EachFailure(fake_config(tmp_path, each_failure=True, limits=Limits(max_tests=7))).run()
    assert result.status == "partial" and int(result.exit_code) == 3, result.message
    summary = read_summary(tmp_path / "state" / "summary.json")
    assert summary["builds"] <= 8  # the limit is checked between batches, as in one search
    assert len(summary["failures"]) < 3 and summary["total"] == 3
    assert [f["number"] for f in summary["not_searched"]] == list(range(len(summary["failures"]) + 1, 4))
    assert "not searched (the session stopped before it)" in (tmp_path / "state" / "report.txt").read_text()


@pytest.mark.parametrize("bad, kw, words", [
    ("CONFIG_COMPILE_ERROR=y\nCONFIG_SLOW=y\nCONFIG_OPT1=y\n", dict(timeout=1.0), "raise --timeout"),
    ("CONFIG_COMPILE_ERROR=y\nCONFIG_MEMORY=y\nCONFIG_OPT1=y\n", dict(mem_limit=100 * 2**20), "raise --mem-limit"),
    ("CONFIG_COMPILE_ERROR=y\nCONFIG_OPT1=y\n", dict(target="nosuchtarget"), "check --target"),
])
def test_limits_and_targets_that_cannot_work_are_bad_input_before_the_search(tmp_path: Path, bad, kw, words) -> None:
    result = Session(fake_config(tmp_path, bad=bad, **kw)).run()
    assert (result.status, int(result.exit_code)) == ("bad-input", 1), result.message
    assert words in result.hint
    records = jr.Journal(tmp_path / "state" / jr.JOURNAL_FILE).records()
    assert [r.label for r in records] == ["bad config"]  # the baseline was never built


def test_a_user_target_slower_than_the_failure_needs_is_said_in_one_line(tmp_path: Path) -> None:
    from ltobisect.conductor.failures import choice_notes

    tree = tmp_path / "linux"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "Makefile.build").write_text("")
    config = SessionConfig(bad_config=tmp_path / "b", state_dir=tmp_path / "s",
                           build=BuildSpec(tree=tree, target="vmlinux"))
    sig = sg.failures(LOG, roots=ROOTS)[1].signature
    (note,) = choice_notes(config, sig, [], ["vmlinux"], "build.log")
    assert note == ("--target vmlinux builds more than this failure needs: --target "
                    "drivers/gpu/drm/panel/ would test it in a fraction of the time")


@pytest.mark.parametrize("extra, words", [
    (["--each-failure", "--failure", "2"], "--each-failure and --failure cannot be used together"),
    (["--failure", "0"], "--failure must be at least 1, not 0"),
    (["--failure", "2", "--signature", "x"], "--failure and --signature cannot be used together"),
])
def test_failure_options_that_contradict_are_one_line_errors(tmp_path: Path, capsys, extra, words) -> None:
    config = fake_config(tmp_path)
    code = main(["minimize", str(config.bad_config), "--tree", str(config.build.tree), "--baseline",
                 "allnoconfig", "--state", str(tmp_path / "st"), *extra])
    err = capsys.readouterr().err
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "st").exists()
