"""Normalizing build-log text: what differs between runs of the same failure is removed.

This module owns the text side of failure signatures, below the recognition of errors
(:mod:`ltobisect.logs.logscan`): tool names, the removal of machine-specific parts from a message or
a path, and the directories a log's build ran in.

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
"""
from __future__ import annotations

import re
from typing import List, Sequence, Tuple

#: Lines we write into logs ourselves (header, footer); never part of a failure.
OWN_LINE_PREFIX = "# ltobisect:"
#: A line make itself prints (``make: ...``, ``make[2]: ...``).
MAKE_LINE = re.compile(r"^g?make(?:\[\d+\])?: ")
#: kbuild's short line of one step and its target (``  LD      vmlinux.o``, ``  CC [M]  fs/x.o``).
STEP_LINE = re.compile(r"^  [A-Z][A-Z0-9_]{1,11}(?: \[[A-Z]\])?\s+(?P<target>\S+)")

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
_SPACES = re.compile(r"\s+")
# GNU ld's `sym' and gcc's UTF-8 ‘sym’ (and “sym”): quoted as lld and gcc under LANG=C quote.
_GNU_QUOTE = re.compile(r"`([^`'\n]*)'")
_UTF8_QUOTE = re.compile(r"[‘’]")
_UTF8_DQUOTE = re.compile(r"[“”]")


_CROSS_TOOL = re.compile(
    r"^(?:.*/)?[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+){1,3}-"
    r"(?P<tool>gcc|g\+\+|cc|ld|ld\.bfd|ld\.gold|as|ar|objcopy|nm|strip)(?:-\d+(?:\.\d+)*)?$"
)
#: Names of C compilers; compile errors of any of them compare equal (see :func:`ltobisect.logs.signature.same`).
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


def strip_roots(text: str, roots: Sequence[str]) -> str:
    """Remove the root directories from paths in ``text`` (``<root>/x`` -> ``x``, ``<root>`` -> ``.``).

    A root is replaced only as a whole path: ``/build`` leaves ``/buildroot/x`` and
    ``/src/build/x`` alone, but not ``-I/build/include`` (a one-letter option glued to it).
    """
    clean = sorted({r.rstrip("/") for r in roots if r and r.rstrip("/")}, key=len, reverse=True)
    if not clean:
        return text
    alt = "|".join(re.escape(r) for r in clean)
    pattern = re.compile(rf"(?:(?<![\w.+/-])|(?<=(?<![\w.+/-])-[A-Za-z]))(?:{alt})(?:(?P<slash>/)|(?![\w.+-]))")
    return pattern.sub(lambda m: "" if m.group("slash") else ".", text)


def normalize_text(text: str, roots: Sequence[str] = ()) -> str:
    """Remove from one message what differs between runs of the same failure."""
    text = strip_roots(text, roots)
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
    path = strip_roots(path.strip(), roots)
    while path.startswith("./"):
        path = path[2:]
    m = _LINE_COL.match(path)
    if m and not keep_lines:
        path = m.group("file")
    elif m and keep_lines and m.group("line"):
        path = f"{m.group('file')}:{m.group('line')}"
    return normalize_text(path)


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


def log_lines(log_text: str) -> List[str]:
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
    for ln in log_lines(log_text):
        m = _DIR_LINE.match(ln)
        if m:
            strong.add(m.group("dir"))
            continue
        if _MAKE_WORD.search(ln):
            strong.update(a.group("dir") for a in _MAKE_DIR_ARG.finditer(ln))
        strong.update(k.group("dir") for k in _KBUILD_SRCTREE.finditer(ln))
        if MAKE_LINE.match(ln):
            weak.update(k.group("dir") for k in _MAKEFILE_AT.finditer(ln))

    def ok(path: str) -> bool:
        path = path.rstrip("/")
        return bool(path) and path not in _NOT_ROOTS and "/../" not in path + "/" and "/./" not in path + "/"

    roots = {r.rstrip("/") for r in strong if ok(r)}
    roots |= {w.rstrip("/") for w in weak if ok(w) and not any(_is_ancestor(r, w.rstrip("/")) for r in roots)}
    return sorted(roots, key=lambda r: (-len(r), r))


def with_log_roots(log_text: str, roots: Sequence[str]) -> Tuple[str, ...]:
    """The given roots and those :func:`log_roots` infers from the log, without duplicates."""
    return tuple(dict.fromkeys([*roots, *log_roots(log_text)]))
