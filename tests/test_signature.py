"""Signature extraction on real build logs (tests/logs/, see tests/logs/README.md) and edge cases."""
from __future__ import annotations

from pathlib import Path

import pytest

from ltobisect import signature as sigmod
from ltobisect.errors import UserError
from ltobisect.model import Signature

LOGS = Path(__file__).parent / "logs"
# The real logs were made with the scratch tree at /tmp/ltb/tree and O=/tmp/ltb/out.
ROOTS = ("/tmp/ltb/tree", "/tmp/ltb/out")


def log(name: str) -> str:
    return (LOGS / name).read_text()


OURS = Signature("compile-error", "clang", '"ltobisect planted fault: fhandle with cross memory attach"', "fs/fhandle.c")
THEIRS = Signature("compile-error", "clang", '"ltobisect planted fault: fhandle with uselib"', "fs/fhandle.c")


def test_clang_errors_two_in_one_log() -> None:
    text = log("clang-error-fs.log")
    assert sigmod.extract_all(text, roots=ROOTS) == [OURS, THEIRS]
    assert sigmod.extract(text, roots=ROOTS) == OURS  # the earliest of equal kinds
    assert sigmod.matches(OURS, text, roots=ROOTS) and sigmod.matches(THEIRS, text, roots=ROOTS)
    assert not sigmod.matches(Signature("compile-error", "clang", '"something else"', "fs/fhandle.c"), text, roots=ROOTS)


def test_line_numbers_are_dropped_unless_kept() -> None:
    text = log("clang-error-fs.log")
    kept = sigmod.extract(text, roots=ROOTS, keep_lines=True)
    assert kept.location == "fs/fhandle.c:283"
    assert sigmod.matches(kept, text, roots=ROOTS)  # keeps lines because the signature shows one
    moved = text.replace("fhandle.c:283:2", "fhandle.c:290:2")
    assert sigmod.matches(OURS, moved, roots=ROOTS) and not sigmod.matches(kept, moved, roots=ROOTS)


def test_without_roots_a_path_suffix_still_matches() -> None:
    text = log("clang-error-fs.log")
    raw = sigmod.extract(text)
    assert raw.location.endswith("fs/fhandle.c") and raw.location != "fs/fhandle.c"
    assert sigmod.matches(OURS, text)  # the user's log from their own tree, no roots known


def test_lld_undefined_symbols_from_a_real_thinlto_link() -> None:
    text = log("lld-undefined.log")
    found = sigmod.extract_all(text, roots=ROOTS)
    kinds = {(s.kind, s.tool) for s in found}
    assert kinds == {("link-error", "ld.lld")}
    names = {s.location for s in found}
    assert {"ltobisect_planted_missing", "ltobisect_planted_lto_missing"} <= names
    first = sigmod.extract(text, roots=ROOTS)
    assert first.message.startswith("undefined symbol: ltobisect_planted")
    ex = sigmod.excerpt(text, first, context=3)
    assert "undefined symbol" in ex and ">>> referenced by" in ex


def test_compiler_crash_from_a_real_clang_crash() -> None:
    text = log("clang-crash.log")
    sig = sigmod.extract(text, roots=ROOTS)
    assert sig == Signature("crash", "clang", "crashed: current parser token 'pragma'", "fs/fhandle.c")
    # The "frontend command failed" line and the /tmp reproducer names are not failures of their own.
    assert sigmod.extract_all(text, roots=ROOTS) == [sig]
    assert "PLEASE submit a bug report" in sigmod.excerpt(text, sig, context=2)


def test_killed_tool_from_a_real_sigkill() -> None:
    text = log("killed.log")
    sig = sigmod.extract(text, roots=ROOTS)
    assert sig == Signature("killed", "", "killed by signal 9 (Killed)", "fs/open.o")


def test_kconfig_warning_is_found_but_not_a_failure() -> None:
    text = log("kconfig-invalid.log")
    assert sigmod.extract(text, roots=ROOTS) is None  # make succeeded; a warning is no failure
    (warn,) = sigmod.extract_all(text, roots=ROOTS)
    assert warn == Signature("kconfig", "kconfig", "symbol value 'maybe' invalid for FHANDLE", ".config")
    assert sigmod.matches(warn, text, roots=ROOTS)


def test_passing_log_has_no_failure() -> None:
    text = log("pass-tail.log")
    assert sigmod.extract(text, roots=ROOTS) is None and sigmod.extract_all(text, roots=ROOTS) == []
    assert sigmod.excerpt(text, OURS, context=2)  # never empty for a non-empty log


# Constructed from the format strings of Linux 6.1 (scripts/mod/modpost.c modpost_log,
# tools/objtool/include/objtool/warn.h WARN_FUNC) and the objtool line seen in FACTS.md.
MODPOST = 'ERROR: modpost: "ltobisect_missing" [fs/ext4/ext4.ko] undefined!\nmake[2]: *** [scripts/Makefile.modpost:126: Module.symvers] Error 1\n'
OBJTOOL = "vmlinux.o: warning: objtool: fixup_bad_iret+0x1c: call to memset() leaves .noinstr.text section\n"


def test_modpost_and_objtool_wording() -> None:
    (m,) = sigmod.extract_all(MODPOST)
    assert m == Signature("modpost", "modpost", '"ltobisect_missing" [fs/ext4/ext4.ko] undefined!', "ltobisect_missing")
    assert sigmod.extract(MODPOST) == m  # ranks before make's own Error line
    (o,) = sigmod.extract_all(OBJTOOL)
    assert o == Signature("objtool-warning", "objtool", "fixup_bad_iret: call to memset() leaves .noinstr.text section",
                          "vmlinux.o")
    assert sigmod.matches(o, OBJTOOL.replace("+0x1c", "+0x2f"))


def test_make_errors_and_fallback() -> None:
    text = "make[1]: *** No rule to make target 'arch/x86/foo.o', needed by 'arch/x86/built-in.a'.  Stop.\n"
    sig = sigmod.extract(text)
    assert sig.kind == "make" and sig.message.startswith("No rule to make target 'arch/x86/foo.o'")
    odd = "something went wrong\nmake[2]: *** [scripts/Makefile.build:250: lib/odd.o] Error 1\n"
    fb = sigmod.extract(odd)
    assert fb == Signature("make", "make", "lib/odd.o: Error", "lib/odd.o")
    assert sigmod.matches(fb, odd.replace("Error 1", "Error 2"))


def test_normalization_of_run_specific_text() -> None:
    a = "ld.lld-16: error: /tmp/cc12AbCd.o: invalid symbol index 0x1f in section foo.llvm.998877 at .tmp_vmlinux.kallsyms1\n"
    b = "ld.lld: error: /tmp/ccZZ99yy.o: invalid symbol index 0x2a in section foo.llvm.123 at .tmp_vmlinux.kallsyms2\n"
    sa, sb = sigmod.extract(a), sigmod.extract(b)
    assert sa == sb and sa.tool == "ld.lld" and sa.kind == "link-error"
    assert sigmod.tool_name("/usr/lib/llvm-16/bin/clang-16") == "clang"


def test_regex_memory_duration_signatures() -> None:
    rx = sigmod.from_regex(r"undefined symbol: ltobisect_\w+")
    assert sigmod.matches(rx, log("lld-undefined.log"))
    assert not sigmod.matches(rx, log("clang-error-fs.log"))
    with pytest.raises(UserError):
        sigmod.from_regex("(unclosed")
    mem = sigmod.memory_above(20 * 2**30)
    assert sigmod.matches(mem, "", peak_rss=21 * 2**30) and not sigmod.matches(mem, "", peak_rss=2**30)
    dur = sigmod.duration_above(1800)
    assert sigmod.matches(dur, "", duration=1801) and not sigmod.matches(dur, "", duration=10)
    with pytest.raises(UserError):
        sigmod.memory_above(0)
