""".config text: read its settings, merge a fragment into it, write its lines, digest it.

The one reader of ``.config`` lines for every layer. A setting is ``PREFIX NAME=value`` or
``# PREFIX NAME is not set`` (value ``n``); every other line (blank, comment, header) is not.
"""
from __future__ import annotations

import hashlib
import re
from typing import Dict, Iterator, Optional, Sequence, Tuple

_SET = re.compile(r"^([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# ([A-Za-z0-9_]+) is not set$")
_UNESCAPE = re.compile(r"\\(.)")


def unescape(value: str) -> str:
    r"""A string value's text between its quotes, read as conf reads it: ``\x`` -> ``x``."""
    return _UNESCAPE.sub(r"\1", value)


def escape(value: str) -> str:
    r"""A string value as conf writes it between quotes: ``\`` -> ``\\``, ``"`` -> ``\"``."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def parse_line(line: str, prefix: str = "CONFIG_", unquote: bool = True) -> Optional[Tuple[str, str]]:
    """``(name, value)`` of a setting line (name without ``prefix``, ``n`` for "is not set"),
    else None. Trailing white space does not count. With ``unquote`` a quoted value is unquoted
    and unescaped, as kconfiglib spells string values; without it the value is as written."""
    line = line.rstrip()
    m = _SET.match(line)
    if m:
        name = m.group(1)
        if not name.startswith(prefix) or len(name) == len(prefix):
            return None
        value = m.group(2)
        if unquote and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = unescape(value[1:-1])
        return name[len(prefix):], value
    m = _UNSET.match(line)
    if m and m.group(1).startswith(prefix) and len(m.group(1)) > len(prefix):
        return m.group(1)[len(prefix):], "n"
    return None


def assignments(text: str, prefix: str = "CONFIG_", unquote: bool = True) -> Iterator[Tuple[str, str]]:
    """``(name, value)`` of each setting line in file order (see :func:`parse_line`)."""
    for line in text.splitlines():
        found = parse_line(line, prefix, unquote)
        if found is not None:
            yield found


def parse(text: str, prefix: str = "CONFIG_", unquote: bool = True) -> Dict[str, str]:
    """``{name: value}`` of a .config text; a later line for the same symbol wins, as in the
    kernel's reader."""
    return dict(assignments(text, prefix, unquote))


def line(name: str, value: str, typ: str, prefix: str = "CONFIG_") -> str:
    """The .config line of a setting (without newline): ``# CONFIG_X is not set`` for a bool or
    tristate ``n``, a string quoted and escaped, anything else as given."""
    if typ in ("bool", "tristate") and value == "n":
        return f"# {prefix}{name} is not set"
    if typ == "string":
        return f'{prefix}{name}="{escape(value)}"'
    return f"{prefix}{name}={value}"


def _name_of(line: str) -> Optional[str]:
    """The whole symbol name (prefix included) a setting line sets, as merge_config.sh reads it."""
    m = _SET.match(line) or _UNSET.match(line)
    return m.group(1) if m else None


def merge(base_text: str, fragment_lines: Sequence[str]) -> str:
    """``merge_config.sh -m``: the base without its lines for the fragment's symbols, then the
    fragment's lines (any prefix: the symbols are compared by their whole name)."""
    names = {_name_of(ln) for ln in fragment_lines} - {None}
    kept = [ln for ln in base_text.splitlines() if _name_of(ln) not in names]
    return "\n".join(kept + list(fragment_lines)) + "\n"


def digest(text: str) -> str:
    """A stable hash of the settings: the ``NAME=value`` lines, comments and headers excluded.

    ``# CONFIG_X is not set`` lines do not change what gets built, so they do not count either.
    """
    h = hashlib.sha256()
    for ln in text.splitlines():
        ln = ln.rstrip()
        if ln and not ln.startswith("#") and "=" in ln:
            h.update(ln.encode())
            h.update(b"\n")
    return h.hexdigest()[:32]
