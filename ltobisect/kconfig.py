"""The Kconfig layer: load a tree for an ARCH and toolchain, and settle configs exactly as `conf` does.

This is the only module (with its helper :mod:`ltobisect.kconfig_compat`) that touches kconfiglib.
Everything it hands out is plain text or a value type of :mod:`ltobisect.model`.

A candidate is resolved the way a user would test it by hand: the baseline ``.config`` with the
candidate's fragment appended (the lines of ``fragment.config``, in its order), then ``make
olddefconfig``. The result is byte-identical to the kernel's own tool, by the rules of the
tree's own Kconfig generation (before 6.11 and 6.11+ choices, 6.18 transitional symbols: see
:mod:`ltobisect.kconfig_compat`); tests/test_kconfig_kernel.py checks it on Linux 6.1 and 6.12
for x86_64 and arm64, on whole configs and on random subsets of their differences.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import kconfiglib
from kconfiglib import BOOL, COMMENT, MENU, TRISTATE, KconfigError, Symbol, expr_value

from ltobisect.errors import InfraError, UserError
from ltobisect.kconfig_compat import (ChoiceRules, LinuxKconfig, clamps_out_of_range,
                                      load_probe_cache, save_probe_cache)
from ltobisect.kconfig_explain import TYPE_NAMES as _TYPE_NAMES
from ltobisect.kconfig_explain import actual_value, menu_path, needs_closure, why_ineffective
from ltobisect.kconfig_env import (compiler_path, defconfig_file, is_kernel_tree, kconfig_env,
                                   parse_make_vars)
from ltobisect.model import Candidate, Change, Ineffective, Resolved, Structure, ordered

__all__ = ["KconfigTree", "kconfig_env", "digest", "make_olddefconfig", "parse_config", "run_config_target"]

_SET = re.compile(r"^([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# ([A-Za-z0-9_]+) is not set$")
_BASELINE_NAMES = ("defconfig", "tinyconfig", "allnoconfig")


def digest(config_text: str) -> str:
    """A stable hash of the settings: the ``NAME=value`` lines, comments and headers excluded.

    ``# CONFIG_X is not set`` lines do not change what gets built, so they do not count either.
    """
    h = hashlib.sha256()
    for line in config_text.splitlines():
        line = line.rstrip()
        if line and not line.startswith("#") and "=" in line:
            h.update(line.encode())
            h.update(b"\n")
    return h.hexdigest()[:32]


def parse_config(config_text: str, prefix: str = "CONFIG_") -> Dict[str, str]:
    """``{name: value}`` of a .config text, names without prefix, values as kconfiglib spells them.

    ``# CONFIG_X is not set`` gives ``"n"``; strings are unquoted and unescaped. A later line
    for the same symbol wins, as in the kernel's reader.
    """
    return dict(_assignments(config_text, prefix))


def _merge(base_text: str, fragment_lines: Sequence[str]) -> str:
    """``merge_config.sh -m``: drop the base's lines for the fragment's symbols, append the fragment."""
    names = set()
    for line in fragment_lines:
        m = _SET.match(line) or _UNSET.match(line)
        if m:
            names.add(m.group(1))
    kept = []
    for line in base_text.splitlines():
        m = _SET.match(line) or _UNSET.match(line)
        if m and m.group(1) in names:
            continue
        kept.append(line)
    return "\n".join(kept + list(fragment_lines)) + "\n"


@contextlib.contextmanager
def _environment(env: Dict[str, str]) -> Iterator[None]:
    """``env`` in os.environ for the duration (kconfiglib expands $(VAR) from os.environ)."""
    saved = {k: os.environ.get(k) for k in list(env) + ["CONFIG_", "KCONFIG_FUNCTIONS",
                                                          "KCONFIG_CONFIG_HEADER", "KCONFIG_STRICT",
                                                          "KCONFIG_WARN_UNDEF"]}
    try:
        for k in ("CONFIG_", "KCONFIG_FUNCTIONS", "KCONFIG_CONFIG_HEADER", "KCONFIG_STRICT",
                  "KCONFIG_WARN_UNDEF"):
            os.environ.pop(k, None)
        os.environ.update(env)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _toolchain_identity(env: Dict[str, str]) -> str:
    """What a probe's answer depends on: the env Kconfig sees and the tool binaries themselves."""
    ident: Dict[str, object] = {k: v for k, v in sorted(env.items())}
    for var in ("CC", "LD", "HOSTCC", "AR", "NM", "OBJCOPY"):
        path = compiler_path(env[var]) if env.get(var) else None
        if path:
            st = os.stat(path)
            ident[f"{var}@bin"] = [os.path.realpath(path), st.st_size, st.st_mtime_ns]
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _change_key(c: Change) -> Tuple[str, str, str, str]:
    return (c.name, c.value, c.type, c.baseline_value)


class _Prepared:
    """A baseline ready for many resolves: its assignments in file order, with their symbols."""

    __slots__ = ("text", "assignments")

    def __init__(self, text: str, kconf: LinuxKconfig) -> None:
        self.text = text
        prefix = kconf.config_prefix
        self.assignments: List[Tuple[str, Symbol, str]] = []
        for name, value in _assignments(text, prefix):
            sym = kconf.syms.get(name)
            if sym is not None and sym.nodes:
                self.assignments.append((name, sym, value))


def _assignments(config_text: str, prefix: str) -> Iterator[Tuple[str, str]]:
    """(name, value) for each assignment line in file order, as kconfiglib's reader takes them."""
    plen = len(prefix)
    for line in config_text.splitlines():
        line = line.rstrip()
        m = _SET.match(line)
        if m and m.group(1).startswith(prefix):
            value = m.group(2)
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = kconfiglib.unescape(value[1:-1])
            yield m.group(1)[plen:], value
            continue
        m = _UNSET.match(line)
        if m and m.group(1).startswith(prefix):
            yield m.group(1)[plen:], "n"


class KconfigTree:
    """A Kconfig tree loaded for one ARCH and toolchain; settles configs as the kernel's `conf`.

    Made by :meth:`load`. Attributes: ``tree`` (resolved path), ``arch`` and ``srcarch`` (None
    for a plain Kconfig project), ``env`` (what `conf` would receive), ``warnings`` (Kconfig
    warnings seen while loading, reading and resolving, each once), ``load_seconds`` and
    ``probes_run`` (toolchain probes actually run: 0 on a probe cache hit). One instance holds
    one evaluation state: use it from one thread at a time.
    """

    def __init__(self, kconf: LinuxKconfig, tree: Path, *, arch: Optional[str], srcarch: Optional[str],
                 env: Dict[str, str], work_dir: Path, kernel: bool, load_seconds: float = 0.0) -> None:
        self._k = kconf
        self.tree = tree
        self.arch = arch
        self.srcarch = srcarch
        self.env = env
        self.work_dir = work_dir
        self.is_kernel = kernel
        self.load_seconds = load_seconds
        self.probes_run = kconf.probes_run
        self.warnings: List[str] = []
        self._seen_warnings: set = set()
        self._take_warnings()
        self._prefix = kconf.config_prefix
        self._header = "#\n# Automatically generated file; DO NOT EDIT.\n# {}\n#\n".format(kconf.mainmenu_text)
        self._prepared: Dict[str, _Prepared] = {}
        self._deps: Dict[object, frozenset] = {}
        self._plan: Optional[List[Tuple[int, object]]] = None
        self._lines: Dict[Symbol, Tuple[str, str]] = {}

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, tree: Path, *, arch: Optional[str] = None, llvm: Optional[str] = None,
             make_vars: Sequence[str] = (), kconfig_file: str = "Kconfig", work_dir: Optional[Path] = None,
             probe_cache: Optional[Path] = None, choice_rules: Optional[ChoiceRules] = None) -> "KconfigTree":
        """Parse ``tree/kconfig_file`` with the environment `make ARCH=.. LLVM=..` would give `conf`.

        ``work_dir`` is where ``$(shell,...)`` probes run (they write temporary files to their
        current directory); a private temporary directory by default. ``probe_cache`` is a
        directory: probe answers are kept there in one file per toolchain identity and reused.
        ``choice_rules`` overrides the choice semantics read off the tree's ``scripts/kconfig``
        (for Kconfig projects that do not carry the kernel's tools).
        """
        tree = Path(tree).resolve()
        if not tree.is_dir():
            raise UserError(f"tree {tree} does not exist or is not a directory")
        if not (tree / kconfig_file).is_file():
            raise UserError(f"{tree} has no {kconfig_file}: not a Kconfig tree")
        env = kconfig_env(tree, arch, llvm, make_vars)
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="ltobisect-kconfig-"))
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        cache_file = None
        cached: Dict[str, str] = {}
        if probe_cache is not None:
            cache_file = Path(probe_cache) / f"probes-{_toolchain_identity(env)}.json"
            cached = load_probe_cache(cache_file)
        start = time.monotonic()
        with _environment(env):
            try:
                rules = choice_rules or ChoiceRules.of_tree(tree)
                kconf = LinuxKconfig(kconfig_file, work_dir=work_dir, probe_cache=cached,
                                     choice_rules=rules, clamp_out_of_range=clamps_out_of_range(tree, rules))
            except KconfigError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else "parse error"
                raise UserError(f"cannot parse the Kconfig of {tree}: {first}") from None
        seconds = time.monotonic() - start
        if cache_file is not None and kconf.probes_run:
            try:
                save_probe_cache(cache_file, kconf.probe_cache)
            except OSError as e:
                # A cache we cannot write only costs time on the next load.
                kconf.warnings.append(f"probe cache {cache_file} not written: {e.strerror or e}")
        return cls(kconf, tree, arch=env.get("ARCH"), srcarch=env.get("SRCARCH"), env=env,
                   work_dir=work_dir, kernel=is_kernel_tree(tree), load_seconds=seconds)

    def symbol_type(self, name: str) -> Optional[str]:
        """``bool``, ``tristate``, ``int``, ``hex`` or ``string`` for a symbol the tree defines, else None."""
        sym = self._sym(name)
        return self._type_of(sym) if sym is not None else None

    @property
    def choice_rules(self) -> ChoiceRules:
        """The choice semantics this tree's `conf` uses (before 6.11, or 6.11+)."""
        return self._k.choice_rules

    def is_choice_member(self, name: str) -> bool:
        """True for a symbol defined inside a ``choice`` block."""
        sym = self._sym(name)
        return sym is not None and sym.choice is not None

    def kernelversion(self) -> Optional[str]:
        """The tree's kernel version (``6.1.192``), None for a non-kernel tree."""
        return self.env.get("KERNELVERSION")

    # -- internals --------------------------------------------------------------------------
    def _take_warnings(self) -> Tuple[str, ...]:
        new = tuple(self._k.warnings)
        self._k.warnings.clear()
        for w in new:
            if w not in self._seen_warnings:
                self._seen_warnings.add(w)
                self.warnings.append(w)
        return new

    def _load_text(self, text: str) -> None:
        """Read a .config as `conf` does: its assignments, in file order, replace all user values."""
        self._apply(self._plan_of(text))

    def _plan_of(self, text: str) -> List[Tuple[Symbol, str]]:
        syms = self._k.syms
        plan = []
        for name, value in _assignments(text, self._prefix):
            sym = syms.get(name)
            if sym is not None and sym.nodes:
                plan.append((sym, value))
        return plan

    def _apply(self, plan: Sequence[Tuple[Symbol, str]]) -> None:
        """Make ``plan`` (symbol, value) the user values, in order, as loading a .config does.

        The same steps as conf's reader without parsing text: a later line for a symbol wins,
        choice members are reported to the compatibility layer (which keeps each choice's
        mode, user selection or priority list by the tree's rules), and symbols whose user
        value does not change are not invalidated, so only what the candidate touches is
        recomputed.
        """
        k = self._k
        # A .config names symbols without prompts all the time; kconfiglib's reader is quiet
        # about them too.
        k._warn_assign_no_prompt = False
        try:
            self._apply_values(plan)
        finally:
            k._warn_assign_no_prompt = True

    def _apply_values(self, plan: Sequence[Tuple[Symbol, str]]) -> None:
        k = self._k
        for sym in k.unique_defined_syms:
            sym._was_set = False
        for choice in k.unique_choices:
            choice._was_set = False
        k.begin_read()
        for sym, value in plan:
            if sym.orig_type in (BOOL, TRISTATE):
                if not (value[:1] in ("y", "n") or (value[:1] == "m" and sym.orig_type is TRISTATE)):
                    k._warn(f"'{value}' is not a valid value for the {_TYPE_NAMES[sym.orig_type]} symbol "
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

    def _write(self) -> str:
        """The .config text of the current values, as `conf` writes it (kconfiglib's layout).

        Replays a flattened menu walk computed once, and reuses each symbol's line while its
        value is unchanged: the walk and the formatting were a third of a resolve.
        """
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
        prefix = self._prefix
        if sym.orig_type in (BOOL, TRISTATE):
            return f"{prefix}{sym.name}={val}\n" if val != "n" else f"# {prefix}{sym.name} is not set\n"
        if sym.orig_type is kconfiglib.STRING:
            return f'{prefix}{sym.name}="{kconfiglib.escape(val)}"\n'
        return f"{prefix}{sym.name}={val}\n"

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

    def _sym(self, name: str) -> Optional[Symbol]:
        sym = self._k.syms.get(name)
        return sym if sym is not None and sym.nodes else None

    def _type_of(self, sym: Symbol) -> str:
        return _TYPE_NAMES.get(sym.orig_type, "bool")

    def _allno_text(self, allconfig: Optional[Path]) -> str:
        """``make allnoconfig`` (with ``allconfig`` as KCONFIG_ALLCONFIG): every bool and
        tristate set to n (``allnoconfig_y`` ones to y), the file's lines on top.

        6.11+ conf leaves choice members alone (the choice takes its default); before 6.11
        they are set to n like any symbol, which leaves the choice to its default too.
        """
        k = self._k
        priority = k.choice_rules is ChoiceRules.PRIORITY
        plan = [(sym, "y" if sym.is_allnoconfig_y else "n") for sym in k.unique_defined_syms
                if sym.orig_type in (BOOL, TRISTATE) and not (priority and sym.choice is not None)]
        if allconfig is not None:
            plan += self._plan_of(allconfig.read_text())
        self._apply(plan)
        return self._write()

    # -- baselines and input ----------------------------------------------------------------
    def baseline(self, spec: str) -> str:
        """The resolved baseline config: ``defconfig``, ``tinyconfig``, ``allnoconfig`` or a file path.

        Computed as the kernel computes them: tinyconfig is allnoconfig with
        ``kernel/configs/tiny-base.config`` as KCONFIG_ALLCONFIG, then ``tiny.config`` merged in
        and olddefconfig; defconfig is the arch's KBUILD_DEFCONFIG file loaded and written. For a
        non-kernel tree, defconfig is the project's ``defconfig`` file if it has one, else all
        defaults, and tinyconfig is allnoconfig.
        """
        try:
            if spec == "allnoconfig":
                return self._allno_text(None)
            if spec == "tinyconfig":
                if not self.is_kernel:
                    return self._allno_text(None)
                base = self.tree / "kernel" / "configs" / "tiny-base.config"
                text = self._allno_text(base if base.is_file() else None)
                frags = [self.tree / "kernel" / "configs" / "tiny.config",
                         self.tree / "arch" / str(self.srcarch) / "configs" / "tiny.config"]
                lines: List[str] = []
                for frag in frags:
                    if frag.is_file():
                        lines += frag.read_text().splitlines()
                return self.normalize(_merge(text, lines))
            if spec == "defconfig":
                if self.is_kernel:
                    path = defconfig_file(self.tree, str(self.arch), str(self.srcarch))
                else:
                    path = self.tree / "defconfig"
                    if not path.is_file():
                        return self.normalize("")
                self._load_text(path.read_text())
                return self._write()
        finally:
            self._take_warnings()
        path = Path(spec)
        if not path.exists() and spec not in _BASELINE_NAMES:
            raise UserError(f"baseline {spec!r} is neither {', '.join(_BASELINE_NAMES)} nor an existing file")
        return self.normalize(self.read_config(path))

    def read_config(self, path: Path) -> str:
        """The text of a .config file, checked: UserError if unreadable, empty or not a config.

        Symbols the tree does not define are reported in :attr:`warnings` by name (not fatal).
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise UserError(f"{path} is a directory, not a .config file") from None
        except OSError as e:
            raise UserError(f"cannot read config {path}: {e.strerror or e}") from None
        if not data.strip():
            raise UserError(f"config {path} is empty")
        if b"\0" in data:
            raise UserError(f"{path} is not a .config file (binary data)")
        text = data.decode("utf-8", errors="replace")
        values = parse_config(text, self._prefix)
        if not values:
            raise UserError(f"{path} is not a .config file (no {self._prefix}... lines)")
        unknown = sorted(n for n in values if self._sym(n) is None)
        if unknown:
            shown = ", ".join(self._prefix + n for n in unknown[:20])
            more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
            msg = f"{path}: {len(unknown)} symbol(s) unknown to this tree, ignored: {shown}{more}"
            if msg not in self._seen_warnings:
                self._seen_warnings.add(msg)
                self.warnings.append(msg)
        return text

    def normalize(self, config_text: str) -> str:
        """``make olddefconfig`` of any config text."""
        self._load_text(config_text)
        out = self._write()
        self._take_warnings()
        return out

    # -- diff and resolve -------------------------------------------------------------------
    def diff(self, baseline_text: str, bad_text: str) -> Tuple[Change, ...]:
        """Every user-settable symbol whose value differs between the two settled configs.

        Both texts are settled first. A symbol absent from a config counts as ``n`` (bool,
        tristate). An explicit ``# CONFIG_X is not set`` in the bad config for a symbol the
        baseline does not write is a change only when the other changes would otherwise give
        the symbol a value (an absent symbol takes its default once it becomes visible); the
        full set of changes then resolves to the bad config. An int/hex/string symbol absent
        from the bad config is left out (other changes hide it, no value can be asked for it).
        Symbols without any prompt are left out: Kconfig derives them, no candidate sets them.
        """
        base_text = self.normalize(baseline_text)
        base = parse_config(base_text, self._prefix)
        bad = parse_config(self.normalize(bad_text), self._prefix)
        changes: List[Change] = []
        hidden_off: Dict[str, Change] = {}
        for name in sorted(set(base) | set(bad)):
            sym = self._sym(name)
            if sym is None or not any(node.prompt for node in sym.nodes):
                continue
            typ = self._type_of(sym)
            empty = "n" if typ in ("bool", "tristate") else ""
            if name not in bad and typ not in ("bool", "tristate"):
                continue
            old, new = base.get(name, empty), bad.get(name, empty)
            if old != new:
                changes.append(Change(name=name, value=new, type=typ, baseline_value=old))
            elif name not in base and name in bad and new == "n":
                hidden_off[name] = Change(name=name, value="n", type=typ, baseline_value="n")
        # Each round can only turn symbols off, so this ends; a few rounds in practice.
        while hidden_off:
            got = parse_config(self.resolve(base_text, changes).config_text, self._prefix)
            needed = [c for name, c in hidden_off.items() if got.get(name, "n") != "n"]
            if not needed:
                break
            for c in needed:
                del hidden_off[c.name]
            changes.extend(needed)
        return ordered(changes)

    def _prepare(self, baseline_text: str) -> _Prepared:
        prep = self._prepared.get(baseline_text)
        if prep is None:
            if len(self._prepared) > 8:
                self._prepared.clear()
            prep = self._prepared[baseline_text] = _Prepared(baseline_text, self._k)
        return prep

    def resolve(self, baseline_text: str, cand: Iterable[Change]) -> Resolved:
        """Apply a candidate to the baseline and settle it (``make olddefconfig`` semantics).

        The config text is byte-identical to what ``make olddefconfig`` writes for the baseline
        with the candidate's fragment (:meth:`fragment`) appended. Changes apply in name order,
        so the result does not depend on the order of the set. Changes that did not take effect are listed
        with the value the symbol got and why. ``warnings`` holds what applying the candidate
        warned about (invalid values); warnings Kconfig gives while computing values (select
        with unmet dependencies, clamped defaults) depend on what was computed before, so they
        go to :attr:`warnings` of the tree instead, keeping each Resolved deterministic.
        """
        cand = frozenset(cand)
        # The same order as model.ordered(), with a key: comparing dataclasses was 10% of a resolve.
        changes = sorted(cand, key=_change_key)
        prep = self._prepare(baseline_text)
        # The fragment is appended to the baseline, as `cat baseline fragment > .config`:
        # what conf reads from a choice depends on the lines before the fragment's too.
        plan = [(sym, value) for _name, sym, value in prep.assignments]
        syms = self._k.syms
        for c in changes:
            sym = syms.get(c.name)
            if sym is not None and sym.nodes:
                plan.append((sym, c.value))
        self._apply(plan)
        warnings = self._take_warnings()
        text = self._write()
        ineffective = tuple(i for i in (self._check(c) for c in changes) if i is not None)
        self._take_warnings()
        return Resolved(candidate=cand, config_text=text, digest=digest(text),
                        ineffective=ineffective, warnings=warnings)

    def resolver(self, baseline_text: str) -> Callable[[Candidate], Resolved]:
        """``resolve`` bound to one baseline: what :class:`~ltobisect.problem.Problem` takes."""
        self._prepare(baseline_text)

        def resolve(cand: Candidate) -> Resolved:
            return self.resolve(baseline_text, cand)

        return resolve

    def _check(self, change: Change) -> Optional[Ineffective]:
        sym = self._sym(change.name)
        if sym is None:
            return Ineffective(change, "", "unknown symbol")
        actual = actual_value(sym)
        if actual == change.value:
            return None
        return Ineffective(change, actual, why_ineffective(sym, change, actual))

    # -- structure for strategies -----------------------------------------------------------
    def structure(self, baseline_text: str, changes: Sequence[Change]) -> Structure:
        """For each change, the other changes it needs (dependency closure) and its menu path.

        A change that enables or sets a symbol needs the changes to the symbols its visibility
        and direct dependencies rest on, through any chain of symbols. A change that turns a
        symbol off needs the changes turning off the symbols that select it; a change to ``m``
        needs the change enabling the modules symbol. The answer depends on the tree only;
        ``baseline_text`` is accepted for symmetry with :meth:`resolve`.
        """
        modules = self._k.modules
        needs = needs_closure(changes, self._sym, self._deps,
                              modules.name if modules is not None and modules.nodes else None)
        return Structure(needs=needs, menu={c: self.menu_path(c.name) for c in changes})

    def menu_path(self, name: str) -> Tuple[str, ...]:
        """The menus (and choices, menuconfig entries) that hold the symbol, outermost first."""
        sym = self._sym(name)
        return menu_path(sym, self._k.top_node) if sym is not None else ()

    # -- output -----------------------------------------------------------------------------
    def fragment(self, cand: Iterable[Change]) -> str:
        """The candidate as a ``merge_config.sh`` fragment, one line per change in name order."""
        return "".join(c.line(self._prefix) + "\n" for c in ordered(cand))

    def min_config(self, config_text: str) -> str:
        """The savedefconfig-style minimal config of ``config_text`` (as ``make savedefconfig``)."""
        self._load_text(config_text)
        out = self._k._min_config_contents("")
        self._take_warnings()
        return out


def _make(tree: Path, target: str, *, arch: Optional[str], llvm: Optional[str], make_vars: Sequence[str],
          work_dir: Path, extra_env: Optional[Dict[str, str]]) -> None:
    """``make -C tree O=work_dir ARCH=.. LLVM=.. <make_vars> target``; InfraError when it fails."""
    argv = ["make", "-s", "-j2", "-C", str(Path(tree).resolve()), f"O={Path(work_dir).resolve()}"]
    if arch:
        argv.append(f"ARCH={arch}")
    if llvm:
        argv.append(f"LLVM={llvm}")
    parse_make_vars(make_vars)
    argv += list(make_vars) + [target]
    # The caller's KCONFIG_* (KCONFIG_CONFIG, KCONFIG_ALLCONFIG...) would change what conf does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCONFIG_") and k not in ("ARCH", "LLVM")}
    env.update(extra_env or {})
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise InfraError(f"make {target} failed ({proc.returncode}): {tail}")


def make_olddefconfig(tree: Path, config_text: str, *, arch: Optional[str], llvm: Optional[str],
                      make_vars: Sequence[str] = (), work_dir: Path, target: str = "olddefconfig",
                      extra_env: Optional[Dict[str, str]] = None) -> str:
    """Run the kernel's own ``make O=work_dir ARCH=.. LLVM=.. olddefconfig`` on ``config_text``.

    Returns the ``.config`` it writes. The source tree is only read. ``target`` may name another
    config target that starts from ``.config`` (``savedefconfig`` returns the ``defconfig`` file).
    Raises :class:`InfraError` when make fails.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / ".config").write_text(config_text)
    _make(tree, target, arch=arch, llvm=llvm, make_vars=make_vars, work_dir=work_dir, extra_env=extra_env)
    return (work_dir / ("defconfig" if target == "savedefconfig" else ".config")).read_text()


def run_config_target(tree: Path, target: str, *, arch: Optional[str], llvm: Optional[str],
                      make_vars: Sequence[str] = (), work_dir: Path,
                      extra_env: Optional[Dict[str, str]] = None) -> str:
    """``make O=work_dir <target>`` for a target that makes a new .config (tinyconfig, randconfig...).

    ``extra_env`` passes e.g. ``KCONFIG_SEED`` / ``KCONFIG_PROBABILITY`` to randconfig.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (work_dir / ".config").unlink()
    _make(tree, target, arch=arch, llvm=llvm, make_vars=make_vars, work_dir=work_dir, extra_env=extra_env)
    return (work_dir / ".config").read_text()
