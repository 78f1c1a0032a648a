"""The grep that reproduce.sh falls back on without python3: a pattern of the failure's own line.

judge.py (:mod:`ltobisect.artifacts.judge_bundle`) decides exactly as ltobisect does; where no python3
runs it, reproduce.sh still must not call a build reproduced because it printed the failure's
symbol in another error (a compile error of the function whose link failed names it too).
:func:`fallback_pattern` turns the signature back into an extended regular expression (POSIX
``grep -E``) of the line the failing tool prints: the message in that tool's layout, anchored
where the layout allows, with the file for a compile error and the linker's wording for a link
error. Normalization is undone loosely: a quote matches every quoting style the tools use, a
normalized token (``<tmp>``, ``<n>``, ``0x<addr>``) what it replaced, a space any run of blanks, and
a relative path may follow the directories a build prints before it. It is less exact than the
judge (a message whose offsets normalization removed may not match), never a bare word.
"""
from __future__ import annotations

import re
from typing import List, Optional

from ltobisect.logs.llvmcrash import legacy, printed
from ltobisect.logs.lognorm import GNU_LINKERS
from ltobisect.model import Signature, SignatureKind

#: Any directories before a relative path (the tree's or the output directory's, ``./``).
_DIRS = "([^[:space:]]*/)?"
_BLANKS = "[[:space:]]*"
#: The severity of a compiler's or linker's error.
_ERROR = "(fatal error|error)"
_MAKE = r"g?make(\[[0-9]+\])?: \*\*\* "
_SPECIAL = set(".[]()*+?{}|^$\\")
#: What normalization wrote (lognorm.normalize_text), and what it stood for.
_UNDO = re.compile(r"0x<addr>|<tmp>/|<tmp>|<n>|['\"]|\s+")
_UNDONE = {
    "0x<addr>": "0x[0-9a-fA-F]+",
    "<tmp>/": "[^[:space:]]*/",
    "<tmp>": "[^[:space:]]*",
    "<n>": "[.A-Za-z0-9_]*",
    "'": "(`|'|\u2018|\u2019)",
    '"': '("|\u201c|\u201d)',
}


def literal(text: str) -> str:
    """``text`` as an ERE that matches it literally."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def message(text: str) -> str:
    """A normalized message as an ERE of the texts it was normalized from."""
    out: List[str] = []
    pos = 0
    for m in _UNDO.finditer(text):
        out.append(literal(text[pos:m.start()]))
        tok = m.group()
        out.append("[[:space:]]+" if tok.isspace() else _UNDONE[tok])
        pos = m.end()
    out.append(literal(text[pos:]))
    return "".join(out)


def _path(location: str) -> str:
    """A normalized path as it shows at the start of a line: after any directories."""
    return location if location.startswith("/") else _DIRS + literal(location)


def _file_and_line(location: str) -> str:
    """``FILE:LINE:COL`` of a diagnostic whose location is ``FILE`` or ``FILE:LINE``."""
    m = re.match(r"^(?P<file>.*?)(?::(?P<line>\d+))?$", location)
    assert m is not None
    line = m.group("line") or "[0-9]+"
    return "^" + _path(m.group("file")) + f":{line}(:[0-9]+)?:"


def _tool(tool: str) -> str:
    """A tool's name as a line starts with it: maybe a path or a cross prefix, maybe a version."""
    return "^([^[:space:]]*[/-])?" + literal(tool) + "(-[0-9.]+)?:"


def fallback_pattern(sig: Optional[Signature]) -> Optional[str]:
    """An ERE of the log line that shows ``sig``; ``None`` for what a log line cannot show
    (no signature, a threshold, a timeout, a test script's verdict)."""
    if sig is None:
        return None
    kind, msg, loc = sig.kind, message(sig.message), sig.location
    if kind == SignatureKind.REGEX:
        return sig.message  # the user's pattern, as close to ERE as it is
    if kind == SignatureKind.COMPILE_ERROR:
        if loc and not loc.startswith("<"):
            return f"{_file_and_line(loc)}{_BLANKS}{_ERROR}:{_BLANKS}{msg}{_BLANKS}$"
        if loc:  # <inline asm>, <instantiation>: the location has no directories
            return (f"^{literal(loc.split(':')[0])}:[0-9]+(:[0-9]+)?:{_BLANKS}{_ERROR}:"
                    f"{_BLANKS}{msg}{_BLANKS}$")
        head = _tool(sig.tool) if sig.tool else "^[^[:space:]]+:"
        return f"{head}{_BLANKS}{_ERROR}:{_BLANKS}{msg}{_BLANKS}$"
    if kind == SignatureKind.LINK_ERROR:
        if sig.tool in GNU_LINKERS:
            # GNU ld puts its wording after the place (``sched.c:(.text+0x5): undefined
            # reference to `f'``), after its own name, or in collect2's summary.
            return f"(^|[[:space:]:]){msg}"
        return f"{_tool(sig.tool)}{_BLANKS}{_ERROR}:{_BLANKS}{msg}"
    if kind == SignatureKind.MODPOST:
        return f"^(ERROR|FATAL): modpost: {msg}"
    if kind in (SignatureKind.OBJTOOL, SignatureKind.OBJTOOL_WARNING):
        sev = "error" if kind == SignatureKind.OBJTOOL else "warning"
        return f"^{_path(loc)}:{_BLANKS}{sev}: objtool: {msg}"
    if kind == SignatureKind.KCONFIG:
        if sig.message.startswith("unmet direct dependencies detected for"):
            return f"^WARNING: {msg}([[:space:]]|$)"
        return f"{_file_and_line(loc)}{_BLANKS}(warning|error):{_BLANKS}{msg}"
    if kind == SignatureKind.MAKE:
        if loc and sig.message.startswith(loc + ": "):
            what = message(sig.message[len(loc) + 2:]).replace("Error", "Error [0-9]+")
            return f"^{_MAKE}\\[([^]]*: )?{_path(loc)}\\] {what}"
        return f"^{_MAKE}{msg}"
    if kind == SignatureKind.CRASH:
        said = printed(sig.message)
        if said:  # the assertion's condition, the start of LLVM's fatal error
            return message(said)
        if legacy(sig.message) and sig.message.startswith("crashed: "):
            return f"(^|[[:space:]:]){message(sig.message[len('crashed: '):])}"
        return "PLEASE submit a bug report|failed due to signal|unable to execute command"
    if kind == SignatureKind.KILLED:
        return "(^|[[:space:]:])Killed([[:space:]]|$)"
    return None
