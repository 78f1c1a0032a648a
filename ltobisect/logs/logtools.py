"""How the tools of a kernel build word their failures, where one line is not enough.

:mod:`ltobisect.logs.logscan` walks a log line by line; this module holds what needs the lines around
one: which compiler printed a diagnostic, GNU ld's and gold's errors (the linker named on the
line, on the ``in function`` line above or in collect2's summary below), the object make failed to build, and the location a linker error is
about. Its patterns of make's ``*** [target] Error N`` line and collect2's summary also serve
the scan's last resort.

Tools: linker errors name the linker (``ld`` for GNU ld, also when only its wording or
collect2's summary shows it, ``ld.gold``, ``ld.lld``); compile errors name the compiler the log
shows for that diagnostic (``gcc`` or ``clang``, else ``cc`` when it cannot be told).
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

from .lognorm import MAKE_LINE, OWN_LINE_PREFIX, normalize_path, normalize_text, tool_name
from ..model import Signature, SignatureKind

#: make's line for a target it failed to build: ``make[2]: *** [scripts/Makefile.build:250: fs/x.o] Error 1``.
MAKE_ERROR = re.compile(
    r"^(?:g?make)(?:\[\d+\])?: \*\*\* \[(?P<where>[^\]]*)\] (?P<what>Error \d+|Killed|Terminated|Segmentation fault.*|Aborted.*|"
    r"Illegal instruction.*|Bus error.*|Floating point exception.*|Interrupt)$"
)

# GNU ld (and gold) wording. The linker's name prefixes some lines ("/usr/bin/ld: ",
# "aarch64-linux-gnu-ld: "); the line of an undefined reference often has only the place.
_LD_TOOL = r"(?:\S*/)?(?:[A-Za-z0-9_]+-){0,4}(?:ld|ld\.bfd|ld\.gold|gold)(?:-[\d.]+)?"
# "/usr/bin/ld: net/sched.o: in function `qdisc_enqueue':" (the prefix is not always there).
_LD_CONTEXT = re.compile(rf"^(?:(?P<tool>{_LD_TOOL}):\s+)?(?P<obj>\S+?): in function [`'‘](?P<func>[^'’]*)['’]:$")
# Phrases of GNU ld's errors that stand on a line of their own (after a place, or after "ld: ").
_LD_CORE = (r"undefined reference to|multiple definition of|relocation truncated to fit|"
            r"dangerous relocation|undefined hidden symbol|relocation R_\S+ against .* can not be used")
_LD_MORE = (r"cannot find |final link failed|will not fit in region|region [`'][^']*' overflowed by|"
            r"file format not recognized|file not recognized|cannot open linker script file|"
            r"undefined symbol [`'][^']*' referenced in expression|could not find output section|"
            r"no memory region specified|section \S+ LMA .* overlaps section")
_LD_PREFIXED = re.compile(
    rf"^(?P<tool>{_LD_TOOL}):\s+(?:(?P<where>.*?):\s+)?(?:error:\s+)?(?P<msg>(?:{_LD_CORE}|{_LD_MORE}).*)$"
)
# "sched.c:(.text+0x37): undefined reference to `x'", "net/a.o:a.c:function f: error: ..." (gold).
_LD_BARE = re.compile(
    rf"^(?P<where>[^\s:][^\s]*?(?::function [^\s:]+)?):\s+(?P<gold>error:\s+)?(?P<msg>(?:{_LD_CORE}).*)$"
)
_LD_SYMBOL = re.compile(r"^(?:undefined reference to|multiple definition of|undefined hidden symbol) '([^']+)'")
#: collect2's summary of a failed link: ``collect2: error: ld returned 1 exit status``.
COLLECT2 = re.compile(r"^(?:\S*/)?collect2(?:\.exe)?: (?:fatal )?error: (?P<tool>\S+) returned (?P<n>\d+) exit status$")

# Which compiler printed a diagnostic. gcc: "file.c: In function 'f':", "cc1: all warnings being
# treated as errors", "compilation terminated."; clang: "2 errors generated.", "clang-16: error:".
_GCC_BEFORE = re.compile(r"^\S.*: (?:In (?:member |static member )?function|In constructor|In destructor|"
                         r"At top level|In lambda function)\b.*:$")
_GCC_AFTER = re.compile(r"^(?:\S*/)?cc1(?:plus)?: (?:all |some )?warnings being treated as errors$|"
                        r"^compilation terminated\.$|^(?:\S*/)?cc1(?:plus|obj)?: ")
_CLANG_AFTER = re.compile(r"^\d+ errors? generated\.$|^\d+ warnings? and \d+ errors? generated\.$|"
                          r"^(?:\S*/)?clang(?:\+\+)?(?:-[\d.]+)?: (?:error|warning|note): ")
# A printed compile command (V=1): "gcc -Wp,-MMD,... -c -o fs/x.o fs/x.c", maybe behind ccache.
_CC_COMMAND = re.compile(
    r"^\s*(?:\S*ccache\s+)?(?P<cc>(?:\S*/)?(?:[A-Za-z0-9_]+-){0,4}(?:gcc|clang|cc|g\+\+|clang\+\+|c\+\+)"
    r"(?:-[\d.]+)?)\s.*\s-c\b"
)
_QUIET_STEP = re.compile(r"^\s+(?:CC|AS|LD|AR|HOSTCC|HOSTLD|GEN|CPP|OBJCOPY|CALL|DESCEND)(?:\s|\[)")


def log_compiler(lines: Sequence[str]) -> str:
    """The compiler of a whole log when a diagnostic's own surroundings do not tell.

    Our header's ``CC=`` (else ``LLVM=``: clang), then the only compiler whose traces the log
    shows; ``cc`` (neutral) when there are none or both.
    """
    gcc = clang = False
    for ln in lines:
        if ln.startswith(OWN_LINE_PREFIX):
            m = re.search(r"\bCC=(?:\S*ccache\s+)?([^\s'\"]+)", ln)
            if m:
                return tool_name(m.group(1))
            if re.search(r"\bLLVM=\S", ln):
                return "clang"
            continue
        if _CLANG_AFTER.match(ln):
            clang = True
        elif _GCC_AFTER.match(ln) or _GCC_BEFORE.match(ln):
            gcc = True
    if gcc != clang:
        return "gcc" if gcc else "clang"
    return "cc"


def compiler_for(lines: Sequence[str], i: int, file: str, default: str) -> str:
    """The compiler that printed the diagnostic on line ``i`` about ``file``.

    Evidence in order: the printed compile command of that file (V=1 logs), gcc's
    ``In function`` header above it, what follows it up to make's error line (clang's ``N errors
    generated.``; gcc's ``cc1: ... warnings being treated as errors``), else ``default``.
    """
    base = file.rsplit("/", 1)[-1]
    for ln in reversed(lines[max(0, i - 200):i]):
        m = _CC_COMMAND.match(ln)
        if m and base and base in ln:
            name = tool_name(m.group("cc"))
            return {"g++": "gcc", "c++": "cc", "clang++": "clang"}.get(name, name)
    for ln in reversed(lines[max(0, i - 40):i]):
        if _QUIET_STEP.match(ln) or MAKE_LINE.match(ln) or ln.startswith(OWN_LINE_PREFIX):
            break
        if _GCC_BEFORE.match(ln):
            return "gcc"
    for ln in lines[i + 1:i + 400]:
        if _CLANG_AFTER.match(ln):
            return "clang"
        if _GCC_AFTER.match(ln):
            return "gcc"
        if MAKE_LINE.match(ln) or _QUIET_STEP.match(ln):
            break
    return default


def gnu_ld(lines: Sequence[str], i: int, roots: Sequence[str]) -> Optional[Signature]:
    """A GNU ld (or gold) error on line ``i``, or ``None``.

    The tool is the linker named on the line or on the ``in function`` line above it, else the
    one collect2 reports below, else ``ld``; gold's own layout (``obj:src:function f: error:``)
    names ``ld.gold``. Undefined references and multiple definitions are about their symbol;
    other errors about the object named on the line or in the ``in function`` line above.
    """
    ln = lines[i]
    m = _LD_PREFIXED.match(ln)
    gold = False
    if m:
        where = m.group("where") or ""
        if "warning" in where.split(":")[0] or where.startswith("warning"):
            return None
        tool = tool_name(m.group("tool"))
    else:
        m = _LD_BARE.match(ln)
        if not m:
            return None
        where = m.group("where")
        gold = bool(m.group("gold")) or ":function " in where
        tool = ""
    context_obj = ""
    for above in reversed(lines[max(0, i - 3):i]):
        c = _LD_CONTEXT.match(above)
        if c:
            context_obj = c.group("obj")
            tool = tool or (tool_name(c.group("tool")) if c.group("tool") else "")
            break
    if not tool:
        if gold:
            tool = "ld.gold"
        else:
            for below in lines[i + 1:i + 40]:
                c2 = COLLECT2.match(below)
                if c2:
                    tool = tool_name(c2.group("tool"))
                    break
    tool = tool or "ld"
    msg = m.group("msg")
    if msg.startswith("multiple definition of"):
        msg = msg.split(";", 1)[0]
    msg = normalize_text(msg, roots)
    sym = _LD_SYMBOL.match(msg)
    if sym:
        location = sym.group(1)
    else:
        obj = re.sub(r"\([^()]*\)$", "", where).rstrip(":").split(":", 1)[0]
        if not obj.endswith((".o", ".a", ".so")) and context_obj:
            obj = context_obj
        location = normalize_path(obj, roots) if obj.endswith((".o", ".a", ".so")) else ""
    return Signature(kind=SignatureKind.LINK_ERROR, tool=tool, message=msg, location=location)


def make_object(lines: Sequence[str], start: int, roots: Sequence[str]) -> str:
    """The object make failed to build after line ``start`` ("[...: fs/fhandle.o] Error 1")."""
    for ln in lines[start:start + 400]:
        m = MAKE_ERROR.match(ln)
        if m:
            where = m.group("where")
            target = where.rsplit(": ", 1)[-1] if ": " in where else where
            return normalize_path(target, roots)
    return ""


def inside_link(lines: Sequence[str], i: int) -> bool:
    """Whether line ``i`` belongs to a link step (an LTO code-generation diagnostic)."""
    for ln in reversed(lines[max(0, i - 30):i]):
        s = ln.strip()
        if s.startswith(("LD ", "CC ", "AS ")):
            return s.startswith("LD ")
    return False


def link_location(msg: str, lines: Sequence[str], i: int, roots: Sequence[str]) -> str:
    """What a linker error is about: the symbol for undefined/duplicate symbols, else the file."""
    m = re.match(r"(?:undefined symbol|duplicate symbol|undefined hidden symbol): (.+)$", msg)
    if m:
        return m.group(1).strip()
    m = re.match(r"([^\s:]+\.(?:o|a|bc|lto\.o)):", msg)
    if m:
        return normalize_path(m.group(1), roots)
    return ""
