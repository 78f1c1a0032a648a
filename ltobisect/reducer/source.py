"""The steps of a source's reduction (a compile error, a warning made an error, a compiler
crash), as a part of :class:`ltobisect.reducer.run.Reduction`: the failing compile found by the
recorder (:mod:`.compile`), its preprocessed source checked, C-Vise run with the attached
repro.sh as its test, and the attachments written. See :mod:`.compile` for the why of each.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from tenacity import Retrying, retry_if_result, stop_after_attempt

from ltobisect import process
from ltobisect.errors import InfraError
from ltobisect.events import PhaseStarted
from ltobisect.store.journal import write_atomic
from ltobisect.artifacts.judge_bundle import JUDGE_FILE, judge_program
from ltobisect.model import Phase, Signature, SignatureKind

from . import compile as cc
from . import link as lk
from .common import REPRO, duration_of, sh_quote as _sh, tail, watched

#: The reduced source, beside repro.sh.
REDUCED_SOURCE = "reduced.i"
#: The errors the preprocessed original gives (one message a line): a variant C-Vise keeps
#: gives no parser error beyond them, so the reduced file is no heap of broken syntax around
#: the one error that counts.
ALLOWED = "allowed-errors.txt"
#: What clang and gcc say when the source does not parse (an ERE of the message's start).
PARSER_ERRORS = ("^(expected |extraneous |unterminated |missing terminating |"
                 "unknown type name |stray |invalid preprocessing directive|"
                 "unmatched |extra tokens )")
#: The test C-Vise runs for one variant (seconds): a compile of one file.
CVISE_TEST_TIMEOUT = 120


class SourceSteps:
    """The source steps of a Reduction (its attributes: rs, work, sig, opts, stop...)."""

    def _source(self) -> Dict[str, Any]:
        cmd = self.rs.step("command")
        if not cmd.get("found"):  # a run that found nothing is tried again, not trusted
            cmd = self._find_command()
            if not cmd.get("found"):
                return {"complete": False, "reason": cmd.get("reason", "")}
        current = self.rs.file(REDUCED_SOURCE)
        if not current.is_file():
            shutil.copyfile(self.rs.file("original.i"), current)
        self._write_source_attachments(cmd)
        red = self.rs.step("cvise")
        if not red:
            red = self._cvise(cmd, current)
        out = {"command": cmd["shown"], "compiler": cmd["compiler"],
               "before": {"bytes": cmd["bytes"], "lines": cmd["lines"]},
               "after": _size_of(current), "tests": red.get("tests"),
               "complete": bool(red.get("complete")), "reducer": "cvise",
               "clang_crash_files": cmd.get("crash_files", [])}
        if red.get("reason"):
            out["reason"] = red["reason"]
        shutil.copyfile(current, self.rs.attach_dir / REDUCED_SOURCE)
        out.update(self._rerun(out["complete"]))
        return out

    def _find_command(self) -> Dict[str, Any]:
        script = self._script()
        rec = self.work / "record"
        shutil.rmtree(rec, ignore_errors=True)
        rec.mkdir(parents=True)
        recorder = self.work / "record.sh"
        recorder.write_text(cc.RECORDER)
        build = self.work / "build"
        shutil.rmtree(build, ignore_errors=True)
        env = self._env(self.work / "sandbox", {
            "LTOBISECT_CC": f"sh {recorder} {self._compiler()}", "LTOBISECT_RECORD": str(rec)})
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="building the minimal config with "
                                                            "its compiler calls recorded"))
        log = self.work / "rebuild.out"
        bad = self.result.best_log
        limit = self.limit(max(900.0, 3 * duration_of(self.store)))
        done = watched(["sh", str(script), "-o", str(build)], cwd=self.work, env=env, log=log,
                       deadline=time.monotonic() + limit, stop=self.stop, watch=None,
                       progress=lambda _s: None)
        if done.killed_by_us:
            raise lk.Interrupted() if self.stop.is_set() else InfraError(
                "the rebuild of the minimal config did not finish in time")
        status = os.waitstatus_to_exitcode(done.status)
        if status != 0:
            reason = (f"the minimal config did not fail the same way when built again "
                      f"(reproduce.sh exit {status}): {tail(log, 3)}")
            return self.rs.done("command", found=False, reason=reason)
        roots = [str(self.b.tree), str(build)] if self.b else [str(build)]
        scratch = self.work / "check"
        scratch.mkdir(parents=True, exist_ok=True)
        for call in cc.candidates(cc.recorded(rec), self.sig)[:8]:
            status, text = cc.run_call(call.argv, call.cwd, scratch / "compile.log", env, 600,
                                       self.stop)
            if not (self.sig and (cc.shows(self.sig, text, roots))):
                continue
            original = self.rs.file("original.i")
            pp_status, pp_text = cc.run_call(cc.preprocess_argv(call, original), call.cwd,
                                             scratch / "pp.log", env, 600, self.stop)
            if pp_status != 0 or not original.is_file():
                continue
            syntax_only = None
            for front_end in (True, False):
                judge = cc.judge_argv(call, str(original), front_end)
                status, text = cc.run_call(judge, str(scratch), scratch / "i.log", env, 600,
                                           self.stop)
                if cc.shows(self.sig, text, roots):
                    syntax_only = front_end
                    break
            if syntax_only is None:
                return self.rs.done("command", found=False, shown=cc.shown(call.argv),
                                    reason="the preprocessed source compiles without the failure")
            write_atomic(self.rs.file(ALLOWED), "".join(f"{m}\n" for m in error_messages(text)))
            crash_files: List[str] = []
            flags = cc.crash_flags(call, self.sig, self.rs.attach_dir / "clang-crash")
            if flags:
                (self.rs.attach_dir / "clang-crash").mkdir(exist_ok=True)
                cc.run_call(list(call.argv) + flags, call.cwd, scratch / "crash.log", env, 600,
                            self.stop)
                crash_files = sorted(p.name for p in (self.rs.attach_dir / "clang-crash").iterdir())
            size = _size_of(original)
            info = self.rs.done("command", found=True, argv=list(call.argv), cwd=call.cwd,
                                shown=cc.shown(call.argv), compiler=call.compiler,
                                judge=cc.judge_argv(call, REDUCED_SOURCE, syntax_only),
                                syntax_only=syntax_only, source=call.source(),
                                bytes=size["bytes"], lines=size["lines"], crash_files=crash_files,
                                best_log=bad)
            shutil.rmtree(build, ignore_errors=True)  # the sources are in original.i now
            return info
        return self.rs.done("command", found=False,
                            reason="no compile in the rebuild shows the failure when run alone")

    def _write_source_attachments(self, cmd: Dict[str, Any]) -> None:
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        judge = [w if w != REDUCED_SOURCE else "@SRC@" for w in cmd["judge"]]
        write_atomic(attach / REPRO, source_repro(judge, self.sig, cmd["shown"]), mode=0o755)

    def _cvise(self, cmd: Dict[str, Any], current: Path) -> Dict[str, Any]:
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="C-Vise on the preprocessed source"))
        test = self.work / "cvise-test.sh"
        test.write_text(cvise_test(self.rs.attach_dir / REPRO, self.rs.file(ALLOWED)))
        test.chmod(0o755)
        # C-Vise's multiprocessing manager binds a Unix socket under TMPDIR, and a socket's
        # path holds at most 107 bytes: a state directory a few levels deep made it fail
        # ("AF_UNIX path too long"). Its temporary files go to a short directory of the
        # system's temporary area instead, removed afterwards.
        left = self.rs.doc.get("cvise_tmp")
        if left and Path(left).name.startswith("ltobisect-cvise-"):
            process.kill_left_in(Path(left))  # a killed run's C-Vise would go on reducing
            shutil.rmtree(left, ignore_errors=True)  # and its files
        tmp = Path(tempfile.mkdtemp(prefix="ltobisect-cvise-"))
        self.rs.doc["cvise_tmp"] = str(tmp)
        self.rs.save()
        # The locale of the build (gcc quotes by it): the allowed errors were read in it.
        env = dict(os.environ, TMPDIR=str(tmp), LC_ALL="C", LANG="C")
        start = int(cmd["bytes"])
        argv = ["cvise", "--n", str(max(1, self.opts.workers)), "--timeout",
                str(CVISE_TEST_TIMEOUT), "--tidy", "--skip-key-off", str(test), REDUCED_SOURCE]
        log = self.work / "cvise.log"

        def failed(done: Any) -> bool:
            return not done.killed_by_us and os.waitstatus_to_exitcode(done.status) != 0

        def once() -> Any:
            return watched(argv, cwd=self.rs.dir, env=env, log=log, deadline=self.deadline,
                           stop=self.stop, watch=current,
                           progress=lambda size: self.progress("cvise", size, "bytes", start))

        # C-Vise failing (its own fault, not a verdict) is run once more, from the file as it
        # left it; a second failure is reported with the end of its log.
        try:
            done = Retrying(stop=stop_after_attempt(2), retry=retry_if_result(failed),
                            retry_error_callback=lambda state: state.outcome.result())(once)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        status = os.waitstatus_to_exitcode(done.status)
        tests = _cvise_tests(log)
        if done.killed_by_us:
            why = "stopped" if self.stop.is_set() else "the reduction budget ran out"
            return {"complete": False, "reason": f"{why}: the best so far is attached",
                    "tests": tests}
        if status != 0:
            return {"complete": False, "tests": tests,
                    "reason": f"C-Vise failed (exit {status}): {tail(log, 2)}"}
        return self.rs.done("cvise", complete=True, tests=tests)


def _size_of(path: Path) -> Dict[str, int]:
    try:
        data = path.read_bytes()
    except OSError:
        return {"bytes": 0, "lines": 0}
    return {"bytes": len(data), "lines": data.count(b"\n")}


_ERROR_LINE = re.compile(r"^.*: (?:fatal )?error: (.*?)(?: \[[^]]*\])?$")  # sed's greed


def error_messages(text: str) -> List[str]:
    """The messages of a compiler's error lines, without place and option (``[-Werror,...]``),
    as the C-Vise test's sed prints them."""
    return sorted({m.group(1) for m in map(_ERROR_LINE.match, text.splitlines()) if m})


def cvise_test(repro: Path, allowed: Path) -> str:
    """C-Vise's interestingness test: the attached repro.sh says the variant fails the same
    way, and its compile gives no parser error the preprocessed original did not.

    Other new errors are allowed (a removed declaration leaves an undeclared name: forbidding
    that made C-Vise crawl through a kernel file, 11 % in 15 minutes); a new parser error is
    not, or the result is a heap of broken syntax that happens to contain the message."""
    return f"""#!/bin/sh
# C-Vise's interestingness test (written by ltobisect): repro.sh says the variant fails the
# same way, and the compile gives no parser error the preprocessed original did not give.
log=$PWD/ltobisect-compile.log
sh {_sh(str(repro))} --quiet --log "$log" "$PWD/{REDUCED_SOURCE}" || exit 1
grep -E ': (fatal )?error: ' "$log" | sed -E -e 's/^.*: (fatal )?error: //' \\
    -e 's/ \\[[^]]*\\]$//' | grep -E {_sh(PARSER_ERRORS)} \\
    | grep -vxF -f {_sh(str(allowed))} | grep -q . && exit 1
exit 0
"""


def _cvise_tests(log: Path) -> Optional[int]:
    """How many variants C-Vise tried: the sum of its pass table's last column."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    total, seen = 0, False
    for line in text.splitlines():
        m = re.match(r"^\s+\S+\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(\d+)\s*$", line)
        if m:
            total, seen = total + int(m.group(1)), True
    return total if seen else None


def source_repro(judge_argv: List[str], sig: Signature, original: str) -> str:
    """repro.sh for a reduced source: one compiler command, judged by judge.py."""
    compiler = judge_argv[0]
    quick = prefilter(sig)
    words = " ".join('"$src"' if w == "@SRC@" else _sh(w) if re.search(r"[^\w@%+=:,./-]", w)
                     else w for w in judge_argv)
    return f"""#!/bin/sh
# repro.sh: the failure ltobisect minimized, from one reduced source file.
#   {sig.describe()}
# usage: sh repro.sh [--quiet] [--log COPY] [FILE]   (FILE: {REDUCED_SOURCE} beside it)
# exit: 0 the compile fails this way, 1 it does not, 2 it cannot run.
# needs: {compiler}, python3 (judge.py, beside this script, decides).
# The kernel's own command was:
#   {original}
here=$(cd "$(dirname "$0")" && pwd) || exit 2
quiet=
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --quiet) quiet=1 ;;
    --log) keep=$2; shift ;;
    *) break ;;
    esac
    shift
done
src=${{1:-$here/{REDUCED_SOURCE}}}
command -v {compiler} >/dev/null 2>&1 || {{ echo "repro.sh: cannot run: {compiler} is not installed" >&2; exit 2; }}
log=$(mktemp) || exit 2
{words} >"$log" 2>&1
if [ $? = 0 ]; then
    v=10  # it compiled
{quick}else
    python3 "$here/{JUDGE_FILE}" --anywhere "$log" >/dev/null
    v=$?
fi
[ -z "$quiet" ] && cat "$log"
[ -n "$keep" ] && cp "$log" "$keep"
rm -f "$log"
case $v in
0) [ -z "$quiet" ] && echo "REPRODUCED: {sig.describe()}"; exit 0 ;;
10) [ -z "$quiet" ] && echo "did not reproduce"; exit 1 ;;
*) exit 2 ;;
esac
"""


def prefilter(sig: Signature) -> str:
    """repro.sh's quick no: a compile whose output lacks the message's words is not the
    failure, and needs no python (C-Vise runs thousands of tests). The judge decides the rest."""
    from ltobisect.logs.judge_grep import message
    from ltobisect.logs.llvmcrash import printed

    text = sig.message if sig.kind == SignatureKind.COMPILE_ERROR else printed(sig.message) \
        if sig.kind == SignatureKind.CRASH else ""
    if not text:
        return ""
    return (f"elif ! grep -E -q {_sh(message(text))} \"$log\"; then\n"
            f"    v=10  # another message\n")


