"""What the Kconfig layer tells people and strategies about symbols: why a requested change did
not take effect, what a change depends on, where it sits in the menus.

Helpers of :mod:`ltobisect.kconfig` over kconfiglib objects; nothing here changes a value.
"""
from __future__ import annotations

from typing import AbstractSet, Callable, Dict, List, Optional, Sequence, Tuple

import kconfiglib
from kconfiglib import AND, BOOL, MENU, OR, TRISTATE, Choice, Symbol, expr_str, expr_value

from ltobisect.model import Change

_TRI = {"n": 0, "m": 1, "y": 2}
TYPE_NAMES = {kconfiglib.BOOL: "bool", kconfiglib.TRISTATE: "tristate", kconfiglib.INT: "int",
              kconfiglib.HEX: "hex", kconfiglib.STRING: "string"}


def actual_value(sym: Symbol) -> str:
    """The value a .config shows for the symbol: its value, or n / "" when it is not written."""
    value = sym.str_value
    if not sym._write_to_conf:
        return "n" if sym.orig_type in (BOOL, TRISTATE) else ""
    return value


def why_ineffective(sym: Symbol, change: Change, actual: str) -> str:
    """One short phrase: why ``sym`` has ``actual`` although ``change`` asked for another value."""
    typ = TYPE_NAMES.get(sym.orig_type, "unknown")
    if change.type != typ:
        return f"{change.name} is {typ}, not {change.type}"
    if not any(node.prompt for node in sym.nodes):
        return "no prompt: set only by Kconfig (select, default)"
    if typ in ("bool", "tristate"):
        return _why_tristate(sym, change, actual, typ)
    if expr_value(sym.direct_dep) == 0:
        return "unmet dependency: " + _unmet(sym.direct_dep, 1)
    if sym.visibility == 0:
        return "not visible: prompt condition " + _prompt_conditions(sym)
    if typ in ("int", "hex"):
        try:
            int(change.value, 10 if typ == "int" else 16)
        except ValueError:
            return f"invalid {typ} value {change.value!r}"
        for low, high, cond in sym.ranges:
            if expr_value(cond):
                return f"outside range [{low.str_value}, {high.str_value}]"
        return f"Kconfig gives {actual!r}"
    return f"Kconfig gives {actual!r}"


def _why_tristate(sym: Symbol, change: Change, actual: str, typ: str) -> str:
    want = _TRI.get(change.value)
    if want is None:
        return f"invalid value {change.value!r} for a {typ} symbol"
    if want == 1 and sym.type is BOOL:
        return "m not possible: " + ("MODULES is not enabled" if sym.orig_type is TRISTATE else "bool symbol")
    if want < _TRI.get(actual, 0):
        selectors = _active_terms(sym.rev_dep, 1)
        if selectors:
            return "selected by " + ", ".join(selectors)
        if sym.choice is not None:
            if actual == "y":
                return (f"choice: {sym.name} is still its selection (a line turning a member off "
                        "does not move it; set another member to y)")
            return "choice: choice mode"
        return f"forced to {actual}"
    if sym.choice is not None and want == 2:
        choice = sym.choice
        if expr_value(sym.direct_dep) == 0:
            return "unmet dependency: " + _unmet(sym.direct_dep, 1)
        selection = choice.selection
        if selection is not None and selection is not sym:
            return f"choice: {selection.name} selected"
        if choice.tri_value < 2:
            return "choice: " + ("in m mode" if choice.tri_value == 1 else "disabled")
        return "not visible"
    dep = expr_value(sym.direct_dep)
    if dep < want and not (dep == 1 and sym.type is BOOL):
        if want == 2 and dep == 1:
            return "unmet dependency (only m allowed): " + _unmet(sym.direct_dep, 2)
        return "unmet dependency: " + _unmet(sym.direct_dep, 1)
    if sym.visibility < want:
        return "not visible: prompt condition " + _prompt_conditions(sym)
    return f"Kconfig gives {actual}"


def _unmet(expr: object, need: int) -> str:
    terms = [t for t in kconfiglib.split_expr(expr, AND) if expr_value(t) < need]
    return " && ".join(expr_str(t) for t in terms) or expr_str(expr)


def _active_terms(expr: object, need: int) -> List[str]:
    out = []
    for term in kconfiglib.split_expr(expr, OR):
        if expr_value(term) >= need:
            items = [i for i in kconfiglib.expr_items(term) if isinstance(i, Symbol) and not i.is_constant]
            out.append(items[0].name if items else expr_str(term))
    return sorted(set(out))


def _prompt_conditions(sym: Symbol) -> str:
    conds = [expr_str(node.prompt[1]) for node in sym.nodes if node.prompt]
    return " || ".join(conds) if conds else "(none)"


def dependency_items(item: object, memo: Dict[object, frozenset]) -> frozenset:
    """Symbols and choices ``item`` rests on for its visibility and value, transitively.

    Follows direct dependencies, prompt conditions and the enclosing choice. ``memo`` keeps the
    answers for the tree's lifetime (they depend on the tree only).
    """
    known = memo.get(item)
    if known is not None:
        return known
    seen: set = set()
    stack = [item]
    while stack:
        cur = stack.pop()
        exprs: list = [cur.direct_dep]
        exprs += [node.prompt[1] for node in cur.nodes if node.prompt]
        deps: list = []
        for e in exprs:
            deps += kconfiglib.expr_items(e)
        if isinstance(cur, Symbol) and cur.choice is not None:
            deps.append(cur.choice)
        for dep in deps:
            if dep in seen or dep is item or (isinstance(dep, Symbol) and (dep.is_constant or not dep.nodes)):
                continue
            seen.add(dep)
            cached = memo.get(dep)
            if cached is not None:
                seen |= cached
            else:
                stack.append(dep)
    result = frozenset(seen)
    memo[item] = result
    return result


def needs_closure(changes: Sequence[Change], lookup: Callable[[str], Optional[Symbol]],
                  memo: Dict[object, frozenset],
                  modules: Optional[str] = None) -> Dict[Change, frozenset]:
    """For each change, the other changes of the set it needs to take effect, transitively.

    Enabling or setting a symbol needs the changes to what it depends on (see
    :func:`dependency_items`); a value of ``m`` also needs the change enabling ``modules`` (the
    tree's modules symbol, MODULES in Linux), which no dependency expression names; turning a
    symbol off needs the changes turning off its selectors.
    """
    by_name = {c.name: c for c in changes}
    direct: Dict[Change, set] = {}
    for c in changes:
        sym = lookup(c.name)
        needs: set = set()
        if sym is not None:
            if c.turns_off:
                for item in kconfiglib.expr_items(sym.rev_dep):
                    other = by_name.get(getattr(item, "name", None))
                    if other is not None and other.turns_off:
                        needs.add(other)
            else:
                for item in dependency_items(sym, memo):
                    other = by_name.get(item.name) if isinstance(item, Symbol) else None
                    if other is not None:
                        needs.add(other)
                if c.value == "m" and modules and modules in by_name:
                    needs.add(by_name[modules])
        needs.discard(c)
        direct[c] = needs
    closed: Dict[Change, frozenset] = {}
    for c in changes:
        seen: set = set()
        stack = list(direct[c])
        while stack:
            d = stack.pop()
            if d not in seen:
                seen.add(d)
                stack.extend(direct.get(d, ()))
        seen.discard(c)
        closed[c] = frozenset(seen)
    return closed


def selectors(sym: Symbol) -> List[Symbol]:
    """The symbols whose ``select`` lines name ``sym``: the leftmost symbol of each term of
    its reverse dependency (the rest of a term is the select's condition)."""
    out = []
    for term in kconfiglib.split_expr(sym.rev_dep, OR):
        while isinstance(term, tuple):  # (AND, selector, condition): the selector is leftmost
            term = term[1]
        if isinstance(term, Symbol) and not term.is_constant and term is not sym:
            out.append(term)
    return out


def _defaults_to(sym: Symbol, value: str) -> bool:
    """Whether one of ``sym``'s defaults may give ``value`` (a change to it that sets what it
    would take anyway once visible: then what it depends on brings it about). A default that
    names another symbol is read at the values the tree holds now."""
    return any(isinstance(val, Symbol) and val.str_value == value for val, _cond in sym.defaults)


def _hiders(sym: Symbol, by_name: Dict[str, Change]) -> List[Change]:
    """The changes to the symbols of ``sym``'s prompt conditions, where the tree's config hides
    every prompt of it (it then takes its default)."""
    prompts = [node.prompt[1] for node in sym.nodes if node.prompt]
    if not prompts or any(expr_value(cond) for cond in prompts):
        return []
    return [by_name[s.name] for cond in prompts for s in kconfiglib.expr_items(cond)
            if isinstance(s, Symbol) and s is not sym and s.name in by_name]


def providers_of(sym: Symbol, by_name: Dict[str, Change], raised: AbstractSet[str],
                 memo: Dict[object, frozenset], modules: Optional[str] = None) -> frozenset:
    """The changes that can each turn ``sym`` on: the change to it, the changes to the symbols
    that select it, and, for a symbol that takes its value by default once what it depends on
    is on (no change sets it, or the change sets its default), the providers of what it
    depends on; followed through any chain, over the symbols ``raised`` names (set in the bad
    config and not in the baseline) only. Such a symbol whose prompt the bad config hides
    (``bool "Enable TTY" if EXPERT``, ``default y``) takes its default because of the changes
    to the prompt's condition (``EXPERT`` turned off): they are providers too, not followed
    further. The tree must hold the bad config. A select's condition is not followed; a
    dependency on several raised symbols lists the providers of each (more than any one needs:
    what this is for, a lead among alternatives, pays only a test for an extra)."""
    out = set()
    seen = {sym}
    stack = [sym]
    while stack:
        cur = stack.pop()
        nxt = list(selectors(cur))
        change = by_name.get(cur.name)
        if change is not None:
            out.add(change)
        if bool(cur.defaults) if change is None else _defaults_to(cur, change.value):
            nxt += [d for d in dependency_items(cur, memo) if isinstance(d, Symbol)]
            out.update(_hiders(cur, by_name))
        for s in nxt:
            if s not in seen and s.name != modules and s.name in raised:
                seen.add(s)
                stack.append(s)
    return frozenset(out)


def menu_path(sym: Symbol, top_node: object) -> Tuple[str, ...]:
    """The prompts of the menus, choices and menuconfig entries holding ``sym``, outermost first."""
    node = next((n for n in sym.nodes if n.prompt), sym.nodes[0])
    path = []
    parent = node.parent
    while parent is not None and parent is not top_node:
        if parent.prompt and (parent.item is MENU or isinstance(parent.item, Choice) or parent.is_menuconfig):
            path.append(parent.prompt[0])
        parent = parent.parent
    return tuple(reversed(path))
