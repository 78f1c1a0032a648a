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
ThinLTO's promoted-name suffixes (``.llvm.123456``) and ``__UNIQUE_ID`` counters, and the
quoting style (GNU ld's ```sym'`` and gcc's UTF-8 ``‘sym’`` both become ``'sym'``, as lld and
gcc under ``LANG=C`` print). The roots are the caller's plus those :func:`log_roots` reads off
the log itself (make's ``Entering directory`` lines, ``-C``/``O=``/``M=`` of printed make
commands, kbuild's absolute ``<srctree>/scripts/Makefile.*`` paths), so a user's log from
another machine normalizes as the workers' logs do.

Tools: linker errors name the linker (``ld`` for GNU ld, also when only its wording or
collect2's summary shows it, ``ld.gold``, ``ld.lld``); compile errors name the compiler the log
shows for that diagnostic (``gcc`` or ``clang``, else ``cc`` when it cannot be told). Matching
does not compare compiler labels: a compile error is the same failure when kind, message and
file agree, whichever of ``gcc``/``clang``/``cc`` reported it (gcc's and clang's wordings differ,
so a real difference of compiler still shows as a different message).

Kinds produced here: ``compile-error``, ``link-error``, ``modpost``, ``objtool``, ``kconfig``,
``crash`` (a compiler or linker crashed), ``killed`` (a tool killed by a signal, usually the
OOM killer), ``make`` (make's own errors, and as the last resort ``make``'s "Error N" line).
The oracle adds ``timeout``; users give ``regex``, ``memory`` and ``duration`` signatures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

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

_TOOL_SUFFIX = re.compile(r"^(?:.*/)?([A-Za-z][\w.+-]*?)(?:-\d+(?:\.\d+)*)?$")
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
# GNU ld's `sym' and gcc's UTF-8 ‘sym’ (and “sym”): quoted as lld and gcc under LANG=C quote.
_GNU_QUOTE = re.compile(r"`([^`'\n]*)'")
_UTF8_QUOTE = re.compile(r"[‘’]")
_UTF8_DQUOTE = re.compile(r"[“”]")


_CROSS_TOOL = re.compile(
    r"^(?:.*/)?[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+){1,3}-"
    r"(?P<tool>gcc|g\+\+|cc|ld|ld\.bfd|ld\.gold|as|ar|objcopy|nm|strip)(?:-\d+(?:\.\d+)*)?$"
)
#: Names of C compilers; compile errors of any of them compare equal (see :func:`_same`).
COMPILERS = frozenset({"clang", "gcc", "cc", "cc1", "clang++", "g++", "c++"})
#: Names of GNU-style linkers (their ``ld:`` lines and wording) and of lld.
GNU_LINKERS = frozenset({"ld", "ld.bfd", "ld.gold", "gold", "collect2"})
LINKERS = GNU_LINKERS | {"ld.lld", "lld"}


def tool_name(word: str) -> str:
    """``/usr/bin/ld.lld-16`` -> ``ld.lld``; ``clang-16`` -> ``clang``; ``aarch64-linux-gnu-ld`` -> ``ld``."""
    word = word.strip()
    m = _CROSS_TOOL.match(word)
    if m:
        return m.group("tool")
    m = _TOOL_SUFFIX.match(word)
    return m.group(1) if m else word


def _strip_roots(text: str, roots: Sequence[str]) -> str:
    """Remove the root directories from paths in ``text`` (``<root>/x`` -> ``x``, ``<root>`` -> ``.``).

    A root is replaced only as a whole path: ``/work`` leaves ``/workspace/x`` and
    ``/src/work/x`` alone, but not ``-I/work/include`` (a one-letter option glued to it).
    """
    clean = sorted({r.rstrip("/") for r in roots if r and r.rstrip("/")}, key=len, reverse=True)
    if not clean:
        return text
    alt = "|".join(re.escape(r) for r in clean)
    pattern = re.compile(rf"(?:(?<![\w.+/-])|(?<=(?<![\w.+/-])-[A-Za-z]))(?:{alt})(?:(?P<slash>/)|(?![\w.+-]))")
    return pattern.sub(lambda m: "" if m.group("slash") else ".", text)


def normalize_text(text: str, roots: Sequence[str] = ()) -> str:
    """Remove from one message what differs between runs of the same failure."""
    text = _strip_roots(text, roots)
    text = _GNU_QUOTE.sub(r"'\1'", text)
    text = _UTF8_QUOTE.sub("'", text)
    text = _UTF8_DQUOTE.sub('"', text)
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
_TOOL_ERROR = re.compile(r"^(?P<tool>(?:\S*/)?(?:[A-Za-z0-9_]+-){0,4}(?:clang|gcc|cc|ld\.lld|ld\.gold|ld\.bfd|ld|lld|llvm-\w+|objcopy|ar)(?:-[\d.]+)?(?:\+\+)?):\s*(?P<sev>error|fatal error):\s*(?P<msg>.*)$")
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
_COLLECT2 = re.compile(r"^(?:\S*/)?collect2(?:\.exe)?: (?:fatal )?error: (?P<tool>\S+) returned (?P<n>\d+) exit status$")

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
_MAKE_ANY = re.compile(r"^g?make(?:\[\d+\])?: ")

# Where a log's build ran: make's directory lines, printed make command lines, kbuild's paths.
_DIR_LINE = re.compile(r"^g?make(?:\[\d+\])?: (?:Entering|Leaving) directory [`'‘\"](?P<dir>/[^'’\"]*)['’\"]\s*$")
_MAKE_WORD = re.compile(r"(?:^|[\s/;&|(])g?make(?:\s|$)")
_MAKE_DIR_ARG = re.compile(r"(?:^|\s)(?:-C\s*|--directory=|(?:O|M|KBUILD_OUTPUT|KBUILD_EXTMOD)=)"
                           r"(?P<q>['\"]?)(?P<dir>/[^\s'\"]*)(?P=q)(?=\s|$)")
_KBUILD_SRCTREE = re.compile(r"(?<![\w.+/-])(?P<dir>/[^\s'\"`:;\[\]()]*?)/scripts/"
                             r"(?:Makefile\.\w+|Kbuild\.include|[\w.-]+\.(?:sh|py|pl))\b")
_MAKEFILE_AT = re.compile(r"\[(?P<dir>/[^\s:\]]*?)/(?:GNUmakefile|Makefile|makefile):\d+: ")
#: Directories never taken as a build's root (stripping them would erase real information).
_NOT_ROOTS = frozenset({
    "/", "/tmp", "/var/tmp", "/var", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/dev", "/proc",
    "/sys", "/home", "/opt", "/root", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec",
    "/usr/include", "/usr/share", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/include",
})


def _lines(log_text: str) -> List[str]:
    return [ln.rstrip("\r") for ln in log_text.splitlines()]


def _is_ancestor(parent: str, path: str) -> bool:
    """Whether ``path`` is ``parent`` or lies below it."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def log_roots(log_text: str) -> List[str]:
    """The directories a log's build ran in, read off the log itself, longest first.

    Sources: make's ``Entering directory '/path'`` (and ``Leaving``) lines; ``-C /path``,
    ``--directory=/path``, ``O=/path``, ``M=/path`` and ``KBUILD_OUTPUT=/path`` on printed make
    command lines (ours included); kbuild's ``<srctree>/scripts/Makefile.build`` style paths;
    and, as weaker evidence, the directory of a top ``<dir>/Makefile:N`` named in make's error
    lines, kept only when no stronger root already contains it (a recipe of
    ``<srctree>/arch/x86/Makefile`` must not make ``arch/x86`` a root). Only absolute paths are
    taken, and never a system directory such as ``/``, ``/tmp`` or ``/usr``.
    """
    strong: set = set()
    weak: set = set()
    for ln in _lines(log_text):
        m = _DIR_LINE.match(ln)
        if m:
            strong.add(m.group("dir"))
            continue
        if _MAKE_WORD.search(ln):
            strong.update(a.group("dir") for a in _MAKE_DIR_ARG.finditer(ln))
        strong.update(k.group("dir") for k in _KBUILD_SRCTREE.finditer(ln))
        if _MAKE_ANY.match(ln):
            weak.update(k.group("dir") for k in _MAKEFILE_AT.finditer(ln))

    def ok(path: str) -> bool:
        path = path.rstrip("/")
        return bool(path) and path not in _NOT_ROOTS and "/../" not in path + "/" and "/./" not in path + "/"

    roots = {r.rstrip("/") for r in strong if ok(r)}
    roots |= {w.rstrip("/") for w in weak if ok(w) and not any(_is_ancestor(r, w.rstrip("/")) for r in roots)}
    return sorted(roots, key=lambda r: (-len(r), r))


def _with_log_roots(log_text: str, roots: Sequence[str]) -> Tuple[str, ...]:
    """The given roots and those :func:`log_roots` infers from the log, without duplicates."""
    return tuple(dict.fromkeys([*roots, *log_roots(log_text)]))


def _log_compiler(lines: Sequence[str]) -> str:
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


def _compiler_for(lines: Sequence[str], i: int, file: str, default: str) -> str:
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
        if _QUIET_STEP.match(ln) or _MAKE_ANY.match(ln) or ln.startswith(OWN_LINE_PREFIX):
            break
        if _GCC_BEFORE.match(ln):
            return "gcc"
    for ln in lines[i + 1:i + 400]:
        if _CLANG_AFTER.match(ln):
            return "clang"
        if _GCC_AFTER.match(ln):
            return "gcc"
        if _MAKE_ANY.match(ln) or _QUIET_STEP.match(ln):
            break
    return default


def _gnu_ld(lines: Sequence[str], i: int, roots: Sequence[str]) -> Optional[Signature]:
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
                c2 = _COLLECT2.match(below)
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
    return Signature(kind="link-error", tool=tool, message=msg, location=location)


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
    lines = _lines(log_text)
    roots = _with_log_roots(log_text, roots)
    compiler = _log_compiler(lines)
    for i, ln in enumerate(lines):
        if ln.startswith(OWN_LINE_PREFIX):
            continue
        ld = _gnu_ld(lines, i, roots)
        if ld is not None:
            yield Finding(ld, i, True)
            continue
        m = _DIAG.match(ln)
        if m and not _KCONFIG_RECURSIVE.match(ln):
            file = normalize_path(f"{m.group('file')}:{m.group('line')}", roots, keep_lines)
            tool = _compiler_for(lines, i, m.group("file"), compiler)
            if file.startswith("<inline asm>") or file.startswith("<instantiation>"):
                tool = "ld.lld" if _inside_link(lines, i) else compiler
            yield Finding(
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
            yield Finding(Signature(kind=kind, tool=tool, message=msg, location=_make_object(lines, i, roots)), i, True)
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
                location = _link_location(msg, lines, i, roots)
            yield Finding(
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
            yield Finding(Signature(kind="modpost", tool="modpost", message=msg, location=sym.group(1) if sym else ""), i, is_error)
            continue
        m = _OBJTOOL.match(ln)
        if m:
            is_error = m.group("sev") == "error"
            msg = normalize_text(m.group("msg"), roots)
            yield Finding(
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
            yield Finding(
                Signature(kind="kconfig", tool="kconfig", message=f"unmet direct dependencies detected for {m.group('sym')}", location=m.group("sym")),
                i,
                False,
            )
            continue
        m = _KCONFIG_FILE.match(ln) or _KCONFIG_RECURSIVE.match(ln)
        if m:
            yield Finding(
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
            yield Finding(_crash(lines, i, roots, keep_lines), i, True)
            continue
        m = _MAKE_OWN.match(ln)
        if m:
            msg = normalize_text(m.group("msg").rstrip(". "), roots)
            yield Finding(Signature(kind="make", tool="make", message=msg), i, True)
            continue


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
    """For a failure no tool pattern recognized: collect2's summary, else make's 'Error N' line.

    ``collect2: error: ld returned 1 exit status`` at least says the linker failed: a
    ``link-error`` of that linker, about the target make then failed to build.
    """
    roots = _with_log_roots(log_text, roots)
    lines = _lines(log_text)
    for i, ln in enumerate(lines):
        m = _COLLECT2.match(ln)
        if m:
            tool = tool_name(m.group("tool"))
            msg = f"{tool} returned {m.group('n')} exit status"
            return Finding(Signature(kind="link-error", tool=tool, message=msg,
                                     location=_make_object(lines, i, roots)), i, True)
    for i, ln in enumerate(lines):
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


@dataclass(frozen=True)
class LogFailure:
    """One distinct failure of a build log, as ``ltobisect failures`` lists it.

    ``number`` counts from 1 in log order (what ``--failure N`` takes); ``text`` is the log
    line it first shows on (the build's directories removed), ``count`` how many times it shows
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
    text = _strip_roots(lines[i].strip(), roots) if 0 <= i < len(lines) else ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _errors(log_text: str, roots: Sequence[str]) -> List[Finding]:
    """Every occurrence of an error in a log (warnings left out), in log order."""
    return [f for f in _scan(log_text, roots, False) if f.is_error]


def _listing(log_text: str, roots: Sequence[str], errors: Sequence[Finding]) -> List[LogFailure]:
    lines = _lines(log_text)
    all_roots = _with_log_roots(log_text, roots)
    order: List[Finding] = []
    counts: dict = {}
    for f in errors:
        key = _key(f.signature)
        if key not in counts:
            order.append(f)
            counts[key] = 0
        counts[key] += 1
    if not order:
        fb = _fallback(log_text, roots)
        if fb is None:
            return []
        order, counts = [fb], {_key(fb.signature): 1}
    first = primary(order)
    return [LogFailure(n, f.signature, f.line, _line_text(lines, f.line, all_roots),
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
    return kind == "compile-error" and a in COMPILERS and b in COMPILERS


def _same(a: Signature, b: Signature) -> bool:
    """Same failure: kind, tool (see :func:`_same_tool`), message equal and the same location
    (see :func:`_same_location`)."""
    return ((a.kind, a.message) == (b.kind, b.message) and _same_tool(a.kind, a.tool, b.tool)
            and _same_location(a.location, b.location))


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
    if sig.kind in ("make", "link-error"):
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
    if sig.kind in ("make", "link-error"):
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
