"""The failures of a build log: every error a scan of its lines recognizes, and which is primary.

A signature names one failure: the tool that reported it, the kind of error, the normalized
message and the file or symbol it is about. :func:`find_all` and :func:`extract_all` find every
failure in a log (``make -k`` logs often hold several unrelated ones); :func:`extract` picks the
primary one; :func:`failures` lists the distinct errors as ``ltobisect failures`` numbers them
and :func:`regex_failure` finds the one a ``--signature`` regex points at. Normalization is
:mod:`ltobisect.logs.lognorm`'s, the wording of tools that spans several lines
:mod:`ltobisect.logs.logtools`'; matching a log against a signature is :mod:`ltobisect.logs.signature`'s.

Kinds produced here: ``compile-error``, ``link-error``, ``modpost``, ``objtool``, ``kconfig``,
``crash`` (a compiler or linker crashed, named by what LLVM said: :mod:`ltobisect.logs.llvmcrash`), ``killed`` (a tool killed by a signal, usually the
OOM killer), ``make`` (make's own errors, and as the last resort ``make``'s "Error N" line).
The oracle adds ``timeout``; users give ``regex``, ``memory`` and ``duration`` signatures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

from .lognorm import (
    COMPILERS,
    LINKERS,
    OWN_LINE_PREFIX,
    log_lines,
    normalize_path,
    normalize_text,
    strip_roots,
    tool_name,
    with_log_roots,
)
from .logtools import (
    COLLECT2,
    MAKE_ERROR,
    compiler_for,
    gnu_ld,
    inside_link,
    link_location,
    log_compiler,
    make_object,
)
from .llvmcrash import crash_at, is_anchor, signal_words
from ..model import Signature, SignatureKind

#: Kinds that describe a failure (an error), in order of how primary they are: when a log holds
#: several, the first kind in this list wins, then the earliest line.
ERROR_KINDS = ("compile-error", "crash", "link-error", "modpost", "killed", "objtool", "make")
#: Kinds that are warnings: a signature of their own only if the user asks for one, never the
#: primary failure of a failing log unless nothing else failed.
WARNING_KINDS = ("kconfig", "objtool-warning")


@dataclass(frozen=True)
class Finding:
    """One failure found in a log: its signature, the line it starts on and whether it is an error."""

    signature: Signature
    line: int  # 0-based index into the log's lines
    is_error: bool
    #: What ``failures`` shows instead of the log line (a crash: its identity in words, the
    #: program as the build named it), else "".
    words: str = ""


# --- patterns of the tools' one-line messages ------------------------------------------------

# clang / gcc diagnostics: "fs/fhandle.c:12:2: error: message" (also "fatal error:").
_DIAG = re.compile(
    r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<sev>fatal error|error):\s*(?P<msg>.*)$"
)
# diagnostics without a location: "clang-16: error: unable to execute command: Killed".
_TOOL_ERROR = re.compile(r"^(?P<tool>(?:\S*/)?(?:[A-Za-z0-9_]+-){0,4}(?:clang|gcc|cc|ld\.lld|ld\.gold|ld\.bfd|ld|lld|llvm-\w+|objcopy|ar)(?:-[\d.]+)?(?:\+\+)?):\s*(?P<sev>error|fatal error):\s*(?P<msg>.*)$")
_MODPOST = re.compile(r"^(?:ERROR|WARNING|FATAL): modpost: (?P<msg>.*)$")
_OBJTOOL = re.compile(r"^(?P<obj>\S+?):\s*(?P<sev>warning|error): objtool: (?P<msg>.*)$")
_KCONFIG_UNMET = re.compile(r"^WARNING: unmet direct dependencies detected for (?P<sym>\S+)")
_KCONFIG_FILE = re.compile(r"^(?P<file>[^\s:]*(?:Kconfig[^\s:]*|\.config|config[^\s:]*)):(?P<line>\d+):\s*warning:\s*(?P<msg>.*)$")
_KCONFIG_RECURSIVE = re.compile(r"^(?P<file>\S*Kconfig\S*):(?P<line>\d+):error: (?P<msg>.*)$")
_MAKE_OWN = re.compile(  # make's own errors; a makefile's syntax error names its file and line
    r"^(?:(?:g?make)(?:\[\d+\])?|(?P<file>[^\s:]+):(?P<line>\d+)): \*\*\* (?P<msg>(?:No rule to make target|missing separator|"
    r"No targets specified|multiple target patterns|target pattern contains no|"
    r"commands commence before first target|recipe commences before first target)[^\n]*?)(?:\s+Stop\.)?$"
)
_KILLED = re.compile(
    r"^(?:(?P<tool>\S+): error: unable to execute command: (?P<sig>Killed|Segmentation fault.*|Aborted.*|Bus error.*|Terminated)"
    r"|(?P<tool2>\S+): error: (?:clang frontend command|linker command) failed due to signal"
    r"|(?:/bin/sh: line \d+: )?(?:\d+ )?(?P<bare>Killed)(?:\s.*)?)$"
)


def find_all(log_text: str, *, roots: Sequence[str] = (), keep_lines: bool = False) -> List[Finding]:
    """Every failure in a log, in log order, with the line it first shows on."""
    out: List[Finding] = []
    seen: set = set()
    for f in _scan(log_text, roots, keep_lines):
        key = _key(f.signature)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _key(sig: Signature) -> Tuple[str, str, str, str]:
    return (sig.kind, sig.tool, sig.message, sig.location)


def _scan(log_text: str, roots: Sequence[str], keep_lines: bool) -> Iterator[Finding]:
    """Every occurrence of a failure in a log, in log order (repeats included)."""
    lines = log_lines(log_text)
    roots = with_log_roots(log_text, roots)
    compiler = log_compiler(lines)
    report_end = 0
    for i, ln in enumerate(lines):
        if ln.startswith(OWN_LINE_PREFIX):
            continue
        if is_anchor(lines, i):
            if i < report_end:
                continue  # inside the report just read: another thread's words on that crash
            found = crash_at(lines, i, roots, keep_lines)
            report_end = found.end
            yield Finding(found.signature, found.first, True, found.words)
            continue
        ld = gnu_ld(lines, i, roots)
        if ld is not None:
            yield Finding(ld, i, True)
            continue
        m = _DIAG.match(ln)
        if m and not _KCONFIG_RECURSIVE.match(ln):
            file = normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines)
            tool = compiler_for(lines, i, m.group("file"), compiler)
            if file.startswith("<inline asm>") or file.startswith("<instantiation>"):
                tool = "ld.lld" if inside_link(lines, i) else compiler
            yield Finding(
                Signature(kind=SignatureKind.COMPILE_ERROR, tool=tool, message=normalize_text(m.group("msg"), roots), location=file),
                i,
                True,
            )
            continue
        m = _KILLED.match(ln)
        if m and (m.group("tool2") or m.group("sig") and not m.group("sig").startswith("Killed")) \
                and i < report_end:
            continue  # the driver's word on the crash report just read (its last lines)
        if m:
            tool = tool_name(m.group("tool") or m.group("tool2") or "") if (m.group("tool") or m.group("tool2")) else ""
            what = m.group("sig") or ("crashed" if m.group("tool2") else "Killed")
            kind = "crash" if m.group("tool2") or (what and not what.startswith(("Killed", "Terminated"))) else "killed"
            msg = "killed by signal 9 (Killed)" if what.startswith("Killed") else normalize_text(what, roots)
            if kind == SignatureKind.CRASH:
                msg = "crashed" if what == "crashed" else f"crashed: {signal_words(what)}"
            yield Finding(Signature(kind=kind, tool=tool, message=msg, location=make_object(lines, i, roots)), i, True)
            continue
        m = _TOOL_ERROR.match(ln)
        if m:
            tool = tool_name(m.group("tool"))
            msg = normalize_text(m.group("msg"), roots)
            is_link = tool in LINKERS
            if tool in COMPILERS and re.match(r"(linker|clang frontend) command failed", msg):
                continue  # a consequence; the cause is on an earlier line
            location = ""
            if is_link:
                location = link_location(msg, lines, i, roots)
            yield Finding(
                Signature(kind=SignatureKind.LINK_ERROR if is_link else "compile-error", tool=tool, message=msg, location=location),
                i,
                True,
            )
            continue
        m = _MODPOST.match(ln)
        if m:
            is_error = not ln.startswith("WARNING")
            msg = normalize_text(m.group("msg"), roots)
            sym = re.search(r'"([^"]+)"', msg)
            yield Finding(Signature(kind=SignatureKind.MODPOST, tool="modpost", message=msg, location=sym.group(1) if sym else ""), i, is_error)
            continue
        m = _OBJTOOL.match(ln)
        if m:
            is_error = m.group("sev") == "error"
            msg = normalize_text(m.group("msg"), roots)
            yield Finding(
                Signature(
                    kind=SignatureKind.OBJTOOL if is_error else "objtool-warning",
                    tool="objtool",
                    message=msg,
                    location=normalize_path(m.group("obj"), roots),
                ),
                i,
                is_error,
            )
            continue
        m = _KCONFIG_UNMET.match(ln)
        if m:
            yield Finding(
                Signature(kind=SignatureKind.KCONFIG, tool="kconfig", message=f"unmet direct dependencies detected for {m.group('sym')}", location=m.group("sym")),
                i,
                False,
            )
            continue
        m = _KCONFIG_FILE.match(ln) or _KCONFIG_RECURSIVE.match(ln)
        if m:
            yield Finding(
                Signature(
                    kind=SignatureKind.KCONFIG,
                    tool="kconfig",
                    message=normalize_text(m.group("msg"), roots),
                    location=normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines),
                ),
                i,
                bool(_KCONFIG_RECURSIVE.match(ln)),
            )
            continue
        m = _MAKE_OWN.match(ln)
        if m:
            msg = normalize_text(m.group("msg").rstrip(". "), roots)
            where = normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines) \
                if m.group("file") else ""
            yield Finding(Signature(kind=SignatureKind.MAKE, tool="make", message=msg,
                                    location=where), i, True)
            continue


def fallback(log_text: str, roots: Sequence[str]) -> Optional[Finding]:
    """For a failure no tool pattern recognized: collect2's summary, else make's 'Error N' line.

    ``collect2: error: ld returned 1 exit status`` at least says the linker failed: a
    ``link-error`` of that linker, about the target make then failed to build.
    """
    roots = with_log_roots(log_text, roots)
    lines = log_lines(log_text)
    for i, ln in enumerate(lines):
        m = COLLECT2.match(ln)
        if m:
            tool = tool_name(m.group("tool"))
            msg = f"{tool} returned {m.group('n')} exit status"
            return Finding(Signature(kind=SignatureKind.LINK_ERROR, tool=tool, message=msg,
                                     location=make_object(lines, i, roots)), i, True)
    for i, ln in enumerate(lines):
        m = MAKE_ERROR.match(ln)
        if m:
            where = m.group("where")
            target = where.rsplit(": ", 1)[-1] if ": " in where else where
            what = m.group("what")
            what = re.sub(r"Error \d+", "Error", what)
            msg = f"{normalize_path(target, roots)}: {what}"
            return Finding(Signature(kind=SignatureKind.MAKE, tool="make", message=msg, location=normalize_path(target, roots)), i, True)
    return None


def extract_all(log_text: str, *, roots: Sequence[str] = (), keep_lines: bool = False) -> List[Signature]:
    """Every distinct failure (and Kconfig/objtool warning) in a log, in log order."""
    return [f.signature for f in find_all(log_text, roots=roots, keep_lines=keep_lines)]


def primary(findings: Sequence[Finding]) -> Optional[Finding]:
    """The primary failure among findings: the most specific error kind, then the earliest."""
    errors = [f for f in findings if f.is_error]
    if not errors:
        return None
    rank = {k: n for n, k in enumerate(ERROR_KINDS)}
    return min(errors, key=lambda f: (rank.get(f.signature.kind, len(rank)), f.line))


def extract(log_text: str, *, roots: Sequence[str] = (), keep_lines: bool = False) -> Optional[Signature]:
    """The primary failure of a log, or ``None`` when the log shows no error at all.

    A compile error ranks before a crash, a link error, modpost, a killed tool, objtool and make's
    own errors; among equals the earliest line wins. When no tool's error is recognized, make's
    ``*** [target] Error N`` line gives a ``make`` signature naming the target.
    """
    found = primary(find_all(log_text, roots=roots, keep_lines=keep_lines))
    if found is None:
        fb = fallback(log_text, roots)
        return fb.signature if fb else None
    return found.signature


@dataclass(frozen=True)
class LogFailure:
    """One distinct failure of a build log, as ``ltobisect failures`` lists it.

    ``number`` counts from 1 in log order (what ``--failure N`` takes); ``text`` is the log
    line it first shows on (the build's directories removed; for a crash, its identity in words), ``count`` how many times it shows
    (a header's error repeats once per file that includes it); ``primary`` marks the one a
    session takes when not told which.
    """

    number: int
    signature: Signature
    line: int
    text: str
    count: int
    primary: bool = False

    def to_json(self) -> dict:
        sig = self.signature
        return {"number": self.number, "kind": sig.kind, "tool": sig.tool, "message": sig.message,
                "location": sig.location, "line": self.text, "count": self.count,
                "primary": self.primary, "signature": sig.describe()}


def _line_text(lines: Sequence[str], i: int, roots: Sequence[str], width: int = 240) -> str:
    text = strip_roots(lines[i].strip(), roots) if 0 <= i < len(lines) else ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _text(f: Finding, lines: Sequence[str], roots: Sequence[str]) -> str:
    """What ``failures`` shows of a failure: its log line, for a crash what identifies it (the
    lines of a crash report name no crash: LLVM's maintainers search for its identity)."""
    return f.words or _line_text(lines, f.line, roots)


def _errors(log_text: str, roots: Sequence[str]) -> List[Finding]:
    """Every occurrence of an error in a log (warnings left out), in log order."""
    return [f for f in _scan(log_text, roots, False) if f.is_error]


def _listing(log_text: str, roots: Sequence[str], errors: Sequence[Finding]) -> List[LogFailure]:
    lines = log_lines(log_text)
    all_roots = with_log_roots(log_text, roots)
    order: List[Finding] = []
    counts: dict = {}
    for f in errors:
        key = _key(f.signature)
        if key not in counts:
            order.append(f)
            counts[key] = 0
        counts[key] += 1
    if not order:
        fb = fallback(log_text, roots)
        if fb is None:
            return []
        order, counts = [fb], {_key(fb.signature): 1}
    first = primary(order)
    return [LogFailure(n, f.signature, f.line, _text(f, lines, all_roots),
                       counts[_key(f.signature)], f is first)
            for n, f in enumerate(order, 1)]


def failures(log_text: str, *, roots: Sequence[str] = ()) -> List[LogFailure]:
    """The distinct failures (errors, not warnings) of a log, numbered in log order.

    When no tool's error is recognized, make's own failure (collect2's summary or ``*** [x]
    Error N``) is the one failure, as :func:`extract` would take it. Empty for a clean log.
    """
    return _listing(log_text, roots, _errors(log_text, roots))


def regex_failure(log_text: str, pattern: str, *, roots: Sequence[str] = (),
                  reach: int = 10) -> Optional[LogFailure]:
    """The failure a ``--signature`` regex points at: the error on the first line it matches.

    A match on a line that is not an error itself (a ``note:``, a source line under the caret)
    belongs to the nearest error above it, up to ``reach`` lines; ``None`` when the regex
    matches no line near an error, or nothing at all.
    """
    try:
        rx = re.compile(pattern, re.MULTILINE)
    except re.error:
        return None
    errors = _errors(log_text, roots)
    by_key = {_key(f.signature): f for f in _listing(log_text, roots, errors)}
    where = [(f.line, by_key[_key(f.signature)]) for f in errors if _key(f.signature) in by_key]
    at, pos = 0, 0
    for m in rx.finditer(log_text):
        at += log_text.count("\n", pos, m.start())  # the match's line, counted once over the log
        pos = m.start()
        above = [(i, f) for i, f in where if at - reach <= i <= at]
        if above:
            return max(above, key=lambda pair: pair[0])[1]
    return None
