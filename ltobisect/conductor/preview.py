"""What the search sees, without a build: the changes it toggles and the ``.config`` of a fragment.

`ltobisect changes` and `ltobisect resolve` run the session's own Kconfig code on a tree loaded as
the session loads it (:func:`~ltobisect.conductor.load.load_build_tree`), so what they print is what a
search would toggle and build. The tree is loaded in a temporary directory, removed afterwards.
"""
from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from ltobisect.config import BuildSpec
from ltobisect import dotconfig
from ltobisect.kconfig import KconfigTree
from ltobisect.model import Change, Ineffective, Resolved, ordered
from ltobisect.conductor.load import load_build_tree


@contextlib.contextmanager
def loaded_tree(build: BuildSpec) -> Iterator[KconfigTree]:
    """The Kconfig tree of ``build``; its probes run in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ltobisect-kconfig-") as work:
        yield load_build_tree(build, Path(work))


@dataclass(frozen=True)
class Fragment:
    """A fragment file read as changes against one baseline.

    ``changes`` are in name order, one per symbol (a later line for a symbol wins, as in the
    kernel's reader). ``unknown``: symbols the tree does not define, left out. ``repeated``:
    symbols set on more than one line. ``reordered``: the choice members the file sets, in its
    order, when that is not name order (a session's fragment.config is in name order, and for
    members of one choice the order of the lines can change the choice's selection).
    """

    changes: Tuple[Change, ...]
    unknown: Tuple[str, ...] = ()
    repeated: Tuple[str, ...] = ()
    reordered: Tuple[str, ...] = ()


def read_fragment(kt: KconfigTree, baseline_text: str, fragment_text: str) -> Fragment:
    """The fragment's assignment lines as changes to ``baseline_text`` (a settled config).

    Each value is read as :func:`~ltobisect.dotconfig.parse` reads a ``.config`` line;
    each change is typed as the tree types its symbol, with the baseline's value of it (``n``
    for an absent bool or tristate, ``""`` for the others, as :meth:`KconfigTree.diff` does).
    Lines that are not assignments (blank lines, other comments) are skipped.
    """
    values: Dict[str, str] = {}
    order: List[str] = []  # each symbol at its last line
    repeated: List[str] = []
    for line in fragment_text.splitlines():
        for name, value in dotconfig.parse(line).items():
            if name in values:
                order.remove(name)
                if name not in repeated:
                    repeated.append(name)
            values[name] = value
            order.append(name)
    base = dotconfig.parse(baseline_text)
    changes, unknown = [], []
    for name in order:
        typ = kt.symbol_type(name)
        if typ is None:
            unknown.append(name)
            continue
        empty = "n" if typ in ("bool", "tristate") else ""
        changes.append(Change(name=name, value=values[name], type=typ,
                              baseline_value=base.get(name, empty)))
    members = [c.name for c in changes if kt.is_choice_member(c.name)]
    return Fragment(changes=ordered(changes), unknown=tuple(sorted(unknown)),
                    repeated=tuple(sorted(repeated)),
                    reordered=tuple(members) if members != sorted(members) else ())


def _shown(change: Change, value: str) -> str:
    """A symbol's value as a .config spells it; ``unset`` for an int, hex or string not written."""
    if change.type in ("bool", "tristate"):
        return value
    if value == "":
        return "unset"
    return Change(change.name, value, change.type).line().partition("=")[2]


def not_applied(item: Ineffective) -> str:
    """``not applied: CONFIG_D=y (it is n: unmet dependency: C)``: the line, its value, why."""
    return f"not applied: {item.change.line()} (it is {_shown(item.change, item.actual)}: {item.reason})"


def explanation(resolved: Resolved, tree_warnings: List[str]) -> List[str]:
    """The lines of ``resolve --explain``: each change that did not take effect, then each
    Kconfig warning of the tree on one line."""
    lines = [not_applied(i) for i in resolved.ineffective]
    for w in tree_warnings:
        text = " ".join(part.strip() for part in w.strip().splitlines())
        lines.append("Kconfig " + (text if text.startswith("warning: ") else "warning: " + text))
    return lines
