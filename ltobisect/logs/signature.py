"""Failure signatures: build one from the user's words, and match a log against one.

A signature names one failure (:class:`ltobisect.model.Signature`). :func:`matches` says whether
a log shows a given signature anywhere, which is how the oracle decides ``REPRODUCES`` without
letting a different failure count; :func:`same` compares two signatures the same way;
:func:`from_regex`, :func:`memory_above` and :func:`duration_above` build the signatures users
give; :func:`excerpt` cuts the lines around a failure for a report.

Matching does not compare compiler labels: a compile error is the same failure when kind, message
and file agree, whichever of ``gcc``/``clang``/``cc`` reported it (gcc's and clang's wordings
differ, so a real difference of compiler still shows as a different message).

Finding the failures of a log is :mod:`ltobisect.logs.logscan`'s (normalizing their text
:mod:`ltobisect.logs.lognorm`'s); the names callers reach as ``signature.X`` (``extract``,
``failures``, ``regex_failure``, ``LogFailure``, ``normalize_text``, ``OWN_LINE_PREFIX``) are
re-exported here.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence, Tuple

from ..errors import UserError
from .llvmcrash import legacy, same_crash
from .lognorm import COMPILERS, OWN_LINE_PREFIX, log_lines, normalize_text
from .logscan import LogFailure, extract, extract_all, failures, fallback, find_all, primary, regex_failure
from .kinds import MEASURED_KINDS, at_the_link
from ..model import Signature, SignatureKind

__all__ = [
    "LogFailure", "OWN_LINE_PREFIX", "at_the_link", "describe_all", "disk_full", "duration_above", "excerpt",
    "extract", "extract_all", "failures", "from_regex", "matches", "memory_above",
    "normalize_text", "regex_failure", "replays", "same", "shows_anywhere",
]

_NO_SPACE = re.compile(r"No space left on device|Disk quota exceeded", re.IGNORECASE)


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


def _same_tool(kind: str, a: str, b: str) -> bool:
    """Equal tools; for compile errors any two compiler labels (``gcc``, ``clang``, ``cc``) agree.

    The label of a compile error is inferred from the log's surroundings and may be the neutral
    ``cc`` in one log and ``gcc`` in another of the same failure; the message tells compilers
    apart where it matters (gcc and clang word their diagnostics differently).
    """
    if a == b:
        return True
    return kind == SignatureKind.COMPILE_ERROR and a in COMPILERS and b in COMPILERS


def _same_message(kind: str, a: str, b: str) -> bool:
    """Equal messages; crashes by :func:`ltobisect.logs.llvmcrash.same_crash` (a part of the
    identity a log did not show is not a difference); a crash signature written before crashes
    had an identity (:func:`ltobisect.logs.llvmcrash.legacy`) agrees with any crash message, as it
    did then."""
    if a == b:
        return True
    return kind == SignatureKind.CRASH and (legacy(a) or legacy(b) or same_crash(a, b))


def _same(a: Signature, b: Signature) -> bool:
    """Same failure: kind, tool (see :func:`_same_tool`), message (see :func:`_same_message`)
    and location (see :func:`_same_location`). A crash's message is its identity (what LLVM
    said, the stage, the signal): two crashes of one program at one object differ by it."""
    return (a.kind == b.kind and _same_message(a.kind, a.message, b.message)
            and _same_tool(a.kind, a.tool, b.tool) and _same_location(a.location, b.location))


def same(a: Signature, b: Signature) -> bool:
    """Whether two signatures name the same failure (as :func:`matches` compares them)."""
    return _same(a, b)


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
    if sig.kind == SignatureKind.REGEX:
        return re.search(sig.message, log_text, re.MULTILINE) is not None
    if sig.kind == SignatureKind.MEMORY:
        return peak_rss is not None and sig.threshold is not None and peak_rss > sig.threshold
    if sig.kind == SignatureKind.DURATION:
        return duration is not None and sig.threshold is not None and duration > sig.threshold
    if sig.kind in (SignatureKind.TIMEOUT, SignatureKind.SCRIPT):
        return False
    keep = _keeps_lines(sig) if keep_lines is None else keep_lines
    if any(_same(sig, s) for s in extract_all(log_text, roots=roots, keep_lines=keep)):
        return True
    if sig.kind in ("make", "link-error"):
        fb = fallback(log_text, roots)
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
    return Signature(kind=SignatureKind.REGEX, message=pattern)


def memory_above(threshold_bytes: int) -> Signature:
    """A user-given signature: the build's peak memory is above ``threshold_bytes``."""
    if threshold_bytes <= 0:
        raise UserError(f"memory threshold must be positive, not {threshold_bytes}")
    return Signature(kind=SignatureKind.MEMORY, threshold=float(threshold_bytes))


def duration_above(seconds: float) -> Signature:
    """A user-given signature: the build takes longer than ``seconds`` of wall time."""
    if seconds <= 0:
        raise UserError(f"duration threshold must be positive, not {seconds}")
    return Signature(kind=SignatureKind.DURATION, threshold=float(seconds))


def replays(sig: Signature, log_text: str, *, roots: Sequence[str] = ()) -> bool:
    """Whether the log of a step replayed alone (a link run from its ``--reproduce`` tarball)
    shows ``sig``: as :func:`matches`, or the same failure without a place when nothing in the
    log names it (a ThinLTO backend thread's crash prints no arguments, no make line)."""
    if matches(sig, log_text, roots=roots):
        return True
    return any(s.kind == sig.kind and not s.location and _same_message(s.kind, sig.message, s.message)
               and _same_tool(s.kind, sig.tool, s.tool) for s in extract_all(log_text, roots=roots))


def shows_anywhere(sig: Signature, log_text: str, *, roots: Sequence[str] = ()) -> bool:
    """Whether the log shows ``sig``'s failure at any place: the same kind, tool and message,
    whatever file or object it names. A reduced reproducer (one preprocessed file, one merged
    module) shows the kernel's failure in a file of its own; anything else still differs: a
    different message or a different kind is another failure, never the same one moved."""
    if sig.kind == SignatureKind.REGEX or sig.kind in MEASURED_KINDS \
            or sig.kind in (SignatureKind.TIMEOUT, SignatureKind.SCRIPT):
        return matches(sig, log_text, roots=roots)
    return any(s.kind == sig.kind and _same_message(s.kind, sig.message, s.message)
               and not _unknown_crash(sig, s)
               and _same_tool(s.kind, sig.tool, s.tool) for s in extract_all(log_text, roots=roots))


def _unknown_crash(sig: Signature, seen: Signature) -> bool:
    """Whether ``seen`` is a crash the log says nothing of (``crashed``: no message, stage or
    signal) while the session's crash printed what it was. A reduced reproducer tried by a
    reducer may well crash another way without a word (measured: ld.lld-16 reading the summary
    of a module llvm-reduce had emptied, a segmentation fault that only the parent shell
    named); only a signature written before crashes had an identity agrees with any crash."""
    return (sig.kind == SignatureKind.CRASH and seen.message == "crashed"
            and not legacy(sig.message))


def disk_full(log_text: str) -> bool:
    """Whether the log says a disk or quota filled up (our side, not the config's)."""
    return _NO_SPACE.search(log_text) is not None


def _locate(log_text: str, sig: Signature, roots: Sequence[str]) -> Optional[int]:
    """The 0-based line where ``sig`` shows in the log, or ``None``."""
    if sig.kind == SignatureKind.REGEX:
        m = re.search(sig.message, log_text, re.MULTILINE)
        return log_text.count("\n", 0, m.start()) if m else None
    if sig.kind in MEASURED_KINDS:
        return None
    keep = _keeps_lines(sig)
    for f in find_all(log_text, roots=roots, keep_lines=keep):
        if _same(f.signature, sig):
            return f.line
    if sig.kind in ("make", "link-error"):
        fb = fallback(log_text, roots)
        if fb is not None and _same(fb.signature, sig):
            return fb.line
    return None


def excerpt(log_text: str, sig: Optional[Signature], context: int = 10, *, roots: Sequence[str] = ()) -> str:
    """The log lines around the failure ``sig`` (``context`` lines either side), for a report.

    When the signature is not found in the log (a threshold, a timeout, a log from another
    failure), the first error of the log is shown, else the log's last ``2 * context`` lines;
    the result is empty only for an empty log.
    """
    lines = [ln for ln in log_lines(log_text) if not ln.startswith(OWN_LINE_PREFIX)]
    text = "\n".join(lines)
    at = _locate(text, sig, roots) if sig is not None else None
    if at is None:
        first = primary(find_all(text, roots=roots))
        at = first.line if first else None
    if at is None:
        fb = fallback(text, roots)
        at = fb.line if fb else None
    if at is None:
        tail = lines[-2 * context:] if context > 0 else lines[-1:]
        return "\n".join(tail).strip("\n")
    start, end = max(0, at - context), min(len(lines), at + context + 1)
    return "\n".join(lines[start:end])


def describe_all(sigs: Iterable[Signature]) -> Tuple[str, ...]:
    """One line per signature, for logs and reports."""
    return tuple(s.describe() for s in sigs)
