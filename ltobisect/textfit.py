"""Text that fits: counts in English, failure descriptions shortened for a column, and the
report's lines wrapped at :data:`REPORT_WIDTH` (between words, shell commands with backslashes).

A signature's distinctive part is its symbol and file; what every failure of its kind shares
(the tool, "error:", the kind) goes first when a column is narrow (``shorten``). Used by the
live view and the plain reporters alike, so it does not depend on rich.
"""
from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import Iterator, List, Sequence

from ltobisect.model import SignatureKind


def cell_len(text: str) -> int:
    """Terminal cells of ``text``: wide East Asian characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)

#: The ellipsis that stands for what a narrow column leaves out.
ELLIPSIS = "…"


def plural(n: int, noun: str, many: str = "") -> str:
    """``1 change``, ``2 changes``, ``0 cache hits``: a count as English says it."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


# -- fitting a signature into a column ------------------------------------------------------
# What is the same for every failure of a kind goes first: the kind a description ends with
# ("(link-error)"), the tool and level it starts with ("ld.lld: error: "), compiler flags
# ("[-Werror,-Wunused-variable]"); then the middle of paths; then the words before the symbol.
# The symbol and the file stay as long as anything can.

_KIND_SUFFIX = re.compile(r"\s+\((?:%s|log matches /.*?/)\)(?=[;,]|$)"
                          % "|".join(re.escape(k.value) for k in SignatureKind))
_TOOL = (r"(?:\S*/)?(?:[\w.+]+-)*"
         r"(?:ld(?:\.\w+)?|ld64\.lld|lld|clang(?:\+\+)?|gcc|g\+\+|cc|c\+\+|as|objtool|modpost"
         r"|collect2|make(?:\[\d+\])?|llvm-[\w-]+|ar|objcopy)(?:-[\d.]+)?")
_PREFIX = re.compile(rf"(^|: |; )(?:(?:{_TOOL}|ERROR|WARNING|(?:fatal )?error|warning|note): )+")
_REFERENCED = re.compile(r"\s*>>>\s*referenced by\s+(\S+)")
_FLAGS = re.compile(r"\s*\[-W[^\]]*\]")
_LOCATION = re.compile(r"\s\[[^\]\s]+\]$")
_PATH = re.compile(r"[^\s\[\]()'\"`;,]*/[^\s\[\]()'\"`;,]*")
_SYMBOL = re.compile(r"[`'‘\"][^`'’\"\s]+[`'’\"]|(?<=symbol: )\S+|(?<=symbol )\S+")


def clock(seconds: float) -> str:
    """A duration as reports write it: ``2:03``, or ``1:02:03`` from an hour on."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _cut(text: str, width: int) -> str:
    """The start of ``text`` in ``width`` cells, an ellipsis at the end when something is left out."""
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch) > width - 1:
            break
        out += ch
    return out.rstrip() + ELLIPSIS if width > 0 else ""


def _path_steps(path: str) -> List[str]:
    """Ever shorter forms of a path, the file name kept: ``a/b/c/d/e.c``, ``a/b/…/d/e.c``, ...,
    ``a/…/e.c``, ``…/e.c``."""
    parts = path.split("/")
    if len(parts) < 3 or not parts[-1]:
        return [path]
    steps = [path]
    for keep in range(len(parts) - 2, 0, -1):
        tail = (keep + 1) // 2
        head = keep - tail
        steps.append("/".join(parts[:head] + [ELLIPSIS] + parts[len(parts) - tail:]))
    return steps


def _elide_paths(text: str) -> Iterator[str]:
    """``text`` with every path one step shorter each time (see :func:`_path_steps`)."""
    paths = [(m.span(), _path_steps(m.group(0))) for m in _PATH.finditer(text)]
    paths = [(span, steps) for span, steps in paths if len(steps) > 1]
    for step in range(1, max((len(s) for _, s in paths), default=1)):
        out, last = [], 0
        for (start, end), steps in paths:
            out += [text[last:start], steps[min(step, len(steps) - 1)]]
            last = end
        yield "".join(out) + text[last:]


def _around_symbol(body: str, tail: str, width: int) -> Iterator[str]:
    """``body`` (then ``tail``, the file) shortened around its symbol: first what follows the
    symbol, then the words before it, from the symbol back; the first word goes last."""
    m = _SYMBOL.search(body)
    if m is None:
        yield _cut(body, width - cell_len(tail)) + tail
        return
    pre, sym, post = body[:m.start()], m.group(0), body[m.end():]

    def after(head: str) -> str:
        """``head``, then as much of what follows the symbol as fits, then the file."""
        room = width - cell_len(head + tail)
        if not post.strip(" .;:,") or cell_len(post) <= room:
            return head + post + tail
        if room >= 12:  # a few words of it, not a shred of one
            return head + _cut(post, room) + tail
        return head + " " + ELLIPSIS + tail

    yield after(pre + sym)
    words = pre.split(" ")
    for keep in range(len(words) - 1, -1, -1):
        lead = " ".join(words[:keep]).rstrip()
        yield after((lead + " " if lead else "") + ELLIPSIS + " " + sym)
    yield ELLIPSIS + " " + sym + tail
    yield ELLIPSIS + " " + _cut(sym + tail, width - 2)


def shorten(text: str, width: int) -> str:
    """A failure signature (or a message that holds one) in ``width`` cells, its distinctive part
    kept: ``ld.lld: error: undefined symbol: foo_bar >>> referenced by drivers/x/y.c`` becomes
    ``undefined symbol: foo_bar [drivers/x/y.c]``, then ``undefined symbol: foo_bar
    [drivers/…/y.c]``, and only then loses words before the symbol.
    """
    text = " ".join(text.split())
    m = _REFERENCED.search(text)
    if m is not None:  # lld's "referenced by" names the file, as a description's [location] does
        text = _REFERENCED.sub("", text[:m.start()]) + f" [{m.group(1)}]" + _REFERENCED.sub("", text[m.end():])
    if cell_len(text) <= width:
        return text
    for step in (lambda s: _KIND_SUFFIX.sub("", s), lambda s: _PREFIX.sub(r"\1", s),
                 lambda s: _FLAGS.sub("", s)):
        text = step(text)
        if cell_len(text) <= width:
            return text
    for shorter in _elide_paths(text):
        text = shorter
        if cell_len(text) <= width:
            return text
    loc = _LOCATION.search(text)
    body, tail = (text[:loc.start()], loc.group(0)) if loc else (text, "")
    for candidate in _around_symbol(body, tail, width):
        if cell_len(candidate) <= width:
            return candidate
    return _cut(text, width)


def fit_changes(changes: Sequence[str], width: int) -> str:
    """The best result's changes in ``width`` cells: all of them, else without the ``CONFIG_``
    prefix, else as many as fit and how many more there are."""
    for shown in (list(changes), [c.removeprefix("CONFIG_") for c in changes]):
        line = "  ".join(shown)
        if cell_len(line) <= width:
            return line
    for n in range(len(shown) - 1, 0, -1):
        line = "  ".join(shown[:n]) + f"  +{len(shown) - n} more"
        if cell_len(line) <= width:
            return line
    return _cut(f"{shown[0]}  +{len(shown) - 1} more", width)


# -- the report's lines ------------------------------------------------------------------------
#: report.txt's width: it is pasted into mail, which wraps at 78.
REPORT_WIDTH = 78


def wrap(text: str, indent: str = "", width: int = REPORT_WIDTH, more: str = "    ") -> List[str]:
    """Lines of at most ``width`` columns, broken between words only: a word longer than a
    line (a path, a symbol) stays whole on a line of its own."""
    out: List[str] = []
    for raw in text.splitlines() or [""]:
        line = raw.expandtabs(8).rstrip()
        if len(indent + line) <= width:
            out.append(indent + line)
            continue
        out.extend(textwrap.wrap(line, width=width, initial_indent=indent,
                                 subsequent_indent=indent + more, break_long_words=False,
                                 break_on_hyphens=False, drop_whitespace=True) or [indent])
    return out


def wrap_parts(parts: List[str], sep: str, more: str = "    ") -> List[str]:
    """Parts of one statement joined by ``sep``, its lines broken between parts only (a part
    longer than a line is wrapped between its words); continuation lines start with ``more``."""
    groups: List[str] = []
    for i, part in enumerate(parts):
        piece = part + (sep.rstrip() if i < len(parts) - 1 else "")
        lead = "" if len(groups) <= 1 else more
        if groups and len(lead + groups[-1] + " " + piece) <= REPORT_WIDTH:
            groups[-1] += " " + piece
        else:
            groups.append(piece)
    lines: List[str] = []
    for i, group in enumerate(groups):
        lines += wrap(group, more if i else "", more=more)
    return lines


def shell_words(cmd: str) -> List[str]:
    """A command's words, each kept whole with its quotes and ``$(...)``."""
    words: List[str] = []
    cur, quote, depth = "", "", 0
    for ch in cmd:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == " " and not depth:
            if cur:
                words.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        words.append(cur)
    return words


def command_lines(cmd: str, indent: str = "        ") -> List[str]:
    """A shell command within the width, continued with backslashes between its words, so
    that it still pastes into a shell."""
    if len(indent + cmd) <= REPORT_WIDTH:
        return [indent + cmd]
    lines: List[str] = []
    cur = indent
    for w in shell_words(cmd):
        pad = cur if cur.strip() == "" else cur + " "
        if cur.strip() and len(pad + w) + 2 > REPORT_WIDTH:
            lines.append(cur + " \\")
            cur = indent + "    " + w
        else:
            cur = pad + w
    lines.append(cur)
    return lines


def squeeze(line: str, width: int) -> str:
    """A log line that is too long, with its inner runs of spaces (lld's ``>>>`` alignment)
    made single, so that it wraps at words of its own rather than at the alignment."""
    line = line.expandtabs(8).rstrip()
    if len(line) <= width:
        return line
    head = line[: len(line) - len(line.lstrip())]
    return head + " ".join(line.split())
