"""Text that fits: counts in English and failure descriptions shortened for a column.

A signature's distinctive part is its symbol and file; what every failure of its kind shares
(the tool, "error:", the kind) goes first when a column is narrow (``shorten``). Used by the
live view and the plain reporters alike, so it does not depend on rich.
"""
from __future__ import annotations

import re
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
