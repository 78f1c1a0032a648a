"""kconfiglib 14.1.0 made to read and evaluate Linux Kconfig the way the tree's own `conf` does.

The differences are fixed here, narrowly, on top of the pip-installed kconfiglib:

- **bare attributes**: Linux >= 5.13 writes ``modules`` where older trees wrote ``option
  modules``; Linux >= 6.18 adds ``transitional``. Both are rewritten at tokenizing time.
- **transitional symbols** (Linux >= 6.18) have no prompt, yet the value a .config gives them
  is used (other symbols default to it) and they are never written. They get an always-visible
  empty prompt here, so kconfiglib takes their user value; the writer skips them.
- **choices, two generations** (:class:`ChoiceRules`, read off the tree's own
  ``scripts/kconfig``). Before 6.11 the member last read as ``y`` is the choice's user
  selection and ``n`` lines never move it; a tristate choice's mode is the OR of the values
  read, and an ``m`` after a ``y`` drops the mode (conf warns "creates inconsistent choice
  state"). From 6.11 on, each choice keeps its members in a priority list: every member
  read moves to its head, and the selection is the first visible member the user set to
  ``y``, else the choice's default unless the user set it to ``n``, else the first visible
  member without a user value, else the least prioritised visible one. kconfiglib knows only
  the first; the reader (:mod:`ltobisect.kconfig.reader`) reports every member it reads through
  :meth:`LinuxKconfig.read_member` and ``Choice._selection`` is replaced for 6.11+ trees.
- **int/hex user values out of range**: conf up to 6.10 drops them when it reads the .config
  (the default applies, as in kconfiglib); later conf keeps them and clamps them to the
  nearer bound when it computes the value (``NR_CPUS=1`` once ``SMP`` is on becomes ``2``,
  not the default ``64``). Read off the tree's ``confdata.c`` too (:func:`clamps_out_of_range`).
- **imply**: `scripts/kconfig/symbol.c` (sym_calc_value) computes an implied symbol as
  ``(default || implied) && direct-deps`` whether or not the direct dependencies are met, writes
  the symbol out whenever something implies it, and promotes ``m`` to ``y`` only for bool
  symbols. kconfiglib looks at implies only when the direct dependencies are met and promotes
  ``m`` to ``y`` when the implying value is ``y``. ``Symbol.tri_value`` is replaced by a
  version with the kernel's rule (and ``Symbol.config_string`` skips transitional symbols);
  both act only on symbols of a :class:`LinuxKconfig`, others get kconfiglib's own code.
- **probes**: ``$(shell,...)`` runs in a given work directory (probes write ``.tmp_$$`` files to
  the current directory) and can be answered from a cache keyed by toolchain identity.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Dict, List, Optional, Set

import kconfiglib

from ltobisect import process
from kconfiglib import BOOL, Choice, Kconfig, Symbol, expr_value

_BOOL_TRISTATE = (kconfiglib.BOOL, kconfiglib.TRISTATE)
#: Seconds a ``$(shell,...)`` probe may run (a compiler asked about a flag answers in well under
#: one); a hung toolchain then costs one probe's answer, empty as a failed probe's, and a warning.
PROBE_TIMEOUT = 300.0
_TRI = {"n": 0, "m": 1, "y": 2}


class ChoiceRules(str, enum.Enum):
    """How a tree's `conf` settles choices; see the module docstring."""

    LEGACY = "legacy"  # Linux < 6.11: the last member read as y selects
    PRIORITY = "priority"  # Linux >= 6.11: a priority list of members

    @classmethod
    def of_tree(cls, tree: Path) -> "ChoiceRules":
        """The rules of the tree's own ``scripts/kconfig``: 6.11 introduced the members' list
        (``choice_members``) in ``symbol.c``. A tree without kconfig sources gets LEGACY."""
        try:
            text = (Path(tree) / "scripts" / "kconfig" / "symbol.c").read_text(errors="replace")
        except OSError:
            return cls.LEGACY
        return cls.PRIORITY if "choice_members" in text else cls.LEGACY


def clamps_out_of_range(tree: Path, rules: ChoiceRules) -> bool:
    """Whether the tree's conf clamps out-of-range int/hex user values instead of dropping them.

    Conf that drops them checks each value with ``sym_string_within_range`` when it reads a
    .config (``confdata.c``). A tree without kconfig sources follows its choice rules' era.
    """
    try:
        text = (Path(tree) / "scripts" / "kconfig" / "confdata.c").read_text(errors="replace")
    except OSError:
        return rules is ChoiceRules.PRIORITY
    return "sym_string_within_range" not in text


@dataclass(frozen=True)
class Generation:
    """One generation of the kernel's `conf`: the rules in which it differs from kconfiglib,
    as one object chosen from the tree (:meth:`of_tree`) and handed to :class:`LinuxKconfig`.

    ``choices``: how choices settle (:class:`ChoiceRules`); ``clamps``: out-of-range int/hex
    user values are clamped to the nearer bound instead of dropped. A new generation's rule is
    a field here, its detection in :meth:`of_tree` (from the tree's own ``scripts/kconfig``),
    and its code in this module, consulting ``kconf.generation``.
    """

    choices: ChoiceRules = ChoiceRules.LEGACY
    clamps: bool = False

    @classmethod
    def of_tree(cls, tree: Path, choices: Optional[ChoiceRules] = None) -> "Generation":
        """The generation of ``tree``'s conf; ``choices`` overrides its choice rules (for
        Kconfig projects that do not carry the kernel's tools)."""
        rules = ChoiceRules(choices) if choices is not None else ChoiceRules.of_tree(tree)
        return cls(rules, clamps_out_of_range(tree, rules))

    def describe(self) -> str:
        """``6.11+ choices, out-of-range values clamped``, in the words of a report."""
        era = "6.11+ choices" if self.choices is ChoiceRules.PRIORITY else "choices before 6.11"
        return f"{era}, out-of-range values {'clamped' if self.clamps else 'dropped'}"


class LinuxKconfig(Kconfig):
    """A kconfiglib ``Kconfig`` with Linux 6.x parsing and value semantics.

    ``probe_cache`` maps an expanded ``$(shell,...)`` command to its output; commands missing
    from it run in ``work_dir`` and are added (``probes_run`` counts them). ``transitional``
    holds the names of symbols marked ``transitional``: read from old configs, never written.
    """

    def __init__(self, filename: str = "Kconfig", *, work_dir: Path,
                 probe_cache: Optional[Dict[str, str]] = None,
                 generation: Generation = Generation()) -> None:
        # Set before parsing: the parser calls our hooks during Kconfig.__init__.
        self.work_dir = Path(work_dir)
        self.probe_cache: Dict[str, str] = dict(probe_cache or {})
        self.probes_run = 0
        self.transitional: set = set()
        self.generation = generation
        self._current_name: Optional[str] = None
        super().__init__(filename, warn=True, warn_to_stderr=False)
        for name in self.transitional:
            sym = self.syms.get(name)
            for node in sym.nodes if sym is not None else ():
                if not node.prompt:
                    node.prompt = ("", self.y)
        # Members in definition order (the order conf's parser links them), each once.
        self._members: Dict[Choice, List[Symbol]] = {
            c: list(dict.fromkeys(c.syms)) for c in self.unique_choices}
        self._priority: Dict[Choice, List[Symbol]] = {}
        self._settled_order: Dict[Choice, List[Symbol]] = {}
        self._mode: Dict[Choice, int] = {}
        self._inconsistent: Set[Choice] = set()

    # -- reading a .config: the choice state conf keeps besides the symbols' user values ----
    @property
    def choice_rules(self) -> ChoiceRules:
        return self.generation.choices

    def begin_read(self) -> None:
        """Start reading a .config: every choice forgets what the previous one said."""
        self._priority = {}
        self._mode.clear()
        self._inconsistent.clear()

    def read_member(self, sym: Symbol, value: str) -> None:
        """A valid value (``y``, ``m`` or ``n``) was read for choice member ``sym``."""
        choice = sym.choice
        if self.choice_rules is ChoiceRules.PRIORITY:
            order = self._priority.get(choice)
            if order is None:
                order = self._priority[choice] = list(self._members[choice])
            order.remove(sym)
            order.insert(0, sym)
            return
        tri = _TRI[value]
        mode = self._mode.get(choice, 0)
        if tri == 1 and mode == 2:
            self._inconsistent.add(choice)
        self._mode[choice] = max(mode, tri)

    def end_read(self) -> None:
        """Give every choice the mode and order the lines read add up to."""
        if self.choice_rules is ChoiceRules.PRIORITY:
            # Choice._selection consults the order: drop what was computed with another one.
            for choice in self.unique_choices:
                order = self.priority(choice)
                if self._settled_order.get(choice) != order:
                    self._settled_order[choice] = list(order)
                    choice._rec_invalidate()
            return
        for choice in self.unique_choices:
            if choice in self._inconsistent:
                # conf drops the choice's user mode but keeps its user selection.
                if choice.user_value is not None:
                    choice.user_value = None
                    choice._rec_invalidate()
                choice._was_set = True
            elif self._mode.get(choice):
                choice.set_value(self._mode[choice])

    def priority(self, choice: Choice) -> List[Symbol]:
        """The members of ``choice``, highest priority first (6.11+ rules)."""
        return self._priority.get(choice) or self._members[choice]

    def _fn_val(self, args):
        if args[0] == "shell" and "shell" not in self.variables and len(args) == 2:
            return _cached_shell(self, args[0], args[1])
        return super()._fn_val(args)

    def _tokenize(self, s):
        words = s.split()
        if len(words) == 1 and words[0] == "modules":
            s = "option modules\n"
        elif len(words) == 1 and words[0] == "transitional":
            if self._current_name:
                self.transitional.add(self._current_name)
            s = "\n"
        elif len(words) == 2 and words[0] in ("config", "menuconfig"):
            self._current_name = words[1]
        return super()._tokenize(s)



def _cached_shell(kconf, _name, command):
    cache = getattr(kconf, "probe_cache", None)
    if cache is not None and command in cache:
        return cache[command]
    work_dir = getattr(kconf, "work_dir", None)
    try:
        code, stdout, stderr = process.outputs(["/bin/sh", "-c", command], cwd=work_dir,
                                               timeout=PROBE_TIMEOUT)
    except OSError as exc:
        code, stdout, stderr = -1, "", f"cannot run: {exc}"
    if code == -1 and not stderr:
        stderr = f"killed after {PROBE_TIMEOUT:.0f} s or by a signal"
    if stderr:
        kconf._warn("'{}' wrote to stderr: {}".format(command, " ".join(stderr.splitlines())),
                    kconf.filename, kconf.linenr)
    result = "\n".join(stdout.splitlines()).rstrip("\n").replace("\n", " ")
    if cache is not None:
        cache[command] = result
        kconf.probes_run += 1
    return result


def load_probe_cache(path: Path) -> Dict[str, str]:
    """The cached probe answers in ``path`` ({} when absent or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_probe_cache(path: Path, cache: Dict[str, str]) -> None:
    """Write the cache atomically: a half-written cache would answer probes wrongly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache, sort_keys=True, indent=0))
    os.replace(tmp, path)


# -- imply as Linux 6.1's sym_calc_value computes it ---------------------------------------------
_original_tri_value = Symbol.tri_value


def _linux_tri_value(self):
    if self._cached_tri_val is not None:
        return self._cached_tri_val
    if self.kconfig.__class__ is not LinuxKconfig or self.orig_type not in _BOOL_TRISTATE or self.choice:
        return _original_tri_value.fget(self)

    vis = self.visibility
    self._write_to_conf = vis != 0
    if vis and self.user_value is not None:
        val = min(self.user_value, vis)
    else:
        val = 0
        for default, cond in self.defaults:
            dep_val = expr_value(cond)
            if dep_val:
                val = min(expr_value(default), dep_val)
                if val:
                    self._write_to_conf = True
                break
        implied = expr_value(self.weak_rev_dep)
        if implied:
            is_bool = self.type is BOOL
            if implied == 1 and is_bool:
                implied = 2
            self._write_to_conf = True
            direct = expr_value(self.direct_dep)
            if direct == 1 and is_bool:
                direct = 2
            val = min(max(val, implied), direct)

    selected = expr_value(self.rev_dep)
    if selected:
        if expr_value(self.direct_dep) < selected:
            self._warn_select_unsatisfied_deps()
        val = max(val, selected)
        self._write_to_conf = True
    if val == 1 and self.type is BOOL:
        val = 2
    self._cached_tri_val = val
    return val


_original_config_string = Symbol.config_string


def _linux_config_string(self):
    kconf = self.kconfig
    if kconf.__class__ is LinuxKconfig and kconf.transitional and self.name in kconf.transitional:
        return ""
    return _original_config_string.fget(self)


# -- choices as Linux 6.11+'s sym_calc_choice settles them --------------------------------------
_original_selection = Choice._selection


def _priority_selection(self):
    kconf = self.kconfig
    if kconf.__class__ is not LinuxKconfig or kconf.choice_rules is not ChoiceRules.PRIORITY:
        return _original_selection(self)
    if self.tri_value != 2:
        return None
    order = kconf.priority(self)
    for sym in order:
        if sym.user_value == 2 and sym.visibility:
            return sym
    chosen = self._selection_from_defaults()
    if chosen is not None and chosen.user_value == 0:
        chosen = None
    if chosen is None:
        for sym in kconf._members[self]:
            if sym.user_value is None and sym.visibility:
                return sym
        for sym in reversed(order):
            if sym.visibility:
                return sym
    return chosen


# -- out-of-range int/hex user values, clamped as conf since 6.11 does ----------------------------
_original_str_value = Symbol.str_value


def _clamped_str_value(self):
    if self._cached_str_val is not None:
        return self._cached_str_val
    kconf = self.kconfig
    if (kconf.__class__ is LinuxKconfig and kconf.generation.clamps and self.user_value
            and self.orig_type in (kconfiglib.INT, kconfiglib.HEX) and self.visibility):
        base = 10 if self.orig_type is kconfiglib.INT else 16
        for low_expr, high_expr, cond in self.ranges:
            if not expr_value(cond):
                continue
            low, high = (int(e.str_value, base) if kconfiglib._is_base_n(e.str_value, base) else 0
                         for e in (low_expr, high_expr))
            user = int(self.user_value, base)
            if low <= user <= high:
                break
            # sym_validate_range: the bound's own value, as written
            self._write_to_conf = True
            self._cached_str_val = (low_expr if user < low else high_expr).str_value
            return self._cached_str_val
    return _original_str_value.fget(self)


Choice._selection = _priority_selection
Symbol.str_value = property(_clamped_str_value, doc=_original_str_value.__doc__)
Symbol.tri_value = property(_linux_tri_value, doc=_original_tri_value.__doc__)
Symbol.config_string = property(_linux_config_string, doc=_original_config_string.__doc__)
