"""The .config text of a Kconfig's current values, written as the kernel's `conf` writes it."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from kconfiglib import BOOL, COMMENT, MENU, STRING, TRISTATE, Symbol, expr_value

from ltobisect import dotconfig
from ltobisect.kconfig.compat import LinuxKconfig


class ConfigWriter:
    """Writes the current values of one :class:`LinuxKconfig` (kconfiglib's layout).

    Replays a flattened menu walk computed once, and reuses each symbol's line while its value
    is unchanged: the walk and the formatting were a third of a resolve.
    """

    def __init__(self, kconf: LinuxKconfig) -> None:
        self._k = kconf
        self._prefix = kconf.config_prefix
        self._header = "#\n# Automatically generated file; DO NOT EDIT.\n# {}\n#\n".format(kconf.mainmenu_text)
        self._plan: Optional[List[Tuple[int, object]]] = None
        self._lines: Dict[Symbol, Tuple[str, str]] = {}

    def write(self) -> str:
        """The .config text of the current values."""
        if self._plan is None:
            self._plan = self._build_plan()
        chunks = [self._header]
        add = chunks.append
        lines = self._lines
        after_end = False
        for kind, x in self._plan:
            if kind == 0:
                val = x.str_value
                if not x._write_to_conf:
                    continue
                known = lines.get(x)
                if known is not None and known[0] == val:
                    line = known[1]
                else:
                    line = self._line(x, val)
                    lines[x] = (val, line)
                if after_end:
                    after_end = False
                    add("\n")
                add(line)
            elif kind == 1:
                if expr_value(x.dep) and (x.item is COMMENT or expr_value(x.visibility)):
                    add("\n#\n# {}\n#\n".format(x.prompt[0]))
                    after_end = False
            elif expr_value(x.dep) and expr_value(x.visibility):
                add("# end of {}\n".format(x.prompt[0]))
                after_end = True
        return "".join(chunks)

    def _line(self, sym: Symbol, val: str) -> str:
        typ = "bool" if sym.orig_type in (BOOL, TRISTATE) else "string" if sym.orig_type is STRING else ""
        return dotconfig.line(sym.name, val, typ, self._prefix) + "\n"

    def _build_plan(self) -> List[Tuple[int, object]]:
        """The menu tree flattened in `conf`'s write order: (0, symbol), (1, menu or comment
        node: its header), (2, menu node: its '# end of' line). A symbol appears once, at its
        first node; transitional symbols are never written."""
        top = self._k.top_node
        skip = self._k.transitional
        plan: List[Tuple[int, object]] = []
        seen: set = set()
        node = top
        while True:
            if node.list:
                node = node.list
            elif node.next:
                node = node.next
            else:
                while node.parent:
                    node = node.parent
                    if node.item is MENU and node is not top:
                        plan.append((2, node))
                    if node.next:
                        node = node.next
                        break
                else:
                    return plan
            item = node.item
            if item.__class__ is Symbol:
                if item not in seen:
                    seen.add(item)
                    if item.name not in skip:
                        plan.append((0, item))
            elif item is MENU or item is COMMENT:
                plan.append((1, node))
                if item is MENU and node.list is None:
                    # conf closes an empty menu too ("riscv Debugging" on 6.1 riscv is one).
                    plan.append((2, node))
