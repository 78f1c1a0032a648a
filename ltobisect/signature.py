"""Failure signatures: what a build log failed of, normalized so that two runs compare equal.

A signature names one failure: the tool that reported it, the kind of error, the normalized
message and the file or symbol it is about. :func:`extract_all` finds every failure in a log
(``make -k`` logs often hold several unrelated ones); :func:`extract` picks the primary one;
:func:`matches` says whether a log shows a given signature anywhere, which is how the oracle
decides ``REPRODUCES`` without letting a different failure count.

Normalization removes what changes between runs of the same failure: the O= directory and the
source tree prefixes (``roots``), version suffixes of tool names (``ld.lld-16`` -> ``ld.lld``),
line and column numbers (unless ``keep_lines``), addresses and offsets (``+0x1c/0x40``),
temporary file names (``/tmp/cc3Fa9.o``, ``fhandle-4b1f2e.o``, ``.tmp_vmlinux.kallsyms1``),
ThinLTO's promoted-name suffixes (``.llvm.123456``) and ``__UNIQUE_ID`` counters.

Kinds produced here: ``compile-error``, ``link-error``, ``modpost``, ``objtool``, ``kconfig``,
``crash`` (a compiler or linker crashed), ``killed`` (a tool killed by a signal, usually the
OOM killer), ``make`` (make's own errors, and as the last resort ``make``'s "Error N" line).
The oracle adds ``timeout``; users give ``regex``, ``memory`` and ``duration`` signatures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from .errors import UserError
from .model import Signature

#: Kinds that describe a failure (an error), in order of how primary they are: when a log holds
#: several, the first kind in this list wins, then the earliest line.
ERROR_KINDS = ("compile-error", "crash", "link-error", "modpost", "killed", "objtool", "make")
#: Kinds that are warnings: a signature of their own only if the user asks for one, never the
#: primary failure of a failing log unless nothing else failed.
WARNING_KINDS = ("kconfig", "objtool-warning")

#: Lines we write into logs ourselves (header, footer); never part of a failure.
OWN_LINE_PREFIX = "# ltobisect:"


@dataclass(frozen=True)
class Finding:
    """One failure found in a log: its signature, the line it starts on and whether it is an error."""

    signature: Signature
    line: int  # 0-based index into the log's lines
    is_error: bool


# --- normalization -------------------------------------------------------------------------

_TOOL_SUFFIX = re.compile(r"^(?:.*/)?([A-Za-z][\w.+]*?)(?:-\d+(?:\.\d+)*)?$")
_LINE_COL = re.compile(r"^(?P<file>[^\s:]+?)(?::(?P<line>\d+))?(?::(?P<col>\d+))?$")
_TMP_FILE = re.compile(r"(?<![\w.-])(?:/var)?/tmp/(?=[^/\s:'\"(),]+(?:[\s:'\"(),]|$))")
_CLANG_TMP = re.compile(r"\b([\w.+]+)-[0-9a-f]{6}\.(o|s|bc|ll|c|i)\b")
_CC_TMP = re.compile(r"\bcc[A-Za-z0-9]{6}\.(o|s|c|i)\b")
_KALLSYMS_TMP = re.compile(r"\.tmp_vmlinux\.?kallsyms\d+|\.tmp_vmlinux\d+")
_DOT_TMP = re.compile(r"\.tmp_\d+")
_ADDR = re.compile(r"0x[0-9a-fA-F]+")
_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?")
_LLVM_SUFFIX = re.compile(r"\.llvm\.\d+")
_UNIQUE_ID = re.compile(r"(__UNIQUE_ID_\w*?)\d+\b")
_MAKE_LEVEL = re.compile(r"^(g?make)(?:\[\d+\])?:")
_SPACES = re.compile(r"\s+")


def tool_name(word: str) -> str:
    """``/usr/bin/ld.lld-16`` -> ``ld.lld``; ``clang-16`` -> ``clang``."""
    m = _TOOL_SUFFIX.match(word.strip())
    return m.group(1) if m else word.strip()


def _strip_roots(text: str, roots: Sequence[str]) -> str:
    for root in sorted({r.rstrip("/") for r in roots if r and r.rstrip("/")}, key=len, reverse=True):
        text = text.replace(root + "/", "")
        text = text.replace(root, ".")
    return text


def normalize_text(text: str, roots: Sequence[str] = ()) -> str:
    """Remove from one message what differs between runs of the same failure."""
    text = _strip_roots(text, roots)
    text = _TMP_FILE.sub("<tmp>/", text)
    text = _CLANG_TMP.sub(r"\1-<tmp>.\2", text)
    text = _CC_TMP.sub(r"<tmp>.\1", text)
    text = _KALLSYMS_TMP.sub(".tmp_vmlinux<n>", text)
    text = _DOT_TMP.sub(".tmp_<n>", text)
    text = _LLVM_SUFFIX.sub(".llvm.<n>", text)
    text = _UNIQUE_ID.sub(r"\1<n>", text)
    text = _OFFSET.sub("", text)
    text = _ADDR.sub("0x<addr>", text)
    text = text.replace("./", "") if text.startswith("./") else text
    return _SPACES.sub(" ", text).strip()


def normalize_path(path: str, roots: Sequence[str] = (), keep_lines: bool = False) -> str:
    """A file reference as a location: roots stripped, ``:line:col`` dropped unless kept."""
    path = _strip_roots(path.strip(), roots)
    while path.startswith("./"):
        path = path[2:]
    m = _LINE_COL.match(path)
    if m and not keep_lines:
        path = m.group("file")
    elif m and keep_lines and m.group("line"):
        path = f"{m.group('file')}:{m.group('line')}"
    return normalize_text(path)


# --- patterns of the tools' messages ---------------------------------------------------------

# clang / gcc diagnostics: "fs/fhandle.c:12:2: error: message" (also "fatal error:").
_DIAG = re.compile(
    r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<sev>fatal error|error):\s*(?P<msg>.*)$"
)
# diagnostics without a location: "clang-16: error: unable to execute command: Killed".
_TOOL_ERROR = re.compile(r"^(?P<tool>(?:\S*/)?(?:clang|gcc|cc|ld\.lld|ld|lld|llvm-\w+|ld\.bfd|objcopy|ar)(?:-[\d.]+)?(?:\+\+)?):\s*(?P<sev>error|fatal error):\s*(?P<msg>.*)$")
_LLD_REF = re.compile(r"^>>>\s*(?:referenced by|defined at)\s+(?P<where>.*)$")
_MODPOST = re.compile(r"^(?:ERROR|WARNING|FATAL): modpost: (?P<msg>.*)$")
_OBJTOOL = re.compile(r"^(?P<obj>\S+?):\s*(?P<sev>warning|error): objtool: (?P<msg>.*)$")
_KCONFIG_UNMET = re.compile(r"^WARNING: unmet direct dependencies detected for (?P<sym>\S+)")
_KCONFIG_FILE = re.compile(r"^(?P<file>[^\s:]*(?:Kconfig[^\s:]*|\.config|config[^\s:]*)):(?P<line>\d+):\s*warning:\s*(?P<msg>.*)$")
_KCONFIG_RECURSIVE = re.compile(r"^(?P<file>\S*Kconfig\S*):(?P<line>\d+):error: (?P<msg>.*)$")
_MAKE_OWN = re.compile(
    r"^(?:g?make)(?:\[\d+\])?: \*\*\* (?P<msg>(?:No rule to make target|missing separator|"
    r"No targets specified|multiple target patterns|target pattern contains no|"
    r"commands commence before first target|recipe commences before first target)[^\n]*?)(?:\s+Stop\.)?$"
)
_MAKE_ERROR = re.compile(
    r"^(?:g?make)(?:\[\d+\])?: \*\*\* \[(?P<where>[^\]]*)\] (?P<what>Error \d+|Killed|Terminated|Segmentation fault.*|Interrupt)$"
)
_KILLED = re.compile(
    r"^(?:(?P<tool>\S+): error: unable to execute command: (?P<sig>Killed|Segmentation fault.*|Aborted.*|Bus error.*|Terminated)"
    r"|(?P<tool2>\S+): error: (?:clang frontend command|linker command) failed due to signal"
    r"|(?:/bin/sh: line \d+: )?(?:\d+ )?(?P<bare>Killed)(?:\s.*)?)$"
)
_CRASH = re.compile(r"^PLEASE submit a bug report to ")
_CRASH_ARGS = re.compile(r"^\s*0\.\s+Program arguments:\s+(?P<prog>\S+)")
_CRASH_CONTEXT = re.compile(r"^\s*(?P<n>\d+)\.\s+(?P<what>.*)$")
_CRASH_WHERE = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<what>.*)$")
_NO_SPACE = re.compile(r"No space left on device|Disk quota exceeded", re.IGNORECASE)


def _lines(log_text: str) -> List[str]:
    return [ln.rstrip("\r") for ln in log_text.splitlines()]


def _make_object(lines: Sequence[str], start: int, roots: Sequence[str]) -> str:
    """The object make failed to build after line ``start`` ("[...: fs/fhandle.o] Error 1")."""
    for ln in lines[start:start + 400]:
        m = _MAKE_ERROR.match(ln)
        if m:
            where = m.group("where")
            target = where.rsplit(": ", 1)[-1] if ": " in where else where
            return normalize_path(target, roots)
    return ""


def find_all(log_text: str, *, roots: Sequence[str] = (), keep_lines: bool = False) -> List[Finding]:
    """Every failure in a log, in log order, with the line it starts on."""
    lines = _lines(log_text)
    out: List[Finding] = []
    seen: set = set()

    def add(sig: Signature, i: int, is_error: bool) -> None:
        key = (sig.kind, sig.tool, sig.message, sig.location)
        if key not in seen:
            seen.add(key)
            out.append(Finding(sig, i, is_error))

    compiler = "clang"
    for i, ln in enumerate(lines):
        if ln.startswith(OWN_LINE_PREFIX):
            m = re.search(r"\bCC=(?:\S*ccache\s+)?(\S+)", ln)
            if m:
                compiler = tool_name(m.group(1).strip("'\""))
            continue
        m = _DIAG.match(ln)
        if m and not _KCONFIG_RECURSIVE.match(ln):
            file = normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines)
            tool = compiler
            if file.startswith("<inline asm>") or file.startswith("<instantiation>"):
                tool = "ld.lld" if _inside_link(lines, i) else compiler
            add(
                Signature(kind="compile-error", tool=tool, message=normalize_text(m.group("msg"), roots), location=file),
                i,
                True,
            )
            continue
        m = _KILLED.match(ln)
        if m:
            tool = tool_name(m.group("tool") or m.group("tool2") or "") if (m.group("tool") or m.group("tool2")) else ""
            what = m.group("sig") or ("crashed" if m.group("tool2") else "Killed")
            kind = "crash" if m.group("tool2") or (what and not what.startswith(("Killed", "Terminated"))) else "killed"
            msg = "killed by signal 9 (Killed)" if what.startswith("Killed") else normalize_text(what, roots)
            if kind == "crash":
                msg = "crashed" if what == "crashed" else f"crashed: {normalize_text(what, roots)}"
            add(Signature(kind=kind, tool=tool, message=msg, location=_make_object(lines, i, roots)), i, True)
            continue
        m = _TOOL_ERROR.match(ln)
        if m:
            tool = tool_name(m.group("tool"))
            msg = normalize_text(m.group("msg"), roots)
            is_link = tool in ("ld.lld", "ld", "lld", "ld.bfd")
            if tool in ("clang", "gcc", "cc") and re.match(r"(linker|clang frontend) command failed", msg):
                continue  # a consequence; the cause is on an earlier line
            location = ""
            if is_link:
                location = _link_location(msg, lines, i, roots)
            add(
                Signature(kind="link-error" if is_link else "compile-error", tool=tool, message=msg, location=location),
                i,
                True,
            )
            continue
        m = _MODPOST.match(ln)
        if m:
            is_error = not ln.startswith("WARNING")
            msg = normalize_text(m.group("msg"), roots)
            sym = re.search(r'"([^"]+)"', msg)
            add(Signature(kind="modpost", tool="modpost", message=msg, location=sym.group(1) if sym else ""), i, is_error)
            continue
        m = _OBJTOOL.match(ln)
        if m:
            is_error = m.group("sev") == "error"
            msg = normalize_text(m.group("msg"), roots)
            add(
                Signature(
                    kind="objtool" if is_error else "objtool-warning",
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
            add(
                Signature(kind="kconfig", tool="kconfig", message=f"unmet direct dependencies detected for {m.group('sym')}", location=m.group("sym")),
                i,
                False,
            )
            continue
        m = _KCONFIG_FILE.match(ln) or _KCONFIG_RECURSIVE.match(ln)
        if m:
            add(
                Signature(
                    kind="kconfig",
                    tool="kconfig",
                    message=normalize_text(m.group("msg"), roots),
                    location=normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines),
                ),
                i,
                bool(_KCONFIG_RECURSIVE.match(ln)),
            )
            continue
        if _CRASH.match(ln):
            add(_crash(lines, i, roots, keep_lines), i, True)
            continue
        m = _MAKE_OWN.match(ln)
        if m:
            msg = normalize_text(m.group("msg").rstrip(". "), roots)
            add(Signature(kind="make", tool="make", message=msg), i, True)
            continue
    return out


def _crash(lines: Sequence[str], i: int, roots: Sequence[str], keep_lines: bool) -> Signature:
    """A compiler or linker crash: LLVM's "PLEASE submit a bug report" and its stack dump.

    The message is the most specific crash context LLVM printed: the last ``Running pass ...``
    line (a back-end or LTO crash) or else context 1 (the parser's position); the location is the
    source file of that context, else the object make was building.
    """
    prog, contexts = "", []
    for follow in lines[i + 1:i + 80]:
        a = _CRASH_ARGS.match(follow)
        if a:
            prog = tool_name(a.group("prog"))
            continue
        c = _CRASH_CONTEXT.match(follow)
        if c and c.group("n") != "0":
            contexts.append(c.group("what").strip())
        elif follow.lstrip().startswith("#"):
            break
    passes = [c for c in contexts if c.startswith("Running pass")]
    what = passes[-1] if passes else (contexts[0] if contexts else "")
    location = ""
    w = _CRASH_WHERE.match(what)
    if w:
        location = normalize_path(f"{w.group('file')}:{w.group('line')}", roots, keep_lines)
        what = w.group("what")
    if not location:
        location = _make_object(lines, i, roots)
    message = f"crashed: {normalize_text(what, roots)}" if what else "crashed"
    return Signature(kind="crash", tool=prog, message=message, location=location)


def _inside_link(lines: Sequence[str], i: int) -> bool:
    """Whether line ``i`` belongs to a link step (an LTO code-generation diagnostic)."""
    for ln in reversed(lines[max(0, i - 30):i]):
        s = ln.strip()
        if s.startswith(("LD ", "CC ", "AS ")):
            return s.startswith("LD ")
    return False


def _link_location(msg: str, lines: Sequence[str], i: int, roots: Sequence[str]) -> str:
    """What a linker error is about: the symbol for undefined/duplicate symbols, else the file."""
    m = re.match(r"(?:undefined symbol|duplicate symbol|undefined hidden symbol): (.+)$", msg)
    if m:
        return m.group(1).strip()
    m = re.match(r"([^\s:]+\.(?:o|a|bc|lto\.o)):", msg)
    if m:
        return normalize_path(m.group(1), roots)
    return ""


def _fallback(log_text: str, roots: Sequence[str]) -> Optional[Finding]:
    """make's 'Error N' line, for a failure no tool pattern recognized."""
    for i, ln in enumerate(_lines(log_text)):
        m = _MAKE_ERROR.match(ln)
        if m:
            where = m.group("where")
            target = where.rsplit(": ", 1)[-1] if ": " in where else where
            what = m.group("what")
            what = re.sub(r"Error \d+", "Error", what)
            msg = f"{normalize_path(target, roots)}: {what}"
            return Finding(Signature(kind="make", tool="make", message=msg, location=normalize_path(target, roots)), i, True)
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
        fb = _fallback(log_text, roots)
        return fb.signature if fb else None
    return found.signature


def _keeps_lines(sig: Signature) -> bool:
    return sig.kind in ("compile-error", "kconfig") and bool(re.search(r":\d+$", sig.location))


def _same_location(a: str, b: str) -> bool:
    """Equal, or one path ends with the other at a ``/`` (a log from a tree we have no root for)."""
    if a == b:
        return True
    if "/" not in a and "/" not in b:
        return False
    a, b = a.replace("<tmp>/", "/"), b.replace("<tmp>/", "/")
    short, long_ = sorted((a, b), key=len)
    return bool(short) and long_.endswith("/" + short.lstrip("/")) and not short.startswith("/")


def _same(a: Signature, b: Signature) -> bool:
    """Same failure: kind, tool, message equal and the same location (see :func:`_same_location`)."""
    return (a.kind, a.tool, a.message) == (b.kind, b.tool, b.message) and _same_location(a.location, b.location)


def matches(
    sig: Signature,
    log_text: str,
    *,
    roots: Sequence[str] = (),
    peak_rss: Optional[int] = None,
    duration: Optional[float] = None,
    keep_lines: Optional[bool] = None,
) -> bool:
    """Whether a log (and its measurements) shows the failure ``sig`` anywhere.

    ``regex`` signatures search the log (multiline); ``memory`` and ``duration`` compare
    ``peak_rss`` (bytes) and ``duration`` (seconds) with the threshold (strictly above);
    ``timeout`` never matches a log (only the oracle knows it killed a build). Any other kind
    matches when one of the log's failures has the same kind, tool, message and location.
    ``keep_lines`` defaults to what the signature shows (a location ending in ``:<line>``).
    """
    if sig.kind == "regex":
        return re.search(sig.message, log_text, re.MULTILINE) is not None
    if sig.kind == "memory":
        return peak_rss is not None and sig.threshold is not None and peak_rss > sig.threshold
    if sig.kind == "duration":
        return duration is not None and sig.threshold is not None and duration > sig.threshold
    if sig.kind in ("timeout", "script"):
        return False
    keep = _keeps_lines(sig) if keep_lines is None else keep_lines
    if any(_same(sig, s) for s in extract_all(log_text, roots=roots, keep_lines=keep)):
        return True
    if sig.kind == "make":
        fb = _fallback(log_text, roots)
        return fb is not None and _same(sig, fb.signature)
    return False


def from_regex(pattern: str) -> Signature:
    """A user-given signature: the log must match ``pattern`` (Python ``re``, multiline)."""
    try:
        re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise UserError(f"bad signature regex {pattern!r}: {exc}", hint="use Python re syntax") from exc
    if not pattern:
        raise UserError("empty signature regex", hint="give a pattern that the failing log matches")
    return Signature(kind="regex", message=pattern)


def memory_above(threshold_bytes: int) -> Signature:
    """A user-given signature: the build's peak memory is above ``threshold_bytes``."""
    if threshold_bytes <= 0:
        raise UserError(f"memory threshold must be positive, not {threshold_bytes}")
    return Signature(kind="memory", threshold=float(threshold_bytes))


def duration_above(seconds: float) -> Signature:
    """A user-given signature: the build takes longer than ``seconds`` of wall time."""
    if seconds <= 0:
        raise UserError(f"duration threshold must be positive, not {seconds}")
    return Signature(kind="duration", threshold=float(seconds))


def disk_full(log_text: str) -> bool:
    """Whether the log says a disk or quota filled up (our side, not the config's)."""
    return _NO_SPACE.search(log_text) is not None


def _locate(log_text: str, sig: Signature, roots: Sequence[str]) -> Optional[int]:
    """The 0-based line where ``sig`` shows in the log, or ``None``."""
    if sig.kind == "regex":
        m = re.search(sig.message, log_text, re.MULTILINE)
        return log_text.count("\n", 0, m.start()) if m else None
    if sig.kind in ("memory", "duration", "timeout", "script"):
        return None
    keep = _keeps_lines(sig)
    for f in find_all(log_text, roots=roots, keep_lines=keep):
        if _same(f.signature, sig):
            return f.line
    if sig.kind == "make":
        fb = _fallback(log_text, roots)
        if fb is not None and _same(fb.signature, sig):
            return fb.line
    return None


def excerpt(log_text: str, sig: Optional[Signature], context: int = 10, *, roots: Sequence[str] = ()) -> str:
    """The log lines around the failure ``sig`` (``context`` lines either side), for a report.

    When the signature is not found in the log (a threshold, a timeout, a log from another
    failure), the first error of the log is shown, else the log's last ``2 * context`` lines;
    the result is empty only for an empty log.
    """
    lines = [ln for ln in _lines(log_text) if not ln.startswith(OWN_LINE_PREFIX)]
    text = "\n".join(lines)
    at = _locate(text, sig, roots) if sig is not None else None
    if at is None:
        first = primary(find_all(text, roots=roots))
        at = first.line if first else None
    if at is None:
        fb = _fallback(text, roots)
        at = fb.line if fb else None
    if at is None:
        tail = lines[-2 * context:] if context > 0 else lines[-1:]
        return "\n".join(tail).strip("\n")
    start, end = max(0, at - context), min(len(lines), at + context + 1)
    return "\n".join(lines[start:end])


def describe_all(sigs: Iterable[Signature]) -> Tuple[str, ...]:
    """One line per signature, for logs and reports."""
    return tuple(s.describe() for s in sigs)
