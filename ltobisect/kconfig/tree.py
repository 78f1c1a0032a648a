"""A Kconfig tree loaded for an ARCH and toolchain, settling configs exactly as `conf` does.

A candidate is resolved the way a user would test it by hand: the baseline ``.config`` with the
candidate's fragment appended (the lines of ``fragment.config``, in its order), then ``make
olddefconfig``. The result is byte-identical to the kernel's own tool, by the rules of the
tree's own Kconfig generation (before 6.11 and 6.11+ choices, 6.18 transitional symbols: see
:mod:`ltobisect.kconfig.compat`); tests/test_kconfig_kernel.py checks it on Linux 6.1 and 6.12
for x86_64 and arm64, on whole configs and on random subsets of their differences.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from kconfiglib import BOOL, TRISTATE, KconfigError, Symbol, expr_items

from ltobisect import dotconfig
from ltobisect.config import BASELINES, is_kernel_tree
from ltobisect.errors import UserError
from ltobisect.kconfig import reader
from ltobisect.kconfig.compat import (ChoiceRules, Generation, LinuxKconfig, load_probe_cache,
                                      save_probe_cache)
from ltobisect.kconfig.env import defconfig_file, environment, kconfig_env, probe_identity
from ltobisect.kconfig.explain import (TYPE_NAMES, actual_value, menu_path, needs_closure,
                                       providers_of, why_ineffective)
from ltobisect.kconfig.writer import ConfigWriter
from ltobisect.model import Candidate, Change, Ineffective, Resolved, Structure, ordered
from ltobisect.textfit import plural


def _change_key(c: Change) -> Tuple[str, str, str, str]:
    return (c.name, c.value, c.type, c.baseline_value)


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
        self._writer = ConfigWriter(kconf)
        self._prepared: Dict[str, reader.Prepared] = {}
        self._deps: Dict[object, frozenset] = {}

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(cls, tree: Path, *, arch: Optional[str] = None, llvm: Optional[str] = None,
             make_vars: Sequence[str] = (), kconfig_file: str = "Kconfig", work_dir: Optional[Path] = None,
             probe_cache: Optional[Path] = None, choice_rules: Optional[ChoiceRules] = None,
             generation: Optional[Generation] = None) -> "KconfigTree":
        """Parse ``tree/kconfig_file`` with the environment `make ARCH=.. LLVM=..` would give `conf`.

        ``work_dir`` is where ``$(shell,...)`` probes run (they write temporary files to their
        current directory); a private temporary directory by default. ``probe_cache`` is a
        directory: probe answers are kept there in one file per toolchain identity and reused.
        ``generation`` overrides the conf generation read off the tree's ``scripts/kconfig``
        (:class:`~ltobisect.kconfig.compat.Generation`), ``choice_rules`` only its choice rules
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
            cache_file = Path(probe_cache) / f"probes-{probe_identity(env)}.json"
            cached = load_probe_cache(cache_file)
        start = time.monotonic()
        with environment(env):
            try:
                kconf = LinuxKconfig(kconfig_file, work_dir=work_dir, probe_cache=cached,
                                     generation=generation or Generation.of_tree(tree, choice_rules))
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
    def generation(self) -> Generation:
        """The generation of this tree's `conf` (its choice rules, its out-of-range values)."""
        return self._k.generation

    @property
    def choice_rules(self) -> ChoiceRules:
        """The choice semantics this tree's `conf` uses (before 6.11, or 6.11+)."""
        return self._k.generation.choices

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
        reader.apply(self._k, reader.plan_of(self._k, text))

    def _write(self) -> str:
        """The .config text of the current values, as `conf` writes it."""
        return self._writer.write()

    def _sym(self, name: str) -> Optional[Symbol]:
        sym = self._k.syms.get(name)
        return sym if sym is not None and sym.nodes else None

    def _type_of(self, sym: Symbol) -> str:
        return TYPE_NAMES.get(sym.orig_type, "bool")

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
            plan += reader.plan_of(k, allconfig.read_text())
        reader.apply(k, plan)
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
                return self.normalize(dotconfig.merge(text, lines))
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
        if not path.exists() and spec not in BASELINES:
            raise UserError(f"baseline {spec!r} is neither {', '.join(BASELINES)} nor an existing file")
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
        values = dotconfig.parse(text, self._prefix)
        if not values:
            raise UserError(f"{path} is not a .config file (no {self._prefix}... lines)")
        unknown = sorted(n for n in values if self._sym(n) is None)
        if unknown:
            shown = ", ".join(self._prefix + n for n in unknown[:20])
            more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
            msg = f"{path}: {plural(len(unknown), 'symbol')} unknown to this tree, ignored: {shown}{more}"
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
        base = dotconfig.parse(base_text, self._prefix)
        bad = dotconfig.parse(self.normalize(bad_text), self._prefix)
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
            got = dotconfig.parse(self.resolve(base_text, changes).config_text, self._prefix)
            needed = [c for name, c in hidden_off.items() if got.get(name, "n") != "n"]
            if not needed:
                break
            for c in needed:
                del hidden_off[c.name]
            changes.extend(needed)
        return ordered(changes)

    def _prepare(self, baseline_text: str) -> reader.Prepared:
        prep = self._prepared.get(baseline_text)
        if prep is None:
            if len(self._prepared) > 8:
                self._prepared.clear()
            prep = self._prepared[baseline_text] = reader.Prepared(baseline_text, self._k)
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
        reader.apply(self._k, plan)
        warnings = self._take_warnings()
        text = self._write()
        ineffective = tuple(i for i in (self._check(c) for c in changes) if i is not None)
        self._take_warnings()
        return Resolved(candidate=cand, config_text=text, digest=dotconfig.digest(text),
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
        needs the change enabling the modules symbol; these depend on the tree only. It also
        gives, for each setting the bad config adds to the baseline, the changes that can each
        bring it about (``providers``: the symbol's own change, those of its selectors, and
        of what a default depends on, see :func:`~ltobisect.kconfig.explain.providers_of`).
        """
        modules = self._k.modules
        mod = modules.name if modules is not None and modules.nodes else None
        needs = needs_closure(changes, self._sym, self._deps, mod)
        return Structure(needs=needs, menu={c: self.menu_path(c.name) for c in changes},
                         providers=self._providers(baseline_text, changes, mod))

    def _providers(self, baseline_text: str, changes: Sequence[Change],
                   modules: Optional[str]) -> Dict[str, frozenset]:
        """For each setting line the bad config (baseline plus every change) has and the
        baseline lacks, the changes that can bring it about on their own (see
        :class:`~ltobisect.model.Structure`)."""
        before = set(self.resolve(baseline_text, ()).config_text.splitlines())
        by_name = {c.name: c for c in changes}
        # Resolved last, so that defaults naming other symbols read the bad config's values.
        added = {line: line[len(self._prefix):].partition("=")[0]
                 for line in self.resolve(baseline_text, changes).config_text.splitlines()
                 if line.startswith(self._prefix) and line not in before}
        raised = set(added.values())
        out: Dict[str, frozenset] = {}
        for line, name in added.items():
            sym = self._sym(name)
            if sym is not None:
                found = providers_of(sym, by_name, raised, self._deps, modules)
                if found:
                    out[line] = found
        return out

    def selectors(self, name: str) -> List[str]:
        """The symbols whose ``select`` lines name ``name`` (its reverse dependencies)."""
        sym = self._sym(name)
        if sym is None:
            return []
        return sorted({i.name for i in expr_items(sym.rev_dep)
                       if isinstance(i, Symbol) and not i.is_constant and i is not self._k.modules})

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
