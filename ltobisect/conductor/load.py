"""The loading step: check the inputs, load the Kconfig tree, compute the baseline and the changes.

Rules:

- Bad input (a missing or unreadable bad config, a tree that is not a Kconfig tree, a test script
  that cannot run, a baseline that is neither a name nor a file) is a :class:`UserError` before
  anything is built.
- A bad config equal to the baseline has nothing to minimize: bad input too.
- A resumed session must find the same changes it started with (same tree, same bad config);
  otherwise its journal would answer questions about another search.
- Every candidate the session resolves is remembered by digest (``Loaded.by_digest``), so the
  report can name the changes of any config the journal mentions (flaky ones).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from ltobisect import history
from ltobisect.build import toolchain_versions
from ltobisect.config import BASELINES, BuildSpec, SessionConfig, config_from_json, is_kernel_tree
from ltobisect.errors import UserError
from ltobisect.inputs import check_script
from ltobisect.store.journal import write_atomic
from ltobisect.kconfig import KconfigTree
from ltobisect.model import Candidate, Change, Resolved, Structure, ordered
from ltobisect.store.state import EACH_FILE, ResultDoc, SessionDoc, StateDir, file_digest

#: Loads the Kconfig tree of a session (a seam for tests): ``loader(config, work_dir)``.
TreeLoader = Callable[[SessionConfig, Path], Any]


def load_tree(config: SessionConfig, work_dir: Path) -> Any:
    """Load the Kconfig tree of ``config.build`` with kconfiglib (``ltobisect.kconfig``)."""
    assert config.build is not None
    return load_build_tree(config.build, work_dir)


def load_build_tree(b: BuildSpec, work_dir: Path) -> Any:
    """The Kconfig tree of ``b`` as every session loads it: probes run in ``work_dir`` and their
    answers are kept in ``work_dir/probes``."""
    return KconfigTree.load(
        b.tree, arch=b.arch, llvm=b.llvm, make_vars=b.make_vars, kconfig_file=b.kconfig_file,
        work_dir=work_dir, probe_cache=work_dir / "probes",
    )


@dataclass
class Loaded:
    """What the loading step established."""

    tree: Any  # ltobisect.kconfig.KconfigTree, or a test's stand-in
    tree_dir: Path
    baseline_text: str
    changes: Tuple[Change, ...]
    structure: Structure
    base: Resolved
    bad: Resolved
    resolve: Callable[[Candidate], Resolved]
    by_digest: Dict[str, Candidate] = field(default_factory=dict)


def validate(cfg: SessionConfig) -> None:
    """Bad input found before the tree is loaded (one clear line each)."""
    bad = Path(cfg.bad_config)
    if not bad.is_file():
        raise UserError(f"bad config {bad} does not exist", hint="give the failing .config")
    if not os.access(bad, os.R_OK):
        raise UserError(f"bad config {bad} is not readable")
    if cfg.build is None:
        raise UserError("no tree given", hint="give --tree, the Kconfig tree the config is for")
    tree = Path(cfg.build.tree)
    if not tree.is_dir():
        raise UserError(f"tree {tree} does not exist", hint="give --tree DIR")
    if not (tree / cfg.build.kconfig_file).is_file():
        raise UserError(f"{tree} is not a Kconfig tree (no {cfg.build.kconfig_file})")
    if cfg.test_script is not None:
        check_script(Path(cfg.test_script))
    if cfg.failure_log is not None and not Path(cfg.failure_log).is_file():
        raise UserError(f"failure log {cfg.failure_log} does not exist")
    if cfg.signature_regex is not None and cfg.test_script is not None:
        raise UserError("--signature applies to builds, not to a --test script",
                        hint="let the script decide what reproduces")
    if cfg.verify_repeats < 0:
        raise UserError(f"verify repeats must be 0 or more, not {cfg.verify_repeats}")
    base = cfg.baseline
    if base not in BASELINES and not Path(base).is_file():
        raise UserError(f"baseline {base} is neither defconfig, tinyconfig, allnoconfig nor a file")


def load(cfg: SessionConfig, doc: SessionDoc, loader: TreeLoader, state_dir: Path,
         work_dir: Path) -> Loaded:
    """Load the tree, diff the bad config against the baseline, fill ``doc`` on a first run.
    Kconfig's probes run in ``work_dir``; baseline.config is written to ``state_dir``."""
    validate(cfg)
    assert cfg.build is not None
    tree_dir = Path(cfg.build.tree)
    work = work_dir / "kconfig"
    work.mkdir(parents=True, exist_ok=True)
    tree = loader(cfg, work)
    baseline_text = tree.baseline(cfg.baseline)
    try:
        bad_text = tree.read_config(Path(cfg.bad_config))
    except OSError as exc:
        raise UserError(f"cannot read bad config {cfg.bad_config}: {exc.strerror}") from exc
    changes = tuple(ordered(tree.diff(baseline_text, bad_text)))
    if not changes:
        raise UserError(f"the bad config {cfg.bad_config} equals the baseline {cfg.baseline}: "
                        "nothing to minimize", hint="give the failing .config, or another --baseline")
    if doc.changes is not None and doc.changes != changes:
        raise UserError(
            f"the tree or the bad config changed since this session started "
            f"({len(doc.changes)} changes then, {len(changes)} now)",
            hint="start a new session with another --state",
        )
    raw_resolve = tree.resolver(baseline_text)
    by_digest: Dict[str, Candidate] = {}

    def resolve(cand: Candidate) -> Resolved:
        r = raw_resolve(cand)
        by_digest.setdefault(r.digest, frozenset(cand))
        return r

    structure = tree.structure(baseline_text, changes)
    base, bad = resolve(frozenset()), resolve(frozenset(changes))
    write_atomic(state_dir / "baseline.config", base.config_text)
    if doc.changes is None:
        doc.changes = changes
        doc.baseline_digest, doc.bad_digest = base.digest, bad.digest
        doc.bad_config_sha256 = file_digest(Path(cfg.bad_config))
        doc.environment = environment(cfg, tree, tree_dir)
        doc.kconfig_warnings = list(getattr(tree, "warnings", []) or [])[:200]
        doc.ineffective_in_bad = [f"{i.change.line()}: {i.reason}" for i in bad.ineffective][:50]
    return Loaded(tree, tree_dir, baseline_text, changes, structure, base, bad, resolve, by_digest)


def environment(cfg: SessionConfig, tree: Any, tree_dir: Path) -> Dict[str, Any]:
    """What the report says about the machine's side: tree version, git describe, toolchain."""
    # reproduce.sh and the final check use the kernel's merge_config.sh and olddefconfig.
    env: Dict[str, Any] = {"tree": str(tree_dir), "kernel_tree": is_kernel_tree(tree_dir)}
    try:
        env["kernelversion"] = tree.kernelversion()
    except Exception as exc:  # a non-kernel Kconfig project has no version: say why
        env["kernelversion"] = None
        env["kernelversion_note"] = str(exc)
    env["git_describe"] = history.describe(tree_dir)
    if cfg.build is not None and cfg.test_script is None:
        try:
            env["toolchain"] = toolchain_versions(cfg.build)
        except Exception as exc:
            env["toolchain"] = {"note": f"unavailable: {exc}"}
    return env


def minimized_session(state: Path, verb: str, rest: str = "") -> Tuple[SessionConfig, SessionDoc,
                                                                        ResultDoc]:
    """The minimized session a later step starts from (``verb``: reduce, bisect): its config
    (with the state directory where it is now), its document and its result. A UserError in the
    step's words when the directory holds one search per failure, no minimized result, or a
    config another version wrote; ``rest`` ends the command its hint names."""
    if (Path(state) / EACH_FILE).is_file():
        raise UserError(f"{state} holds one search per failure",
                        f"{verb} one of them: ltobisect {verb} {state}/failures/N{rest}")
    store = StateDir(state)
    doc = store.read_doc()
    result = store.minimized()
    if result is None:
        raise UserError(f"{state} holds no minimized result to {verb}",
                        f"finish the search first: ltobisect resume {state}")
    try:
        config = replace(config_from_json(doc.config), state_dir=Path(state))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{state}/session.json holds no usable session config ({exc})",
                        "the session was written by another version of ltobisect") from None
    return config, doc, result
