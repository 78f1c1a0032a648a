"""The artifacts: report.txt for a mailing list, summary.json, reproduce.sh, from the state dir alone.

A module-wide session minimizes the tiny tree's planted link error through the real build
oracle (make O=... with the tree's Makefile), then each test reads or re-renders its state.
reproduce.sh's exit codes are tested in test_reproduce_script.py.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ltobisect.artifacts import report
from ltobisect.artifacts.facts import error_lines
from ltobisect.conductor.session import Session

from session_support import EXPECTED, tiny_config, tiny_tree
from schema_support import problems, read_summary


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


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def narrow(text: str) -> bool:
    """Every line within 78 columns, or a single word (a path) that cannot be broken."""
    return all(len(line) <= 78 or len(line.split()) == 1 for line in text.splitlines())


def section(text: str, title: str) -> list:
    """The lines of a report section, from its title line to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start + 1:end]


def attachments(text: str) -> list:
    return [line.split()[0] for line in section(text, "Attachments:")]


def test_the_report_is_plain_text_within_78_columns_with_what_a_maintainer_needs(done):
    result, state, top = done
    text = (state / "report.txt").read_text()
    lines = text.splitlines()
    assert narrow(text), max(lines, key=len)
    assert text.isascii()
    # The headline is the error line itself, as the log shows it, behind the tool's name.
    assert lines[0] == "ltobisect: ld.lld: error: undefined symbol: foo_lto_stub"
    summary = read_summary(state / "summary.json")
    assert lines[0] == "ltobisect: " + summary["failure_line"]
    # Nothing of this machine: no tree, state or build directory.
    assert str(top) not in text and "/tmp/" not in text
    assert "session.json" not in text and "journal" not in text
    # The fragment, as its own block of lines.
    for frag in EXPECTED:
        assert f"\n  {frag}\n" in text
    assert "Minimal fragment: 4 of 24 changes against defconfig (verified, 2 rebuilds):" in text
    # The commands from a clean tree, the error itself, the toolchain, what was searched.
    assert "        mkdir -p out && cp minimal.config out/.config\n" in text
    assert "        make O=out -k -j$(nproc)\n" in text
    assert "        sh reproduce.sh /path/to/tree\n" in text
    assert "        git bisect run sh /path/to/reproduce.sh --bisect\n" in text
    assert "Compiler:" in text and "Baseline:   defconfig" in text
    assert "Bad config: bad.config (24 changes" in text
    assert f"builds: {result.builds}," in text and "flaky: none observed" in text
    assert "rebuilt 2 times: reproduces, reproduces" in text
    assert "removing any single line stops the failure" in text


def test_the_headline_names_the_file_relative_to_the_tree(done, tmp_path):
    _, state, top = done
    mine = copy_state(state, tmp_path / "state")
    line = f"{top / 'tree'}/drivers/foo.c:12:5: error: use of undeclared identifier 'x'"
    edit_json(mine / "session.json", lambda d: d["signature"].update(line=line))
    text = report.render(mine).read_text()
    assert text.splitlines()[0] == ("ltobisect: drivers/foo.c:12:5: error: use of undeclared "
                                    "identifier 'x'")
    assert str(top) not in text


def test_the_excerpt_holds_the_error_lines_without_kbuild_progress_or_make_chatter(done):
    _, state, _ = done
    text = (state / "report.txt").read_text()
    body = text.split("Error (excerpt.txt):\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert body[0] == "  ld.lld: error: undefined symbol: foo_lto_stub"
    assert "  >>> referenced by net/foo.c" in body
    # The build printed "  LD      vmlinux" just above the error: not in the report.
    assert not any(line.strip().startswith(("LD ", "CC ")) for line in body), body
    saved = (state / "excerpt.txt").read_text()
    assert "ld.lld: error: undefined symbol: foo_lto_stub" in saved and "  LD  " not in saved


def test_error_lines_drop_progress_and_make_noise_but_keep_errors_and_quoted_source():
    log = "\n".join([
        "make[1]: Entering directory '/build/out'",
        "  CC      fs/super.o",
        "  CC [M]  drivers/foo.o",
        "drivers/foo.c:12:5: error: use of undeclared identifier 'x'",
        "  LD      x;",  # the source line clang quotes: kept, though it looks like progress
        "    ^",
        "1 error generated.",
        "make[2]: *** [scripts/Makefile.build:250: drivers/foo.o] Error 1",
        "make[2]: *** No rule to make target 'drivers/bar.o', needed by 'drivers/'.  Stop.",
        "make[1]: *** Waiting for unfinished jobs....",
        "  LD      vmlinux",
        "make: *** [Makefile:1234: __sub-make] Error 2",
        "make[1]: Leaving directory '/build/out'",
    ])
    assert error_lines(log).splitlines() == [
        "drivers/foo.c:12:5: error: use of undeclared identifier 'x'",
        "  LD      x;",
        "    ^",
        "1 error generated.",
        "make[2]: *** No rule to make target 'drivers/bar.o', needed by 'drivers/'.  Stop.",
    ]
    # Nothing but make's noise: kept as it is, rather than an empty excerpt.
    only = "make: *** [Makefile:12: all] Error 2"
    assert error_lines(only) == only
    # The failure's own line is kept even when it is one of make's.
    assert error_lines(only, keep=[only]) == only


def test_attachments_are_the_files_beside_the_report_and_statistics_come_last(done):
    _, state, _ = done
    text = (state / "report.txt").read_text()
    listed = attachments(text)
    assert listed == ["fragment.config", "minimal.config", "reproduce.sh", "judge.py",
                      "excerpt.txt", "summary.json"]
    for name in listed:
        assert (state / name).is_file(), name
    # Every file the report names is attached.
    named = set(re.findall(r"[\w.-]+\.(?:config|sh|txt|json|tar)\b", text)) - {"report.txt"}
    assert named - {"bad.config", "merge_config.sh"} <= set(listed), named  # a tree's script
    summary = read_summary(state / "summary.json")
    assert summary["attachments"] == sorted(listed)
    # Then the statistics of the search, and nothing but the signature after them.
    lines = text.splitlines()
    at, stats = lines.index("Attachments:"), lines.index("Search statistics:")
    assert lines.index("Verification:") < at < stats
    assert lines[-1].startswith("-- ltobisect ")
    order = [lines.index(x) for x in ("Minimal fragment: 4 of 24 changes against defconfig "
                                      "(verified, 2 rebuilds):",
                                      "Reproduce, from the top of the source tree with the "
                                      "attachments in it:",
                                      "Error (excerpt.txt):", "Attachments:")]
    assert order == sorted(order)


def test_the_summary_carries_the_same_facts_for_machines(done):
    result, state, _ = done
    s = read_summary(state / "summary.json")
    assert s["status"] == "minimized" and s["exit_code"] == 0 and not s["partial"] and s["verified"]
    assert s["signature"]["kind"] == "link-error" and s["signature"]["tool"] == "ld.lld"
    assert s["fragment"] == list(EXPECTED) and s["best_size"] == 4 and s["total_changes"] == 24
    assert s["counts"]["builds"] == result.builds
    assert sum(s["counts"]["verdicts"].values()) == result.builds
    assert s["durations"]["wall"] > 0 and s["durations"]["timeout"] >= 30
    assert "undefined symbol: foo_lto_stub" in s["excerpt"]
    assert s["lto_matrix"] is None
    for key in ("report", "summary", "minimal_config", "fragment", "reproduce", "excerpt"):
        assert Path(s["paths"][key]).is_file(), key


@pytest.mark.parametrize("change,where", [
    (lambda s: s.pop("ld_reproduce"), "'ld_reproduce' is a required property"),
    (lambda s: s.update(exit_code="0"), "/exit_code"),
    (lambda s: s.update(status="killed"), "/status"),  # a run's status, never a session's
    (lambda s: s["verification"].update(verdicts=["fails"]), "/verification/verdicts/0"),
    (lambda s: s["counts"].update(builds=None), "/counts/builds"),
    (lambda s: s["paths"].pop("state_dir"), "'state_dir' is a required property"),
    (lambda s: s["signature"].pop("describe"), "'describe' is a required property"),
    (lambda s: s.update(each_failure=True), "'failures' is a required property"),
])
def test_summary_json_that_breaks_schema_1_is_rejected(done, change, where):
    """The schema that checks every summary.json the tests read is no rubber stamp: this
    session's file passes it, and each of these changes to it does not."""
    _, state, _ = done
    good = read_summary(state / "summary.json")
    change(good)
    found = problems(good, "summaryFile")
    assert any(where in p for p in found), found


def test_the_tarball_reason_agrees_with_verified(done, tmp_path):
    _, state, _ = done
    s = read_summary(state / "summary.json")
    # Verified, but no tarball: the reason is why none was tried, never verification.
    assert s["verified"] is True
    assert s["ld_reproduce"] == {"made": False, "path": None,
                                 "reason": "not attempted (not a kernel tree)",
                                 "relinks": None, "relink_command": None, "relink_said": None}
    mine = copy_state(state, tmp_path / "state")
    (mine / "result.json").unlink()
    report.render(mine)
    s = read_summary(mine / "summary.json")
    assert s["verified"] is False and s["partial"] is True
    assert s["ld_reproduce"]["reason"] == "not attempted (the search did not finish)"


def test_render_needs_only_the_state_directory_even_when_logs_are_gone(done, tmp_path):
    _, state, top = done
    mine = copy_state(state, tmp_path / "state")
    edit_json(mine / "result.json",
              lambda r: r.update(best_log=str(mine / "logs" / Path(r["best_log"]).name)))
    shutil.rmtree(mine / "logs")
    path = report.render(mine)
    text = path.read_text()
    assert path == mine / "report.txt"
    assert "  ld.lld: error: undefined symbol: foo_lto_stub\n" in text  # the excerpt was kept
    assert "Error (excerpt.txt; the build log is gone, saved earlier):" in text
    assert str(tmp_path) not in text and str(top) not in text
    assert narrow(text)


def test_a_session_killed_before_its_end_renders_as_partial(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    (mine / "result.json").unlink()
    report.render(mine)
    text = (mine / "report.txt").read_text()
    assert "PARTIAL RESULT" in text and "NOT verified" in text
    assert read_summary(mine / "summary.json")["partial"] is True
    assert (mine / "fragment.config").read_text().splitlines() == list(EXPECTED)


def test_long_log_lines_are_wrapped_between_words_never_inside_one(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    log = tmp_path / "long.log"
    long_path = "drivers/" + "very_long_directory_name/" * 8 + "foo.c"
    log.write_text(f"ld.lld: error: undefined symbol: foo_lto_stub\n>>> referenced by {long_path}"
                   " in the archive vmlinux.a of the build directory out\n")
    edit_json(mine / "result.json", lambda r: r.update(best_log=str(log)))
    text = report.render(mine).read_text()
    assert narrow(text)
    assert any(line.strip() == long_path for line in text.splitlines())  # whole, on its own
    assert ">>> referenced by\n" in text and "in the archive vmlinux.a" in text


def test_the_lto_matrix_is_one_line_under_the_fragment_and_in_the_summary(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    matrix = {"reported": "full", "note": "",
              "modes": [{"lto": "none", "outcome": "builds", "detail": ""},
                        {"lto": "thin", "outcome": "reproduces", "detail": ""}]}
    edit_json(mine / "result.json", lambda r: r.update(lto_matrix=matrix))
    text = report.render(mine).read_text()
    line = ("LTO matrix: fails with full LTO (as reported); builds without LTO; fails the same "
            "way with ThinLTO")
    assert line in " ".join(text.split())
    # Broken between its parts only, so each part is found as it is.
    assert "builds without LTO" in text and "fails the same way with ThinLTO" in text
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("LTO matrix: "))
    assert lines.index("  CONFIG_NET_FOO=y") < at < lines.index(
        "Reproduce, from the top of the source tree with the attachments in it:")
    assert narrow(text)
    s = read_summary(mine / "summary.json")
    assert s["lto_matrix"]["line"] == line and s["lto_matrix"]["reported"] == "full"
    assert [m["lto"] for m in s["lto_matrix"]["modes"]] == ["none", "thin"]


def test_an_lto_matrix_without_its_reported_mode_takes_the_result_s(done, tmp_path):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    matrix = {"modes": [{"lto": "none", "outcome": "fails-otherwise",
                         "detail": "ld.lld: undefined symbol: other (link-error)"},
                        {"lto": "thin", "outcome": "reproduces", "detail": ""}]}
    edit_json(mine / "result.json", lambda r: r.update(lto_matrix=matrix))
    best = mine / "best.config"
    best.write_text(best.read_text() + "CONFIG_LTO_CLANG_THIN=y\n")
    text = " ".join(report.render(mine).read_text().split())
    assert ("LTO matrix: fails with ThinLTO (as reported); fails otherwise (ld.lld: undefined "
            "symbol: other (link-error)) without LTO") in text
    assert "the same way with ThinLTO" not in text


@pytest.mark.parametrize("matrix", [None, {"modes": "?"}, {"reported": None, "modes": []}])
def test_no_lto_matrix_no_line(done, tmp_path, matrix):
    _, state, _ = done
    mine = copy_state(state, tmp_path / "state")
    edit_json(mine / "result.json", lambda r: r.update(lto_matrix=matrix))
    assert "LTO matrix" not in report.render(mine).read_text()
    assert read_summary(mine / "summary.json")["lto_matrix"] is None


def test_kconfig_warnings_go_into_an_attached_file_without_machine_paths(done, tmp_path):
    _, state, top = done
    mine = copy_state(state, tmp_path / "state")
    tree = str(top / "tree")
    warning = f"{tree}/Kconfig:7: warning: choice value used outside its choice group"
    edit_json(mine / "result.json", lambda r: r["best"].update(warnings=[warning]))
    text = report.render(mine).read_text()
    saved = (mine / "kconfig-warnings.txt").read_text()
    assert "Kconfig:7: warning: choice value used outside its choice group" in saved
    assert tree not in saved and tree not in text
    assert ("Kconfig warnings (all of them in kconfig-warnings.txt):\n"
            "  Kconfig:7: warning: choice value used outside its choice group\n") in text
    assert "kconfig-warnings.txt" in attachments(text)
    assert all((mine / name).is_file() for name in attachments(text))
    # The warnings are gone once the result has none: so is the file.
    edit_json(mine / "result.json", lambda r: r["best"].update(warnings=[]))
    text = report.render(mine).read_text()
    assert not (mine / "kconfig-warnings.txt").exists() and "kconfig-warnings" not in text


def test_kernel_commands_are_relative_and_wrap_as_shell_lines(done, tmp_path):
    _, state, top = done
    mine = copy_state(state, tmp_path / "state")
    make_vars = ["W=1", "KCFLAGS=-Wframe-larger-than=4096", "LOCALVERSION=-ltobisect-test"]

    def kernel(doc):
        doc["environment"]["kernel_tree"] = True
        doc["config"]["build"].update(arch="x86_64", llvm="-16", make_vars=make_vars)
    edit_json(mine / "session.json", kernel)
    text = report.render(mine).read_text()
    assert str(top) not in text and str(tmp_path) not in text
    assert narrow(text)
    assert "        sh reproduce.sh /path/to/linux\n" in text
    assert ("        scripts/kconfig/merge_config.sh -m -O out out/.config fragment.config\n"
            in text)
    # Long commands continue with a backslash between words; joined, they are the commands.
    lines = text.splitlines()
    start = lines.index("Reproduce, from the top of the source tree with the attachments in it:")
    block = lines[start + 2:lines.index("", start + 2)]
    joined = " ".join(ln.strip() for ln in block).replace(" \\ ", " ")
    make = "make O=out ARCH=x86_64 LLVM=-16 " + " ".join(make_vars)
    assert joined.startswith(f"{make} defconfig scripts/kconfig/merge_config.sh")
    assert f"{make} olddefconfig {make} -k -j$(nproc)" in joined
    assert any(ln.endswith(" \\") for ln in block)
    assert all(len(ln) <= 78 for ln in block)
