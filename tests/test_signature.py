"""Failure scanning and signature matching on real build logs (tests/logs/, see
tests/logs/README.md) and edge cases."""
from __future__ import annotations

from pathlib import Path

import pytest

from ltobisect.logs import lognorm

from ltobisect.logs import logscan
from ltobisect.logs import signature as sigmod
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
    assert logscan.extract_all(text, roots=ROOTS) == [OURS, THEIRS]
    assert logscan.extract(text, roots=ROOTS) == OURS  # the earliest of equal kinds
    assert sigmod.matches(OURS, text, roots=ROOTS) and sigmod.matches(THEIRS, text, roots=ROOTS)
    assert not sigmod.matches(Signature("compile-error", "clang", '"something else"', "fs/fhandle.c"), text, roots=ROOTS)


def test_line_numbers_are_dropped_unless_kept() -> None:
    text = log("clang-error-fs.log")
    kept = logscan.extract(text, roots=ROOTS, keep_lines=True)
    assert kept.location == "fs/fhandle.c:283"
    assert sigmod.matches(kept, text, roots=ROOTS)  # keeps lines because the signature shows one
    moved = text.replace("fhandle.c:283:2", "fhandle.c:290:2")
    assert sigmod.matches(OURS, moved, roots=ROOTS) and not sigmod.matches(kept, moved, roots=ROOTS)


def test_without_roots_a_path_suffix_still_matches() -> None:
    # The real log without the lines that reveal its directories (make's directory lines, the
    # command, kbuild's <srctree>/scripts paths): an excerpt pasted from a report, say.
    text = "\n".join(ln for ln in log("clang-error-fs.log").splitlines()
                     if not ln.startswith(("#", "make")) and "/scripts/" not in ln)
    assert lognorm.log_roots(text) == []
    raw = logscan.extract(text)
    assert raw.location.endswith("fs/fhandle.c") and raw.location != "fs/fhandle.c"
    assert sigmod.matches(OURS, text)  # the user's log from their own tree, no roots known


def test_lld_undefined_symbols_from_a_real_thinlto_link() -> None:
    text = log("lld-undefined.log")
    found = logscan.extract_all(text, roots=ROOTS)
    kinds = {(s.kind, s.tool) for s in found}
    assert kinds == {("link-error", "ld.lld")}
    names = {s.location for s in found}
    assert {"ltobisect_planted_missing", "ltobisect_planted_lto_missing"} <= names
    first = logscan.extract(text, roots=ROOTS)
    assert first.message.startswith("undefined symbol: ltobisect_planted")
    ex = sigmod.excerpt(text, first, context=3)
    assert "undefined symbol" in ex and ">>> referenced by" in ex


def test_compiler_crash_from_a_real_clang_crash() -> None:
    text = log("clang-crash.log")
    sig = logscan.extract(text, roots=ROOTS)
    assert sig == Signature("crash", "clang", "crashed in the front end (current parser token 'pragma'): "
                                              "illegal instruction", "fs/fhandle.c")
    # The "frontend command failed" line and the /tmp reproducer names are not failures of their own.
    assert logscan.extract_all(text, roots=ROOTS) == [sig]
    assert "PLEASE submit a bug report" in sigmod.excerpt(text, sig, context=2)


def test_killed_tool_from_a_real_sigkill() -> None:
    text = log("killed.log")
    sig = logscan.extract(text, roots=ROOTS)
    assert sig == Signature("killed", "", "killed by signal 9 (Killed)", "fs/open.o")


def test_kconfig_warning_is_found_but_not_a_failure() -> None:
    text = log("kconfig-invalid.log")
    assert logscan.extract(text, roots=ROOTS) is None  # make succeeded; a warning is no failure
    (warn,) = logscan.extract_all(text, roots=ROOTS)
    assert warn == Signature("kconfig", "kconfig", "symbol value 'maybe' invalid for FHANDLE", ".config")
    assert sigmod.matches(warn, text, roots=ROOTS)


def test_passing_log_has_no_failure() -> None:
    text = log("pass-tail.log")
    assert logscan.extract(text, roots=ROOTS) is None and logscan.extract_all(text, roots=ROOTS) == []
    assert sigmod.excerpt(text, OURS, context=2)  # never empty for a non-empty log


# Constructed from the format strings of Linux 6.1 (scripts/mod/modpost.c modpost_log,
# tools/objtool/include/objtool/warn.h WARN_FUNC) and the objtool line seen in FACTS.md.
MODPOST = 'ERROR: modpost: "ltobisect_missing" [fs/ext4/ext4.ko] undefined!\nmake[2]: *** [scripts/Makefile.modpost:126: Module.symvers] Error 1\n'
OBJTOOL = "vmlinux.o: warning: objtool: fixup_bad_iret+0x1c: call to memset() leaves .noinstr.text section\n"


def test_modpost_and_objtool_wording() -> None:
    (m,) = logscan.extract_all(MODPOST)
    assert m == Signature("modpost", "modpost", '"ltobisect_missing" [fs/ext4/ext4.ko] undefined!', "ltobisect_missing")
    assert logscan.extract(MODPOST) == m  # ranks before make's own Error line
    (o,) = logscan.extract_all(OBJTOOL)
    assert o == Signature("objtool-warning", "objtool", "fixup_bad_iret: call to memset() leaves .noinstr.text section",
                          "vmlinux.o")
    assert sigmod.matches(o, OBJTOOL.replace("+0x1c", "+0x2f"))


def test_make_errors_and_fallback() -> None:
    text = "make[1]: *** No rule to make target 'arch/x86/foo.o', needed by 'arch/x86/built-in.a'.  Stop.\n"
    sig = logscan.extract(text)
    assert sig.kind == "make" and sig.message.startswith("No rule to make target 'arch/x86/foo.o'")
    odd = "something went wrong\nmake[2]: *** [scripts/Makefile.build:250: lib/odd.o] Error 1\n"
    fb = logscan.extract(odd)
    assert fb == Signature("make", "make", "lib/odd.o: Error", "lib/odd.o")
    assert sigmod.matches(fb, odd.replace("Error 1", "Error 2"))
    # A makefile's own syntax error names the makefile, not make's generic "Error 2" after it.
    broken = ("/src/linux/net/Kbuild:2: *** missing separator.  Stop.\n"
              "make: *** [Makefile:31: __sub-make] Error 2\n")
    assert logscan.extract(broken, roots=["/src/linux"]) == Signature(
        "make", "make", "missing separator", "net/Kbuild")


def test_normalization_of_run_specific_text() -> None:
    a = "ld.lld-16: error: /tmp/cc12AbCd.o: invalid symbol index 0x1f in section foo.llvm.998877 at .tmp_vmlinux.kallsyms1\n"
    b = "ld.lld: error: /tmp/ccZZ99yy.o: invalid symbol index 0x2a in section foo.llvm.123 at .tmp_vmlinux.kallsyms2\n"
    sa, sb = logscan.extract(a), logscan.extract(b)
    assert sa == sb and sa.tool == "ld.lld" and sa.kind == "link-error"
    assert lognorm.tool_name("/usr/lib/llvm-16/bin/clang-16") == "clang"


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


# --- GNU ld, gold, collect2 (logs of tests/logs/README.md's tiny project and of the demo) ------

LD_UNDEF = Signature("link-error", "ld", "undefined reference to 'trace_net_queue_packet'", "trace_net_queue_packet")


def test_gnu_ld_undefined_reference_from_the_demo() -> None:
    text = log("ld-undefined-demo.log")
    # ld's own error, not collect2's summary nor make's "Error 1" (once: both references agree).
    assert logscan.extract_all(text) == [LD_UNDEF]
    assert logscan.extract(text) == LD_UNDEF
    assert LD_UNDEF.describe() == "ld: undefined reference to 'trace_net_queue_packet' (link-error)"
    ex = sigmod.excerpt(text, LD_UNDEF, context=2)
    assert "undefined reference to `trace_net_queue_packet'" in ex
    # The same failure linked by clang's driver, or with -g (source:line instead of section+offset).
    for other in ("ld-undefined-clang-driver.log", "ld-undefined-debug.log"):
        assert logscan.extract(log(other)) == LD_UNDEF, other
        assert sigmod.matches(LD_UNDEF, log(other)), other
    assert not sigmod.matches(LD_UNDEF, log("lld-undefined.log"))


def test_gold_and_lld_wording() -> None:
    gold = logscan.extract(log("gold-undefined.log"))
    # gold quotes plainly and prints "obj:src:function f: error:"; the message reads as GNU ld's.
    assert gold == Signature("link-error", "ld.gold", LD_UNDEF.message, "trace_net_queue_packet")
    assert not sigmod.matches(LD_UNDEF, log("gold-undefined.log"))  # another linker, another failure


def test_gnu_ld_multiple_definition() -> None:
    text = log("ld-multiple.log")
    sig = logscan.extract(text)
    assert sig == Signature("link-error", "ld", "multiple definition of 'crc_table_ready'", "crc_table_ready")
    assert logscan.extract_all(text) == [sig]
    assert sigmod.matches(sig, text.replace("lib/a.o:(.data+0x0)", "lib/c.o:(.data+0x8)"))


def test_gnu_ld_relocation_truncated() -> None:
    text = log("ld-reloc.log")
    first, second = logscan.extract_all(text)
    assert first == Signature("link-error", "ld", "relocation truncated to fit: R_X86_64_PC32 against '.far.text'",
                              "lib/big.o")
    # The object comes from the "in function" line above when the line names only a source file.
    assert second.location == "lib/bigread.o" and "against symbol 'far_func'" in second.message
    assert logscan.extract(text) == first


def test_collect2_summary_only_when_ld_said_nothing_we_know() -> None:
    text = log("ld-undefined-demo.log")
    bare = "\n".join(ln for ln in text.splitlines() if not ln.startswith(("/usr/bin/ld:", "sched.c:")))
    sig = logscan.extract(bare)
    assert sig == Signature("link-error", "ld", "ld returned 1 exit status", "demo")
    assert sigmod.matches(sig, bare) and sigmod.matches(sig, text)
    assert logscan.extract(text) == LD_UNDEF  # with ld's own error the summary never wins


def test_cross_tool_names() -> None:
    assert lognorm.tool_name("aarch64-linux-gnu-ld") == "ld"
    assert lognorm.tool_name("/opt/x/bin/x86_64-pc-linux-gnu-gcc-12") == "gcc"
    assert lognorm.tool_name("llvm-objcopy-16") == "llvm-objcopy"
    line = "aarch64-linux-gnu-ld: lib/b.o:(.data+0x0): multiple definition of `x'; lib/a.o:(.data+0x0): first defined here\n"
    assert logscan.extract(line) == Signature("link-error", "ld", "multiple definition of 'x'", "x")


# --- gcc or clang ------------------------------------------------------------------------------

GCC_UNUSED = Signature("compile-error", "gcc", "unused variable 'unused_total' [-Werror=unused-variable]", "lib/warn.c")


def test_gcc_errors_are_labeled_gcc() -> None:
    # "In function" above and "cc1: all warnings being treated as errors" below; UTF-8 or C quotes.
    assert logscan.extract(log("gcc-werror-utf8.log")) == GCC_UNUSED
    assert logscan.extract(log("gcc-werror-c.log")) == GCC_UNUSED
    # V=1: the printed command names gcc.
    v1 = logscan.extract(log("gcc-syntax-v1.log"))
    assert v1 == Signature("compile-error", "gcc", "expected expression before ';' token", "lib/syntax.c")
    # Nothing tells the compiler: the neutral cc, not a wrong name.
    plain = logscan.extract(log("gcc-syntax-plain.log"))
    assert plain.tool == "cc" and plain.message == v1.message


def test_clang_errors_stay_clang() -> None:
    sig = logscan.extract(log("clang-werror.log"))
    assert sig == Signature("compile-error", "clang", "unused variable 'unused_total' [-Werror,-Wunused-variable]",
                            "lib/warn.c")
    assert logscan.extract(log("clang-error-fs.log"), roots=ROOTS).tool == "clang"


def test_compile_errors_match_whatever_compiler_label() -> None:
    plain, v1 = logscan.extract(log("gcc-syntax-plain.log")), logscan.extract(log("gcc-syntax-v1.log"))
    assert sigmod.matches(plain, log("gcc-syntax-v1.log")) and sigmod.matches(v1, log("gcc-syntax-plain.log"))
    relabeled = Signature("compile-error", "clang", GCC_UNUSED.message, GCC_UNUSED.location)
    assert sigmod.matches(relabeled, log("gcc-werror-c.log"))
    # gcc and clang word the same warning differently: a different failure.
    assert not sigmod.matches(GCC_UNUSED, log("clang-werror.log"))
    # Linker labels still count: ld's and ld.gold's undefined references are not the same.
    assert not sigmod.matches(LD_UNDEF, log("gold-undefined.log"))


# --- roots read off the log --------------------------------------------------------------------

def test_log_roots_of_real_logs() -> None:
    assert lognorm.log_roots(log("clang-error-fs.log")) == ["/tmp/ltb/tree", "/tmp/ltb/out"]
    assert lognorm.log_roots(log("gcc-gen-worker-o.log")) == ["/tmp/ltbfix/w1/out", "/tmp/ltbfix/src"]
    # V=1: the printed sub-make command (-C), make's directory line, the Makefile of the error.
    assert lognorm.log_roots(log("gcc-syntax-v1.log")) == ["/tmp/ltbfix/out-syntax-v", "/tmp/ltbfix/src"]
    # Without make's directory lines: kbuild's <srctree>/scripts/Makefile.build still tells the tree.
    quiet = "\n".join(ln for ln in log("clang-error-fs.log").splitlines()
                      if not ln.startswith("#") and "directory" not in ln)
    assert lognorm.log_roots(quiet) == ["/tmp/ltb/tree"]


def test_log_roots_are_conservative() -> None:
    text = ("make[1]: Entering directory '/src/linux'\n"
            "make[2]: *** [/src/linux/arch/x86/Makefile:12: bzImage] Error 2\n"
            "make: Entering directory '/tmp'\n"
            "+ make -C / O=relative/out\n")
    assert lognorm.log_roots(text) == ["/src/linux"]  # not arch/x86, nor /tmp, /, a relative O=
    assert lognorm.normalize_path("/workspace/x.c", ["/work"]) == "/workspace/x.c"
    assert lognorm.normalize_path("/work/x.c", ["/work"]) == "x.c"
    assert lognorm.normalize_text("no such file: -I/work/include /src/work/x", ["/work"]) == \
        "no such file: -Iinclude /src/work/x"


def test_signature_from_a_users_log_in_another_o_dir() -> None:
    # The user built with O=/tmp/ltbfix/user-out (UTF-8 quotes); a worker with O=/tmp/ltbfix/w1/out
    # (LANG=C, -Werror: one more error). The file is generated in O=, so its path names O=.
    user, worker = log("gcc-gen-user-o.log"), log("gcc-gen-worker-o.log")
    assert "/tmp/ltbfix/user-out/gen.c" in user
    sig = logscan.extract(user)  # as the session does with --log: no roots of the user's build known
    assert sig == Signature("compile-error", "gcc", "'undeclared_limit' undeclared (first use in this function)", "gen.c")
    worker_roots = ("/tmp/ltbfix/w1/out", "/tmp/ltbfix/src")  # what the oracle gives
    assert sigmod.matches(sig, worker, roots=worker_roots) and sigmod.matches(sig, worker)
    # The same holds for the demo's link error, in any O= directory.
    assert sigmod.matches(logscan.extract(log("ld-undefined-demo.log")), log("ld-undefined-clang-driver.log"))
