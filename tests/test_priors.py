"""Priors from the log: the options a failure points at, read from the tree's own Makefiles.

A small tree of our own shows each rule (a Kbuild line, a composite object, the directory
chain, a flag on an option's line, in an ``ifdef`` block, in a file included under an option,
a symbol's defining file); the real Linux 6.1 tree and its logs show them together: the KCOV
crash of ld.lld-16 points at KCOV_ENABLE_COMPARISONS and DEBUG_INFO, a compile error in
floppy.c at BLK_DEV_FD. The end-to-end effect (the guess held, 11 builds instead of 23) is shown
by tests/test_reduce.py's LLVM 16 crash on the demo.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ltobisect.conductor import priors
from ltobisect.logs.logscan import extract_all
from ltobisect.model import Change, Signature

LOGS = Path(__file__).parent / "logs"
REPO = Path(__file__).resolve().parent.parent


def write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(tmp_path / "t", {
        "Makefile": ("obj-y += drivers/ kernel/\n"
                     "ifdef CONFIG_DEBUG_INFO\nKBUILD_CFLAGS += -g\nelse\nKBUILD_CFLAGS += -g0\n"
                     "endif\n"
                     "include-$(CONFIG_KCOV) += scripts/Makefile.kcov\n"
                     "ifeq ($(CONFIG_LTO_CLANG),y)\nKBUILD_CFLAGS += -flto=thin\nendif\n"),
        "scripts/Makefile.kcov": ("kcov-flags-$(CONFIG_KCOV_ENABLE_COMPARISONS) += "
                                  "-fsanitize-coverage=trace-cmp\n"
                                  "kcov-flags-y += -fsanitize-coverage=trace-pc\n"),
        "drivers/Makefile": "obj-$(CONFIG_BLOCK) += block/\nobj-y += base/\n",
        "drivers/block/Makefile": ("obj-$(CONFIG_BLK_DEV_FD) += floppy.o\n"
                                   "obj-$(CONFIG_ZRAM) += zram.o\n"
                                   "zram-y := zcomp.o \\\n\tzram_drv.o\n"
                                   "zram-$(CONFIG_ZRAM_MEMORY_TRACKING) += zram_track.o\n"),
        "kernel/Makefile": "obj-$(CONFIG_KCOV) += kcov.o\nobj-y += fork.o\n",
        "kernel/kcov.c": ("#include <linux/kcov.h>\n"
                          "void notrace __sanitizer_cov_trace_const_cmp4(u32 a, u32 b)\n{\n}\n"),
        "kernel/fork.c": "void fork_hook(void);\nint uses(void) { __sanitizer_cov_trace_const_cmp4(1, 2); }\n",
    })


def test_an_object_is_built_under_its_line_and_its_directories_lines(tree: Path):
    assert priors.options_building(tree, "drivers/block/floppy.c") == {
        "BLK_DEV_FD": "drivers/block/Makefile: obj-$(CONFIG_BLK_DEV_FD) += floppy.o",
        "BLOCK": "drivers/Makefile: obj-$(CONFIG_BLOCK) += block/"}
    # A part of a composite object: the composite's own line too (continuations joined).
    assert set(priors.options_building(tree, "drivers/block/zram_drv.o")) == {"ZRAM", "BLOCK"}
    assert set(priors.options_building(tree, "drivers/block/zram_track.o")) == \
        {"ZRAM_MEMORY_TRACKING", "ZRAM", "BLOCK"}
    assert priors.options_building(tree, "kernel/fork.o") == {}  # obj-y: always built
    assert priors.options_building(tree, "include/linux/kcov.h") == {}
    # Paths outside the tree name no option (and end: an absolute path's parent is itself).
    assert priors.options_building(tree, "/usr/src/kernel/fork.o") == {}
    assert priors.options_building(tree, "../kernel/kcov.o") == {}


def test_a_flag_is_added_on_an_options_line_in_its_block_or_in_a_file_included_under_it(tree: Path):
    assert priors.options_adding(tree, "trace-cmp") == {
        "KCOV_ENABLE_COMPARISONS": "scripts/Makefile.kcov: kcov-flags-$(CONFIG_KCOV_ENABLE_COMPARISONS)"
                                   " adds trace-cmp"}
    assert priors.options_adding(tree, "trace-pc") == {
        "KCOV": "scripts/Makefile.kcov adds trace-pc; Makefile includes it under CONFIG_KCOV"}
    assert priors.options_adding(tree, "-g") == {"DEBUG_INFO": "Makefile adds -g under CONFIG_DEBUG_INFO"}
    # A flag with a value is the flag; a longer flag is another (-g0 is not -g).
    assert list(priors.options_adding(tree, "-flto")) == ["LTO_CLANG"]


def test_a_symbols_definition_is_found_not_its_uses(tree: Path):
    assert priors.defining_files(tree, "__sanitizer_cov_trace_const_cmp4") == ["kernel/kcov.c"]
    assert priors.defining_files(tree, "fork_hook") == []  # a declaration only
    assert priors.defining_files(tree, "no such; symbol") == []


def test_a_crash_points_at_the_options_of_its_symbols_and_flags(tree: Path):
    sig = Signature("crash", "ld.lld", "crashed in ThinLTO backend optimization: LLVM ERROR: "
                    "Broken module found (inlinable function call in a function with debug info "
                    "must have a !dbg location)", "vmlinux.o")
    log = ("inlinable function call in a function with debug info must have a !dbg location\n"
           "  call void @__sanitizer_cov_trace_const_cmp4(i32 0, i32 %5)\n"
           "LLVM ERROR: Broken module found, compilation aborted!\n")
    found = priors.suggest(tree, sig, log)
    assert found == {
        "KCOV": "kernel/kcov.c defines __sanitizer_cov_trace_const_cmp4; "
                "kernel/Makefile: obj-$(CONFIG_KCOV) += kcov.o",
        "KCOV_ENABLE_COMPARISONS": "__sanitizer_cov_trace_const_cmp4 is what trace-cmp calls; "
                                   "scripts/Makefile.kcov: kcov-flags-$(CONFIG_KCOV_ENABLE_COMPARISONS)"
                                   " adds trace-cmp",
        "DEBUG_INFO": "the failure implies -g; Makefile adds -g under CONFIG_DEBUG_INFO",
        "LTO_CLANG": "ld.lld failed in LLVM's own code, which a linker runs only on bitcode "
                     "(an LTO link); Makefile adds -flto under CONFIG_LTO_CLANG"}
    # A timeout, a regex: the log names nothing to follow.
    assert priors.suggest(tree, Signature("timeout", "make", "build timed out", ""), log) == {}


def test_only_a_linker_failing_inside_llvm_implies_an_lto_link(tree: Path):
    undefined = Signature("link-error", "ld.lld", "undefined symbol: fork_hook", "vmlinux")
    log = "ld.lld: error: undefined symbol: fork_hook\n>>> referenced by fork.c\n"
    assert "LTO_CLANG" not in priors.suggest(tree, undefined, log)  # lld links plain objects too
    segv = Signature("crash", "ld.lld", "crashed", "vmlinux")  # a crash in its own ELF code
    assert "LTO_CLANG" not in priors.suggest(tree, segv, "Segmentation fault\n")
    on_stack = "ld.lld: error: crashed\n #7 0x7f llvm::lto::thinBackend(llvm::lto::Config const&)\n"
    assert "LTO_CLANG" in priors.suggest(tree, segv, on_stack)
    gnu = Signature("crash", "ld", "crashed: LLVM ERROR: out of memory", "vmlinux")
    assert "LTO_CLANG" not in priors.suggest(tree, gnu, "LLVM ERROR: out of memory\n")


def test_files_built_on_the_way_are_not_what_the_failure_names(tree: Path):
    """Linux has lib/zstd/common/error_private.c: its build line has "error" in it, and a
    build under -k goes on past the failure, so such lines come after it in the log."""
    write(tree, {"lib/Makefile": "obj-$(CONFIG_ZSTD_COMMON) += error_private.o\n"
                                 "obj-$(CONFIG_UNDEF_TEST) += undefined_test.o\n",
                 "Makefile": "obj-y += lib/ kernel/\n"})
    sig = Signature("link-error", "ld.lld", "undefined symbol: missing_one", "vmlinux")
    log = ("  CC      lib/error_private.o\n  CC      lib/undefined_test.o\n"
           "ld.lld: error: undefined symbol: missing_one\n>>> referenced by kcov.c\n"
           "  CC      lib/error_private.o\n")
    assert priors.suggest(tree, sig, log) == {}


def test_the_report_says_what_came_of_a_guess_that_did_not_hold():
    from ltobisect.artifacts.facts import priors_line

    base = {"options": {"KCOV": "x", "KCOV_ENABLE_COMPARISONS": "y"}, "held": False, "size": 3,
            "changes": ["CONFIG_KCOV=y", "CONFIG_KCOV_ENABLE_COMPARISONS=y"]}
    start = ("The log pointed at KCOV, KCOV_ENABLE_COMPARISONS: a build of 3 changes for them "
             "did not reproduce; ")
    assert priors_line(dict(base, led=True, kept=["CONFIG_KCOV=y"])) == start + (
        "the search looked among them first (some of them mattered; 1 of the 2 in the result)")
    assert priors_line(dict(base, led=False, kept=[])) == start + (
        "the search looked among them first (none of them mattered; 0 of the 2 in the result)")
    assert priors_line(dict(base, led=None, kept=[])) == start + \
        "the search went on from the whole set"  # a strategy that does not take the lead


def test_a_regex_signature_points_through_the_lines_it_matches(tree: Path):
    """With --signature, the lines the regex matches are the failure; a log from another
    machine names the tree's files by absolute paths, which count by their tail in the tree."""
    write(tree, {"Makefile": "obj-y += drivers/ kernel/\nKBUILD_CFLAGS-$(CONFIG_WERROR) += -Werror\n",
                 "drivers/block/floppy.c": "int x;\n"})
    log = ("  CC      drivers/block/zram_drv.o\n"
           "/home/tester/linux/drivers/block/floppy.c:35:19: error: no previous prototype for "
           "function 'fd_probe' [-Werror,-Wmissing-prototypes]\n"
           "/home/tester/linux/kernel/fork.c:9:1: error: something else [-Werror]\n")
    sig = Signature("regex", "", "no previous prototype for function 'fd_probe'")
    assert priors.suggest(tree, sig, log) == {
        "BLK_DEV_FD": "drivers/block/Makefile: obj-$(CONFIG_BLK_DEV_FD) += floppy.o",
        "BLOCK": "drivers/Makefile: obj-$(CONFIG_BLOCK) += block/",
        "WERROR": "the failure implies -Werror; Makefile: KBUILD_CFLAGS-$(CONFIG_WERROR) adds -Werror"}
    assert priors.suggest(tree, Signature("regex", "", "no such line"), log) == {}


def test_an_option_no_change_sets_stands_for_the_changes_that_select_it():
    changes = [Change("DEBUG_INFO_DWARF5", "bool", "n", "y"), Change("KCOV", "bool", "n", "y"),
               Change("PRINTK", "bool", "n", "y")]
    selects = {"DEBUG_INFO": ["DEBUG_INFO_DWARF4", "DEBUG_INFO_DWARF5"]}
    chosen = priors.changes_for({"DEBUG_INFO": "-g", "KCOV": "kcov.c", "UNKNOWN": "x"}, changes,
                                lambda name: selects.get(name, []))
    assert [c.name for c in chosen] == ["DEBUG_INFO_DWARF5", "KCOV"]


@pytest.mark.kernel
def test_the_real_kcov_crash_of_linux_61_points_at_its_options(kernel_tree: Path):
    log = (LOGS / "lld-crash-thin-lto.log").read_text()
    (sig,) = [s for s in extract_all(log, roots=("/tmp/ltb/tree", "/tmp/ltb/out"))
              if s.kind == "crash"]
    found = priors.suggest(kernel_tree, sig, log, arch="x86")
    assert {"KCOV", "KCOV_ENABLE_COMPARISONS", "DEBUG_INFO"} <= set(found), found
    assert found["DEBUG_INFO"] == ("the failure implies -g; scripts/Makefile.debug adds -g; "
                                   "Makefile includes it under CONFIG_DEBUG_INFO")
    assert priors.options_building(kernel_tree, "drivers/block/floppy.c") == {
        "BLK_DEV_FD": "drivers/block/Makefile: obj-$(CONFIG_BLK_DEV_FD) += floppy.o"}


@pytest.mark.needs("cc", "make")
def test_on_the_demo_the_guess_saves_builds_and_no_log_priors_turns_it_off(tmp_path: Path):
    """The demo's compile error in net/tso.c: the log points at what builds it (NET_TSO), that
    guess holds, and the search needs fewer builds than without it, to a result as small."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples" / "demo", tree)
    bad = tmp_path / "bad.config"
    bad.write_text((tree / "configs" / "randconfig.config").read_text().replace(
        "CONFIG_NET_GSO=y", "# CONFIG_NET_GSO is not set"))
    runs = {}
    for name, extra in (("with", []), ("without", ["--no-log-priors"])):
        done = subprocess.run(
            [sys.executable, "-m", "ltobisect", "minimize", str(bad), "--tree", str(tree),
             "--baseline", str(tree / "configs" / "baseline.config"), "--state",
             str(tmp_path / name), "--json", *extra],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    with_, without = runs["with"], runs["without"]
    # Both 1-line results reproduce (verified); the guess leads to the option it named.
    assert with_["fragment"] == ["CONFIG_NET_TSO=y"] and len(without["fragment"]) == 1
    assert with_["verified"] is True and without["verified"] is True
    guess = with_["log_priors"]
    assert list(guess["options"]) == ["NET_TSO"] and guess["held"] is True
    assert guess["options"]["NET_TSO"] == "net/Kbuild: obj-$(CONFIG_NET_TSO) += tso.o"
    assert without["log_priors"] is None
    assert with_["counts"]["builds"] < without["counts"]["builds"]
    report = " ".join((tmp_path / "with" / "report.txt").read_text().split())
    assert ("The log pointed at NET_TSO: a build of 1 change for them reproduced (the guess "
            "held") in report
    assert "The log pointed" not in (tmp_path / "without" / "report.txt").read_text()


@pytest.mark.needs("cc", "make")
def test_when_the_guess_needs_more_the_search_looks_among_it_first(tmp_path: Path):
    """The demo's link error with GNU ld: the log names net/sched.o, so NET_SCHED, one of the
    three options the failure needs. Its build alone does not reproduce; the search's first
    build removes it, loses the failure, and so has it as a culprit at once. Here that saves
    little: NET_SCHED_STATS needs NET_SCHED, so finding it brings NET_SCHED for free anyway.
    What the log costs is bounded: the guess and the lead, two builds of the same result
    (``tests/test_strategies.py`` shows the savings where the culprit stands alone)."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples" / "demo", tree)
    runs = {}
    for name, extra in (("with", []), ("without", ["--no-log-priors"])):
        done = subprocess.run(
            [sys.executable, "-m", "ltobisect", "minimize",
             str(tree / "configs" / "randconfig.config"), "--tree", str(tree),
             "--baseline", str(tree / "configs" / "baseline.config"), "--state",
             str(tmp_path / name), "--json", "--workers", "1", *extra],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
    with_, without = runs["with"], runs["without"]
    assert with_["fragment"] == without["fragment"] == [
        "CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"]
    guess = with_["log_priors"]
    assert list(guess["options"]) == ["NET_SCHED"] and guess["held"] is False
    assert guess["led"] is True and guess["kept"] == ["CONFIG_NET_SCHED=y"]
    assert with_["counts"]["builds"] <= without["counts"]["builds"] + 2
    report = " ".join((tmp_path / "with" / "report.txt").read_text().split())
    assert ("The log pointed at NET_SCHED: a build of 1 change for them did not reproduce; the "
            "search looked among them first (some of them mattered; it is in the result)") in report
