"""One failing compile, found, preprocessed and reduced with C-Vise.

The command: a failing compile leaves no ``.cmd`` file (kbuild writes it after the compiler
succeeds), and ``make V=1`` prints commands in each project's own way, so the minimal config is
built once more with CC set to a small recorder (:data:`RECORDER`) in front of the build's own
compiler (ccache included): each call leaves its directory, arguments and exit status in a
file. The failing call whose source the signature names, run again in its directory, must show
the failure (:func:`find_failing`); that is the command.

The source: the same command with ``-E`` instead of ``-c`` (its dependency-file options
dropped) writes the preprocessed file. The compile that judges it (:func:`judge_argv`) is the
command without what only the preprocessor reads (``-I``, ``-D``, ``-include``, ``-Wp,...``),
with ``-c FILE -o /dev/null``: every code generation and warning flag stays, so the failure is
the kernel's (clang also gets ``-ferror-limit=0``: expanded macros may show other errors first).
When the front end alone (``-fsyntax-only``) shows the failure, as it does for most errors and
warnings, that is the compile: no optimization or code generation, each test several times
faster; a failure of the back end (a crash in a pass, a frame-size warning) keeps ``-c``. The file must show the session's signature (:func:`ltobisect.logs.signature.shows_anywhere`:
any file name, the same kind, tool and message) before C-Vise starts, and every variant C-Vise
keeps must show it too: another error is not interesting, so the reduction cannot slip to it.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ltobisect import process
from ltobisect.logs import signature as sg
from ltobisect.model import Signature, SignatureKind

#: The compiler recorder CC is set to: ``sh record.sh <the build's compiler> ARGS``.
RECORDER = """\
#!/bin/sh
# ltobisect's compiler recorder: note the directory, arguments and exit status of each
# compiler call in $LTOBISECT_RECORD, then return the compiler's own status.
f=$(mktemp -p "${LTOBISECT_RECORD:?}") || exit 125  # tmp.<random>, one file a call
printf '%s\\0' "$PWD" "$@" >"$f"
"$@"
status=$?
echo "$status" >"$f.status"
exit "$status"
"""
#: Wrappers in front of the compiler that the command for a maintainer leaves out.
_WRAPPERS = ("ccache", "sccache", "distcc")
#: Options the preprocessor alone reads, with a separate value, and as prefixes.
_PP_WITH_VALUE = ("-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-D", "-U",
                  "-MF", "-MT", "-MQ", "-iprefix", "-iwithprefix", "--sysroot")
_PP_PREFIXES = ("-I", "-D", "-U", "-Wp,", "-isystem", "-iquote", "-idirafter", "-include",
                "-imacros", "-MF", "-MT", "-MQ")
_PP_ALONE = ("-nostdinc", "-MD", "-MMD", "-MP", "-M", "-MM", "-MG", "-H", "-P", "-C", "-CC")
#: Sources a compile reads.
_SOURCES = (".c", ".i", ".S", ".s", ".cc", ".cpp")


@dataclass(frozen=True)
class Call:
    """One recorded compiler call."""

    cwd: str
    argv: Tuple[str, ...]  # the compiler and its arguments, wrappers left out
    status: Optional[int]

    @property
    def compiler(self) -> str:
        return self.argv[0]

    def source(self) -> Optional[str]:
        """The file compiled (the argument after the options that ends like a source)."""
        skip = False
        found = None
        for a in self.argv[1:]:
            if skip:
                skip = False
                continue
            if a in ("-o", "-x", "-MF", "-MT", "-MQ", "-include", "-imacros", "-I", "-D", "-U",
                     "-isystem", "-iquote", "-idirafter", "-Xclang", "-mllvm", "-target"):
                skip = True
                continue
            if not a.startswith("-") and a.endswith(_SOURCES):
                found = a
        return found

    def output(self) -> Optional[str]:
        args = list(self.argv)
        for i, a in enumerate(args[:-1]):
            if a == "-o":
                return args[i + 1]
        return None

    def compiles(self) -> bool:
        return "-c" in self.argv and self.source() is not None


def recorded(record_dir: Path) -> List[Call]:
    """Every call the recorder noted, oldest first."""
    calls = []
    for path in sorted(record_dir.glob("tmp.*"), key=lambda p: p.stat().st_mtime_ns):
        if path.suffix == ".status":
            continue
        try:
            words = path.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if words and words[-1] == "":
            words.pop()
        if len(words) < 2:
            continue
        cwd, argv = words[0], words[1:]
        while len(argv) > 1 and Path(argv[0]).name in _WRAPPERS:
            argv = argv[1:]
        status: Optional[int] = None
        try:
            status = int(Path(f"{path}.status").read_text().strip())
        except (OSError, ValueError):
            pass
        calls.append(Call(cwd=cwd, argv=tuple(argv), status=status))
    return calls


def _named(call: Call, sig: Signature) -> bool:
    """Whether the signature's place is this call's source or object."""
    loc = sig.location.split(":", 1)[0]
    if not loc:
        return False
    src, out = call.source() or "", call.output() or ""
    for path in (src, out):
        path = path[2:] if path.startswith("./") else path
        if path and (path == loc or path.endswith("/" + loc) or loc.endswith("/" + path)):
            return True
    stem = loc.rsplit(".", 1)[0]
    return bool(stem) and any(p.rsplit(".", 1)[0].endswith(stem) for p in (src, out) if p)


def candidates(calls: Sequence[Call], sig: Signature) -> List[Call]:
    """The failed compiles, the ones the signature names first (then the last to fail)."""
    failed = [c for c in calls if c.compiles() and c.status not in (0, None)]
    return sorted(reversed(failed), key=lambda c: not _named(c, sig))


def run_call(argv: Sequence[str], cwd: str, log: Path, env: dict, limit: float,
             stop) -> Tuple[int, str]:
    """Run one compiler command; its exit status (-1: killed) and output."""
    with open(log, "wb") as sink:
        done = process.run(list(argv), cwd=Path(cwd), env=env, stdout=sink, timeout=limit,
                           stop=stop)
    text = log.read_text(errors="replace")
    return (-1 if done.killed_by_us else os.waitstatus_to_exitcode(done.status)), text


def _without_dep_files(args: Sequence[str]) -> List[str]:
    out: List[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-MD", "-MMD", "-MP") or a.startswith(("-Wp,-MD,", "-Wp,-MMD,")):
            continue
        out.append(a)
    return out


def preprocess_argv(call: Call, dest: Path) -> List[str]:
    """The call with ``-E`` for ``-c`` and ``-o dest``: its preprocessed source."""
    args = _without_dep_files(call.argv[1:])
    out: List[str] = [call.compiler]
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        out.append("-E" if a == "-c" else a)
    return out + ["-o", str(dest)]


def judge_argv(call: Call, source: str, syntax_only: bool = False) -> List[str]:
    """The compile of a preprocessed ``source`` with the call's own compiler and flags;
    ``syntax_only``: the front end alone (``-fsyntax-only``), for a failure it reports."""
    out: List[str] = [call.compiler]
    args = list(call.argv[1:])
    original = call.source()
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o",) + _PP_WITH_VALUE:
            skip = True
            continue
        if a in _PP_ALONE or a == "-c" or a == original:
            continue
        if a.startswith(_PP_PREFIXES):
            continue
        out.append(a)
    if "clang" in Path(call.compiler).name:
        # Macros no longer hide what they expand to: a preprocessed kernel file may give clang
        # twenty other errors first, and clang stops at twenty by default.
        out.append("-ferror-limit=0")
    if syntax_only:
        return out + ["-fsyntax-only", source]
    return out + ["-c", source, "-o", "/dev/null"]


def shown(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def crash_flags(call: Call, sig: Signature, where: Path) -> List[str]:
    """For a clang crash: the flag that keeps clang's own crash reproducer in ``where``."""
    if sig.kind != SignatureKind.CRASH or "clang" not in Path(call.compiler).name:
        return []
    return [f"-fcrash-diagnostics-dir={where}"]


def shows(sig: Signature, text: str, roots: Sequence[str] = ()) -> bool:
    """The judge of a compile of the reduced file: the failure at any place."""
    return sg.shows_anywhere(sig, text, roots=roots)
