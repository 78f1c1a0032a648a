"""A toolchain crash is named by what LLVM said: the same crash matches, another crash does not.

The logs are in tests/logs (README there): the KCOV comparisons crash at the LTO link of Linux
6.1 with ld.lld-16, built with full LTO and with ThinLTO; clang-16 crashes of our own making (a
fatal error in the back end, an illegal instruction at the same file, a segmentation fault of
cc1); and assertion crashes in the layout of assertions-enabled LLVM builds.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ltobisect.logs import llvmcrash

from ltobisect.logs import logscan
from ltobisect.logs import signature as sg
from ltobisect.logs.judge_grep import fallback_pattern
from ltobisect.model import Signature

from schema_support import read_summary

LOGS = Path(__file__).parent / "logs"
ROOTS = ("/tmp/ltb/tree", "/tmp/ltb/out")
VERIFIER = "inlinable function call in a function with debug info must have a !dbg location"


def log(name: str) -> str:
    return (LOGS / name).read_text()


def only(name: str) -> Signature:
    found = logscan.extract_all(log(name), roots=ROOTS)
    assert len(found) == 1, found  # the report, the driver's lines, make's: one failure
    return found[0]


def test_the_lto_verifier_crash_is_named_by_llvm_error_verifier_message_and_stage():
    sig = only("lld-crash-full-lto.log")
    assert sig == Signature("crash", "ld.lld", "crashed in regular LTO optimization: LLVM ERROR: "
                            f"Broken module found ({VERIFIER})", "vmlinux.o")
    assert sig.words() == ("ld.lld crashed in regular LTO optimization: LLVM ERROR: Broken module "
                           f"found ({VERIFIER})")
    assert sig.describe() == sig.words() + " [vmlinux.o] (crash)"
    listed = logscan.failures(log("lld-crash-full-lto.log"), roots=ROOTS)
    # `ltobisect failures` shows the identity, with the program as the build named it.
    assert [f.text for f in listed] == ["ld.lld-16 " + sig.message]
    # The excerpt for the report shows LLVM's own lines around the failure.
    excerpt = sg.excerpt(log("lld-crash-full-lto.log"), sig, context=2, roots=ROOTS)
    assert "LLVM ERROR: Broken module found, compilation aborted!" in excerpt


def test_the_same_crash_under_thinlto_is_another_failure_at_the_same_object():
    full, thin = only("lld-crash-full-lto.log"), only("lld-crash-thin-lto.log")
    assert thin.message == f"crashed in ThinLTO backend optimization: LLVM ERROR: Broken module found ({VERIFIER})"
    assert (thin.tool, thin.location) == (full.tool, full.location) == ("ld.lld", "vmlinux.o")
    assert not sg.same(full, thin)
    assert sg.matches(full, log("lld-crash-full-lto.log"), roots=ROOTS)
    assert not sg.matches(full, log("lld-crash-thin-lto.log"), roots=ROOTS)
    assert not sg.matches(thin, log("lld-crash-full-lto.log"), roots=ROOTS)


def test_the_link_replayed_from_its_reproduce_tarball_crashes_the_same_way():
    """ld.lld run alone on the ``--reproduce`` tarball of the ThinLTO link: no make line, no
    kbuild step, no program arguments. LTO's frames say it is the linker's crash."""
    (relink,) = logscan.extract_all(log("lld-crash-thin-relink.log"))
    thin = only("lld-crash-thin-lto.log")
    assert (relink.tool, relink.message) == (thin.tool, thin.message)
    assert relink.location == ""  # nothing names the output; a relink check compares the rest


def test_a_crash_of_the_linker_is_a_failure_of_the_link_and_a_compiler_crash_is_not():
    assert sg.at_the_link(only("lld-crash-thin-lto.log"))
    assert sg.at_the_link(only("lld-assertion-thinlto.log"))
    assert not sg.at_the_link(only("clang-assertion.log"))
    assert not sg.at_the_link(None)


def test_a_report_cut_short_by_another_thread_is_the_same_crash_with_its_stage_unknown():
    """Two ThinLTO backend threads met the error at once (a real build during a minimization):
    the first printed its verifier message, LLVM ERROR and PLEASE, then the second printed its
    messages and aborted the process before any stack. One crash, stage unknown; it is the
    session's crash, not another failure."""
    text = log("lld-crash-thin-race.log")
    (race,) = logscan.extract_all(text, roots=ROOTS)
    assert race == Signature("crash", "ld.lld", f"crashed: LLVM ERROR: Broken module found ({VERIFIER})",
                             "vmlinux.o")
    assert [f.count for f in logscan.failures(text, roots=ROOTS)] == [2]  # both threads' words
    assert sg.matches(only("lld-crash-thin-lto.log"), text, roots=ROOTS)
    # What LLVM printed still decides: another error or verifier message is another crash.
    other = Signature("crash", "ld.lld", "crashed in ThinLTO backend optimization: LLVM ERROR: "
                      "Broken module found (Instruction does not dominate all uses!)", "vmlinux.o")
    assert not sg.matches(other, text, roots=ROOTS)


@pytest.mark.parametrize("a, b, same", [
    ("crashed in regular LTO optimization: LLVM ERROR: Broken module found (x)",
     "crashed in ThinLTO backend optimization: LLVM ERROR: Broken module found (x)", False),
    ("crashed in regular LTO optimization: LLVM ERROR: Broken module found (x)",
     "crashed: LLVM ERROR: Broken module found (x)", True),  # a stage the log did not show
    ("crashed: LLVM ERROR: Broken module found (x)", "crashed: LLVM ERROR: Broken module found (y)", False),
    ("crashed: LLVM ERROR: Broken module found (x)", "crashed: LLVM ERROR: Broken module found", True),
    ("crashed: LLVM ERROR: out of memory", "crashed: error in backend: out of memory", False),
    ("crashed in optimization: segmentation fault", "crashed in optimization: abort", False),
    ("crashed in optimization: segmentation fault", "crashed: segmentation fault", True),
    ("crashed in optimization: segmentation fault", "crashed in code generation (X): segmentation fault", False),
    ("crashed in optimization: LLVM ERROR: x", "crashed in optimization: segmentation fault", False),
    ("crashed in code generation (A): Assertion `c' failed (f.cpp)",
     "crashed in code generation (A): Assertion `d' failed (f.cpp)", False),
])
def test_crash_messages_agree_on_what_both_logs_show(a, b, same):
    assert llvmcrash.same_crash(a, b) is same
    assert llvmcrash.same_crash(b, a) is same


def _rebuilt(text: str) -> str:
    """The log of the same crash from another build of LLVM and another config: other
    addresses and offsets, other IR value numbers and constants, other build directories."""
    text = re.sub(r"0x[0-9a-f]{6,}", lambda m: "0x" + format(int(m.group(), 16) ^ 0x5a5a50, "x"), text)
    text = re.sub(r"%(\d+)", lambda m: f"%{int(m.group(1)) + 7}", text)
    text = re.sub(r"\(i(32|64) (\d+),", lambda m: f"(i{m.group(1)} {int(m.group(2)) + 12},", text)
    return text.replace("/tmp/ltb/", "/srv/ci/")


def test_the_same_crash_from_a_rebuilt_llvm_with_other_numbers_is_the_same():
    full = only("lld-crash-full-lto.log")
    other = _rebuilt(log("lld-crash-full-lto.log"))
    assert other != log("lld-crash-full-lto.log")
    assert logscan.extract(other, roots=("/srv/ci/tree", "/srv/ci/out")) == full
    assert sg.matches(full, other)


def test_an_assertion_is_named_by_its_condition_and_file_without_line_or_build_directory():
    sig = only("clang-assertion.log")
    assert sig.tool == "clang" and sig.location == "kernel/softirq.o"
    assert sig.message == (
        "crashed in code generation (Two-Address instruction pass): Assertion `i == DstIdx || "
        "!MI->getOperand(i).isReg() || MI->getOperand(i).getReg() != RegA' failed "
        "(llvm/lib/CodeGen/TwoAddressInstructionPass.cpp)")
    # Another build of that LLVM: another line number, source directory, addresses, and the
    # crash met in another function. The same crash.
    rebuilt = only("clang-assertion-rebuilt.log")
    assert rebuilt == sig
    assert sg.matches(sig, log("clang-assertion-rebuilt.log"), roots=ROOTS)


def test_an_lld_assertion_in_a_thinlto_backend_without_program_arguments():
    sig = only("lld-assertion-thinlto.log")
    assert sig == Signature(
        "crash", "ld.lld",
        "crashed in ThinLTO backend code generation (X86 DAG->DAG Instruction Selection): Assertion "
        "`isa<X>(Val) && \"cast<Ty>() argument of incompatible type!\"' failed "
        "(llvm/include/llvm/Support/Casting.h)", "vmlinux.o")


def test_two_different_clang_crashes_at_one_file_are_different_failures():
    fatal, trap = only("clang-backend-fatal.log"), only("clang-crash-same-file.log")
    assert fatal == Signature("crash", "clang", "crashed in the front end (current parser token "
                              "'pragma'): error in backend: #pragma clang __debug llvm_fatal_error",
                              "fatal.c")
    assert trap == Signature("crash", "clang", "crashed in the front end (current parser token "
                             "'pragma'): illegal instruction", "fatal.c")
    # Before crashes had an identity both were "crashed: current parser token 'pragma'":
    # a search for one kept configs that showed the other.
    assert not sg.matches(fatal, log("clang-crash-same-file.log"))
    assert not sg.matches(trap, log("clang-backend-fatal.log"))


def test_a_segfault_without_a_message_is_named_by_stage_and_signal():
    sig = only("clang-segv.log")  # the driver's "unable to execute command" is the same crash
    assert sig == Signature("crash", "clang", "crashed in optimization: segmentation fault", "slow.o")
    # cc1 is /usr/lib/llvm-16/bin/clang: the release is read off its path.
    (listed,) = logscan.failures(log("clang-segv.log"))
    assert listed.text == "clang-16 crashed in optimization: segmentation fault"


def test_a_child_that_died_without_llvm_report_is_named_by_its_signal():
    text = ("  CC      fs/open.o\n"
            "clang: error: unable to execute command: Segmentation fault (core dumped)\n"
            "clang: error: clang frontend command failed due to signal (use -v to see invocation)\n"
            "make[3]: *** [scripts/Makefile.build:250: fs/open.o] Error 1\n")
    assert logscan.extract_all(text) == [Signature("crash", "clang", "crashed: segmentation fault", "fs/open.o")]


def test_an_llvm_error_without_a_crash_report_is_a_crash_of_the_linker_at_the_link():
    text = ("  LD      vmlinux.o\n"
            "LLVM ERROR: Cannot select: 0x55d5c8a8b2a0: i64 = X86ISD::WrapperRIP t12, t19\n"
            "make[2]: *** [scripts/Makefile.vmlinux_o:61: vmlinux.o] Error 1\n")
    sig = logscan.extract(text)
    assert sig == Signature("crash", "ld.lld", "crashed: LLVM ERROR: Cannot select: 0x<addr>: i64 = "
                            "X86ISD::WrapperRIP t<n>, t<n>", "vmlinux.o")
    assert sg.matches(sig, text.replace("0x55d5c8a8b2a0", "0x7f00aa").replace("t12", "t40"))


THIN_CRASH = Signature("crash", "ld.lld", "crashed in ThinLTO backend optimization: LLVM ERROR: "
                       f"Broken module found ({VERIFIER})", "demo")


def test_a_linker_the_compiler_driver_ran_is_the_crashing_program_not_the_driver():
    # clang -fuse-ld=lld links; the driver says "unable to execute command: Aborted", then
    # "linker command failed due to signal": the program that crashed is ld.lld.
    sig = only("lld-crash-clang-driver.log")
    assert sig == THIN_CRASH


def test_an_unsymbolized_stack_still_names_the_stage_and_the_program():
    # llvm-reduce runs its tests with symbolization off: "Stack dump without symbol names",
    # frames as "12 libLLVM-16.so.1 0x... llvm::lto::opt(...) + 7007".
    (sig,) = logscan.extract_all(log("lld-crash-unsymbolized.log"))
    assert (sig.tool, sig.message) == (THIN_CRASH.tool, THIN_CRASH.message)
    assert sg.shows_anywhere(THIN_CRASH, log("lld-crash-unsymbolized.log"))


def test_a_crash_that_says_nothing_is_not_a_crash_that_printed_its_error():
    # ld.lld-16 segfaulting while reading a reduced module's summary, with no message in its
    # output (the shell that named the signal was not in the log): not the session's crash.
    text = log("lld-segv-no-message.log")
    assert [s.message for s in logscan.extract_all(text)] == ["crashed"]
    assert not sg.shows_anywhere(THIN_CRASH, text)
    old = Signature("crash", "ld.lld", "crashed", "vmlinux.o")  # an old session's: any crash
    assert sg.shows_anywhere(old, text)


def test_a_signature_written_before_crashes_had_an_identity_still_matches_its_crash():
    old = Signature("crash", "clang", "crashed: current parser token 'pragma'", "fs/fhandle.c")
    assert llvmcrash.legacy(old.message)
    assert sg.matches(old, log("clang-crash.log"), roots=ROOTS)  # a session resumed after upgrade
    assert not llvmcrash.legacy("crashed: segmentation fault")
    assert not llvmcrash.legacy(only("lld-crash-full-lto.log").message)


@pytest.mark.parametrize("text, expected", [
    ("call void @__sanitizer_cov_trace_const_cmp4(i32 1048576, i32 %29)",
     "call void @__sanitizer_cov_trace_const_cmp4(i32 <n>, i32 %<v>)"),
    ("store i64 -35184372088831, ptr %x.addr, align 8, !dbg !1234",
     "store i64 <n>, ptr %<v>, align <n>, !dbg !<n>"),
    ("Referring to a function in another module: ptr @do_thing.42 #7",
     "Referring to a function in another module: ptr @do_thing.<n> #<n>"),
    ("Intrinsic %llvm.x86.foo has wrong type", "Intrinsic %llvm.x86.foo has wrong type"),
])
def test_ir_in_llvm_messages_is_normalized(text, expected):
    assert llvmcrash.normalize_ir(text) == expected


@pytest.mark.parametrize("name, other", [
    ("lld-crash-full-lto.log", "clang-crash-same-file.log"),
    ("clang-assertion.log", "clang-segv.log"),
    ("clang-backend-fatal.log", "clang-crash-same-file.log"),
])
def test_the_grep_without_python_looks_for_what_llvm_printed(name, other):
    pattern = fallback_pattern(only(name))
    assert "PLEASE" not in pattern  # LLVM's own words, not any crash report
    assert subprocess.run(["grep", "-Eq", "-e", pattern, str(LOGS / name)]).returncode == 0
    assert subprocess.run(["grep", "-Eq", "-e", pattern, str(LOGS / other)]).returncode == 1


# -- a search on the fake kernel tree (tests/fakelinux) -----------------------------------------
FAKE = Path(__file__).parent / "fakelinux"
FAKE_KCONFIG = """mainmenu "fake linux, two crashes of ld.lld at vmlinux.o"

config LTO_CRASH
	bool "ld.lld crashes at the LTO link"

config DEBUG_INFO
	bool "with debug info: the verifier's abort; without: a segmentation fault"

config OPT1
	bool "option 1"

config OPT2
	bool "option 2"
"""


def test_a_search_keeps_its_crash_and_never_takes_another_crash_at_the_same_object(tmp_path):
    """The bad config's link aborts in the verifier; dropping DEBUG_INFO makes the same link
    crash another way (a segmentation fault in code generation). Before crashes had an
    identity both were `ld.lld: crashed [vmlinux.o]`, and the search dropped DEBUG_INFO."""
    import json
    import shutil

    from ltobisect.config import BuildSpec, RetryPolicy, SessionConfig
    from ltobisect.events import ListReporter
    from ltobisect.conductor.session import Session

    tree = tmp_path / "tree"
    shutil.copytree(FAKE, tree)
    (tree / "Kconfig").write_text(FAKE_KCONFIG)
    bad = tmp_path / "bad.config"
    bad.write_text("CONFIG_LTO_CRASH=y\nCONFIG_DEBUG_INFO=y\nCONFIG_OPT1=y\nCONFIG_OPT2=y\n")
    config = SessionConfig(bad_config=bad, state_dir=tmp_path / "state", baseline="defconfig",
                           build=BuildSpec(tree=tree, sandbox="none", jobs=1), verify_repeats=1,
                           retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.01))
    result = Session(config, ListReporter()).run()
    assert result.status == "minimized", result.message
    assert set(result.fragment) == {"CONFIG_LTO_CRASH=y", "CONFIG_DEBUG_INFO=y"}
    summary = read_summary(tmp_path / "state" / "summary.json")
    ours = ("crashed in regular LTO optimization: LLVM ERROR: Broken module found (inlinable "
            "function call in a function with debug info must have a !dbg location)")
    assert summary["signature"]["message"] == ours
    assert summary["failure_line"] == "ld.lld-16 " + ours
    report = (tmp_path / "state" / "report.txt").read_text()
    assert report.startswith("ltobisect: ld.lld-16 crashed in regular LTO optimization: LLVM ERROR:")
    # A crash of the linker is a failure of the link: on a kernel tree the session replays it
    # for an `ld.lld --reproduce` tarball (this fake tree is none).
    assert summary["ld_reproduce"]["reason"] == "not attempted (not a kernel tree)"
    records = [json.loads(ln) for ln in (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
    verdicts = {}
    for r in records:
        if r["verdict"] == "reproduces":
            assert r["signature"]["message"] == ours
        if r["verdict"] == "other-failure" and r["label"] != "bad config":
            verdicts[r["signature"]["message"]] = r["verdict"]
    # The candidate without DEBUG_INFO crashed too, and was judged another failure.
    assert verdicts == {"crashed in regular LTO code generation: segmentation fault": "other-failure"}
