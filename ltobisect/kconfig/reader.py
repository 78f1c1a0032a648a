"""Reading a .config into a Kconfig's user values, as the kernel's `conf` reads it."""
from __future__ import annotations

from typing import List, Sequence, Tuple

from kconfiglib import BOOL, TRISTATE, Symbol

from ltobisect import dotconfig
from ltobisect.kconfig.compat import LinuxKconfig
from ltobisect.kconfig.explain import TYPE_NAMES

#: One assignment to make: the symbol and the value a line gives it.
Plan = List[Tuple[Symbol, str]]


def plan_of(kconf: LinuxKconfig, text: str) -> Plan:
    """The assignments of a .config text, in file order, to symbols the tree defines."""
    syms = kconf.syms
    plan = []
    for name, value in dotconfig.assignments(text, kconf.config_prefix):
        sym = syms.get(name)
        if sym is not None and sym.nodes:
            plan.append((sym, value))
    return plan


class Prepared:
    """A baseline ready for many resolves: its assignments in file order, with their symbols."""

    __slots__ = ("text", "assignments")

    def __init__(self, text: str, kconf: LinuxKconfig) -> None:
        self.text = text
        self.assignments: List[Tuple[str, Symbol, str]] = []
        for name, value in dotconfig.assignments(text, kconf.config_prefix):
            sym = kconf.syms.get(name)
            if sym is not None and sym.nodes:
                self.assignments.append((name, sym, value))


def apply(kconf: LinuxKconfig, plan: Sequence[Tuple[Symbol, str]]) -> None:
    """Make ``plan`` (symbol, value) the user values, in order, as loading a .config does.

    The same steps as conf's reader without parsing text: a later line for a symbol wins,
    choice members are reported to the compatibility layer (which keeps each choice's mode,
    user selection or priority list by the tree's rules), and symbols whose user value does not
    change are not invalidated, so only what the candidate touches is recomputed.
    """
    # A .config names symbols without prompts all the time; kconfiglib's reader is quiet
    # about them too.
    kconf._warn_assign_no_prompt = False
    try:
        _apply_values(kconf, plan)
    finally:
        kconf._warn_assign_no_prompt = True


def _apply_values(k: LinuxKconfig, plan: Sequence[Tuple[Symbol, str]]) -> None:
    for sym in k.unique_defined_syms:
        sym._was_set = False
    for choice in k.unique_choices:
        choice._was_set = False
    k.begin_read()
    for sym, value in plan:
        if sym.orig_type in (BOOL, TRISTATE):
            if not (value[:1] in ("y", "n") or (value[:1] == "m" and sym.orig_type is TRISTATE)):
                k._warn(f"'{value}' is not a valid value for the {TYPE_NAMES[sym.orig_type]} symbol "
                        f"{sym.name_and_loc}. Assignment ignored.")
                continue
            value = value[0]
            if sym.choice is not None:
                k.read_member(sym, value)
        sym.set_value(value)
    for sym in k.unique_defined_syms:
        if not sym._was_set:
            sym.unset_value()
    for choice in k.unique_choices:
        if not choice._was_set:
            choice.unset_value()
    k.end_read()
