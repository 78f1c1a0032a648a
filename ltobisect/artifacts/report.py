"""The artifacts a tester mails upstream, rendered from the state directory alone.

:func:`render` (``ltobisect report``) and :func:`write_artifacts` (the session, at the end of
every run) read ``session.json``, ``result.json``, ``best.json``/``best.config``, the journal and
the run history, and write, beside each other:

- ``report.txt``: plain text within 78 columns (only a token that cannot be broken runs longer),
  in the shape of the kernel test robot's build reports: the error line as the headline; the
  tree's version, ARCH, compiler and linker; the minimal fragment and the LTO matrix; the
  commands that reproduce it from the top of a clean tree (relative paths only, nothing of this
  machine); the error lines of the build log; Kconfig warnings; the verification; the list of
  attachments; and last, the statistics of the search;
- ``minimal.config`` (the full resolved .config), ``fragment.config`` (the lines to merge),
  ``baseline.config`` (when the baseline is a file), ``excerpt.txt`` (the error lines),
  ``kconfig-warnings.txt`` (when Kconfig warned), a copy of a ``--test`` script;
- ``reproduce.sh``: runs the commands in a clean output directory (exit codes in
  :mod:`ltobisect.artifacts.reproduce`), also for ``git bisect run`` with ``--bisect``;
- ``judge.py``: the session's signature and ltobisect's matcher, which reproduce.sh runs on
  its log (:mod:`ltobisect.artifacts.judge_bundle`);
- ``summary.json``: the same facts for machines.

Everything report.txt names is attached beside it; session.json, the journal and the build logs
stay with the tester. A partial result (stopped, or not verified) is marked as such in every
artifact.

This module owns report.txt and the writing of every artifact; reproduce.sh is rendered by
:mod:`ltobisect.artifacts.reproduce`, summary.json by :mod:`ltobisect.artifacts.summary`, both from the facts
:mod:`ltobisect.artifacts.facts` reads.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from ltobisect import __version__
from ltobisect.store import journal as jr
from ltobisect.config import BASELINES
from ltobisect.artifacts.judge_bundle import JUDGE_FILE, judge_program, uses_judge
from ltobisect.model import SessionStatus
from ltobisect.store.state import REDUCED_DIR
from ltobisect.artifacts.report_after import first_bad_section, reduced_section
from ltobisect.artifacts.facts import EXCERPT_FILE, Facts
from ltobisect.artifacts.reproduce import reproduce_commands, reproduce_script, test_script_name
from ltobisect.store.state import ResultDoc, StateDir
from ltobisect.artifacts.summary import summary_data
from ltobisect.textfit import (REPORT_WIDTH, clock, command_lines, plural, squeeze, wrap,
                               wrap_parts)

KCONFIG_WARNINGS_FILE = "kconfig-warnings.txt"

_TITLES = {
    SessionStatus.MINIMIZED: "",
    SessionStatus.PARTIAL: "PARTIAL RESULT",
    SessionStatus.NOT_REPRODUCED: "NOT REPRODUCED",
    SessionStatus.BAD_INPUT: "NOT STARTED (bad input)",
    SessionStatus.INFRA_ERROR: "STOPPED BY AN INFRASTRUCTURE ERROR",
}

#: How many flaky configs the report names; summary.json holds them all.
FLAKY_SHOWN = 10

#: How check_with_make fed the fragment to the kernel's tools, in words.
_READINGS = {"appended": "baseline + fragment appended",
             "merge_config": "baseline + fragment merged by merge_config.sh -m"}

#: What each attachment is, by its key in the artifact paths (in the order they are listed).
_ATTACHMENTS = {
    "fragment": "the minimal fragment, the lines to merge",
    "minimal_config": "the full .config it resolves to",
    "baseline": "the baseline the fragment is merged into",
    "test_script": "the test that decides (exit 0: reproduces)",
    "reproduce": "rebuilds it and checks for the error",
    "judge": "reproduce.sh's check: ltobisect's matcher of the error",
    "excerpt": "the error lines of the build log",
    "kconfig_warnings": "what Kconfig warned about",
    "ld_reproduce": "ld.lld --reproduce of the failing link",
    "reduced": "the reduced reproducer (repro.sh, judge.py, the file)",
    "summary": "these facts for machines",
}


def render(state_dir: Path) -> Path:
    """Write every artifact again from ``state_dir``; return the path of report.txt."""
    return write_artifacts(Path(state_dir))["report"]


def render_text(state_dir: Path) -> str:
    """report.txt as :func:`render` would write it, writing nothing (a read-only directory, such
    as a state directory downloaded from a CI job): the attachments are those on disk."""
    state = Path(state_dir)
    return report_text(Facts.load(state), StateDir(state).artifacts())


def write_artifacts(state_dir: Path) -> Dict[str, Path]:
    """Write report.txt, summary.json and, when there is a result, the config artifacts.

    Returns the artifact paths by name: report, summary, and those that exist of
    minimal_config, fragment, reproduce, judge, baseline, test_script, excerpt,
    kconfig_warnings and ld_reproduce. Every file but report.txt is attached to it.
    """
    facts = Facts.load(Path(state_dir))
    state = facts.state
    paths: Dict[str, Path] = {}
    cfg = facts.config
    if facts.best_changes is not None:
        frag = state / "fragment.config"
        jr.write_atomic(frag, "".join(line + "\n" for line in facts.fragment_lines))
        paths["fragment"] = frag
        if facts.best_config_text is not None:
            minimal = state / "minimal.config"
            jr.write_atomic(minimal, facts.best_config_text)
            paths["minimal_config"] = minimal
        if cfg is not None:
            script = _copy_test_script(facts)
            if script is not None:
                paths["test_script"] = script
            if cfg.test_script is None or script is not None:
                repro = state / "reproduce.sh"
                jr.write_atomic(repro, reproduce_script(facts), mode=0o755)
                paths["reproduce"] = repro
                judge = _write_judge(facts)
                if judge is not None:
                    paths["judge"] = judge
    base = state / "baseline.config"
    if cfg is not None and cfg.baseline not in BASELINES and base.is_file():
        paths["baseline"] = base  # reproduce.sh starts from it
    facts.excerpt()  # writes excerpt.txt when there is a log
    if (state / EXCERPT_FILE).is_file():
        paths["excerpt"] = state / EXCERPT_FILE
    warnings = facts.kconfig_warnings()
    kw = state / KCONFIG_WARNINGS_FILE
    if warnings:
        jr.write_atomic(kw, "\n".join(warnings) + "\n")
        paths["kconfig_warnings"] = kw
    elif kw.is_file():
        kw.unlink()
    ld = facts.result.ld_reproduce or {}
    if ld.get("made") and ld.get("path") and Path(ld["path"]).is_file() \
            and Path(ld["path"]).parent.resolve() == state.resolve():
        paths["ld_reproduce"] = Path(ld["path"])
    reduced = facts.result.reduced or {}
    if reduced.get("attached") and (state / REDUCED_DIR / "repro.sh").is_file():
        paths["reduced"] = state / REDUCED_DIR
    report = state / "report.txt"
    summary = state / "summary.json"
    paths["report"] = report
    paths["summary"] = summary
    jr.write_json_atomic(summary, summary_data(facts, paths))
    jr.write_atomic(report, report_text(facts, paths))
    return paths


def _write_judge(facts: Facts) -> Optional[Path]:
    """judge.py beside reproduce.sh, which runs it to judge its log as the session did (see
    :mod:`ltobisect.artifacts.judge_bundle`); None for a test script's or a measured signature."""
    cfg = facts.config
    if cfg is None or cfg.test_script is not None or not uses_judge(facts.signature):
        return None
    assert facts.signature is not None
    path = facts.state / JUDGE_FILE
    jr.write_atomic(path, judge_program(facts.signature), mode=0o644)
    return path


def _copy_test_script(facts: Facts) -> Optional[Path]:
    """The ``--test`` script copied beside the artifacts (mode 0755), so that reproduce.sh can
    run it there; an earlier copy stays when the original is gone."""
    cfg = facts.config
    name = test_script_name(cfg) if cfg is not None else None
    if cfg is None or name is None:
        return None
    dst = facts.state / name
    try:
        text = Path(cfg.test_script).read_bytes()
    except OSError:
        return dst if dst.is_file() else None
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(text)
    tmp.chmod(0o755)
    os.replace(tmp, dst)
    return dst


# -- report.txt --------------------------------------------------------------------------------
def _field(name: str, value: Any) -> List[str]:
    return wrap(f"{name + ':':<12}{value}", more=" " * 12)


def report_text(facts: Facts, paths: Dict[str, Path]) -> str:
    """The mailing-list report (lines within 78 columns but for unbreakable words)."""
    conf = facts.conf
    L: List[str] = []
    L += _outcome(facts, conf)
    L += _setting(facts)
    L += _fragment(facts)
    L += _evidence(facts, paths)
    L += _kconfig_warnings(facts, paths)
    L += _verification(facts.result)
    L += reduced_section(facts.result)
    L += first_bad_section(facts.result)
    L += _attachments(paths)
    L += _search(facts, conf)
    L.append(f"-- ltobisect {__version__}")
    return "\n".join(L) + "\n"


def _baseline(facts: Facts) -> str:
    """The baseline as a maintainer knows it: a make target, or the attached file's name."""
    if facts.config is None:
        return "?"
    base = facts.config.baseline
    if base in BASELINES:
        return base
    return "baseline.config" if (facts.state / "baseline.config").is_file() else Path(base).name


def _outcome(facts: Facts, conf: Dict[str, Any]) -> List[str]:
    """The headline (the error line), what stopped a partial run and the conf warning."""
    L: List[str] = []
    res = facts.result
    L += wrap(facts.headline)
    L.append("")
    title = _TITLES.get(facts.status, str(facts.status).upper())
    if title:
        L += wrap(f"*** {title}: {res.message or 'the run did not finish'}")
        if res.hint:
            L += wrap(f"    {res.hint}")
        L.append("")
    best_conf = conf["best_conf_disagreement"]
    if best_conf is not None and facts.best_changes is not None:
        L += wrap(f"*** WARNING: the fragment is not exact for the kernel's conf: building the "
                   f"result, conf made another config of it (differing from ours in "
                   f"{plural(best_conf['total'], 'setting')}):")
        for line in best_conf["symbols"]:
            L += wrap(line, "    ")
        L.append("")
    return L


def _setting(facts: Facts) -> List[str]:
    """Version, ARCH, toolchain, make variables, target, baseline, bad config, the test."""
    L: List[str] = []
    cfg = facts.config
    b = facts.build
    kv, gd = facts.kernelversion, facts.git_describe
    if kv or gd:
        L += _field("Version", ", ".join(x for x in (kv, f"git {gd}" if gd else "") if x))
    if b is not None:
        if b.arch:
            L += _field("ARCH", b.arch)
        if b.llvm is not None:
            L += _field("LLVM", b.llvm)
        tools = facts.env.get("toolchain") or {}
        for key, name in (("clang", "Compiler"), ("cc", "Compiler"), ("ld.lld", "Linker")):
            if key in tools:
                L += _field(name, tools[key])
        if b.make_vars:
            L += _field("Make vars", " ".join(b.make_vars))
        if cfg is not None and cfg.test_script is None:
            L += _field("Target", facts.target() or "(make's default goal)")
    if cfg is not None:
        L += _field("Baseline", _baseline(facts))
        L += _field("Bad config", f"{Path(cfg.bad_config).name} ({len(facts.changes)} changes "
                                  "against the baseline; not attached)")
        name = test_script_name(cfg)
        if name is not None:
            L += _field("Test", f"{name} (a copy of {Path(cfg.test_script).name})")
    if L:
        L.append("")
    return L


def _fragment(facts: Facts) -> List[str]:
    """The minimal fragment, how it was verified, and the LTO matrix line."""
    if facts.best_changes is None:
        return []
    L: List[str] = []
    res = facts.result
    n = len(facts.best_changes)
    ver = res.verification or {}
    if facts.verified:
        how = f"verified, {ver.get('repeats', 0)} rebuilds"
    elif facts.status is SessionStatus.MINIMIZED:
        how = "NOT verified: " + "; ".join(ver.get("unverified") or ["see Verification"])
    else:
        how = "NOT verified: the best found so far"
    L += wrap(f"Minimal fragment: {n} of {len(facts.changes)} changes against "
               f"{_baseline(facts)} ({how}):")
    L.append("")
    for line in facts.fragment_lines or ("(none: the baseline alone fails)",):
        L += wrap(line, "  ")
    L.append("")
    guess = facts.log_priors_line()
    if guess:
        L += wrap(guess)
        L.append("")
    for matrix in (facts.lto_matrix_line(), facts.llvm_matrix_line()):
        if matrix:
            L += wrap_parts(matrix.split("; "), "; ")
            L.append("")
    return L


def _evidence(facts: Facts, paths: Dict[str, Path]) -> List[str]:
    """The commands that reproduce the failure and the error lines of the log."""
    L: List[str] = []
    cfg = facts.config
    cmds = reproduce_commands(facts)
    if cmds and facts.best_changes is not None and cfg is not None:
        if cfg.test_script is not None:
            L += wrap("Reproduce, in a directory holding the attachments:")
            runs = "sh reproduce.sh"
        else:
            L += wrap("Reproduce, from the top of the source tree with the attachments in it:")
            runs = "sh reproduce.sh " + ("/path/to/linux" if facts.env.get("kernel_tree")
                                         else "/path/to/tree")
        L.append("")
        for c in cmds:
            L += command_lines(c)
        L.append("")
        L += wrap("reproduce.sh does the same and checks for the error (exit 0: reproduced):")
        L.append("")
        L += command_lines(runs)
        L += command_lines("git bisect run sh /path/to/reproduce.sh --bisect")
        L.append("")

    text, where = facts.excerpt()
    what = "Error" if facts.signature is not None else "Log excerpt"
    if "excerpt" in paths:
        gone = "; the build log is gone, saved earlier" if "no longer on disk" in where else ""
        L += wrap(f"{what} ({paths['excerpt'].name}{gone}):")
    else:
        L += wrap(f"{what} ({facts.relative(where)}):")
    L.append("")
    for line in text.splitlines():
        L += wrap(squeeze(line, REPORT_WIDTH - 2), "  ")
    L.append("")
    return L


def _kconfig_warnings(facts: Facts, paths: Dict[str, Path]) -> List[str]:
    """Kconfig's warnings about the result and the changes it did not apply (the first ten
    of each), and how many the tree's Kconfig files gave; kconfig-warnings.txt has them all."""
    if "kconfig_warnings" not in paths:
        return []
    best = facts.result.best or {}
    warnings = [facts.relative(str(w)) for w in best.get("warnings") or []]
    ineffective = [facts.relative(str(w)) for w in best.get("ineffective") or []]
    tree = len(facts.doc.kconfig_warnings)
    L = wrap(f"Kconfig warnings (all of them in {paths['kconfig_warnings'].name}):")
    for w in warnings[:10]:
        L += wrap(w, "  ")
    for w in ineffective[:10]:
        L += wrap(f"not applied: {w}", "  ")
    if len(warnings) > 10 or len(ineffective) > 10:
        L += wrap("...", "  ")
    if tree:
        L += wrap(f"(reading the tree's Kconfig files gave {plural(tree, 'other warning')})", "  ")
    L.append("")
    return L


def _verification(res: ResultDoc) -> List[str]:
    """Rebuilds, the one-line removals, make olddefconfig's agreement, the ld.lld tarball."""
    L: List[str] = []
    ver = res.verification or {}
    if ver or res.ld_reproduce:
        L.append("Verification:")
        verdicts = ver.get("verdicts") or []
        if verdicts:
            L += wrap(f"rebuilt {plural(len(verdicts), 'time')}: {', '.join(verdicts)}", "  ")
        elif ver:
            L += wrap("not rebuilt (verify repeats 0)", "  ")
        for item in ver.get("unverified") or []:
            L += wrap(f"NOT verified: {item}", "  ")
        if ver.get("minimality_checked"):
            L += wrap("removing any single line stops the failure (each rebuilt twice)", "  ")
        mk = ver.get("olddefconfig") or {}
        if mk.get("checked"):
            if mk.get("equal"):
                L += wrap("make olddefconfig resolves baseline + fragment to the same .config, "
                           "appended and through merge_config.sh -m", "  ")
            else:
                ways = [_READINGS.get(k, k) for k, r in (mk.get("readings") or {}).items()
                        if not r.get("equal")] or ["baseline + fragment"]
                L += wrap(f"WARNING: NOT EXACT: make olddefconfig resolves {' and '.join(ways)} "
                           f"to another .config than the one tested ({mk.get('differing')} "
                           "symbols):", "  ")
                for d in mk.get("diff", [])[:8]:
                    L += wrap(d, "    ")
        elif mk.get("note"):
            L += wrap(f"make olddefconfig not compared: {mk['note']}", "  ")
        ld = res.ld_reproduce or {}
        if ld:
            if ld.get("made"):
                name = Path(ld["path"]).name
                L += wrap(f"reproduce.sh reproduced it; ld.lld --reproduce tarball: {name}", "  ")
                if ld.get("relinks"):
                    L += wrap(f"the tarball relinks alone with the same failure: tar xf {name} "
                              f"&& {ld.get('relink_command', '')}", "  ")
                elif "relinks" in ld:
                    L += wrap(f"the tarball does not relink alone with the same failure: "
                              f"{ld.get('relink_said', '')}", "  ")
            else:
                L += wrap(f"ld.lld --reproduce tarball not made: {ld.get('reason')}", "  ")
        L.append("")
    return L


def _attachments(paths: Dict[str, Path]) -> List[str]:
    """Every file beside report.txt that it names, with what each is."""
    names = [(paths[k].name + ("/" if paths[k].is_dir() else ""), what)
             for k, what in _ATTACHMENTS.items() if k in paths]
    if not names:
        return []
    L = ["Attachments:"]
    width = max(len(n) for n, _ in names) + 2
    for name, what in names:
        L += wrap(f"{name:<{width}}{what}", "  ", more=" " * (width + 2))
    L.append("")
    return L


def _search(facts: Facts, conf: Dict[str, Any]) -> List[str]:
    """What was searched: changes, builds, verdicts, strategy, conf disagreements, flakiness."""
    L: List[str] = []
    cfg = facts.config
    L.append("Search statistics:")
    L += wrap(f"changes at start: {len(facts.changes)} (bad config against {_baseline(facts)})", "  ")
    L += wrap(f"builds: {facts.builds}, cache hits: {facts.cache_hits}, wall time "
               f"{clock(facts.wall)}, build time {clock(facts.build_seconds)}", "  ")
    counts = jr.verdict_counts(facts.counted)
    if counts:
        L += wrap("verdicts: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), "  ")
    if cfg is not None:
        timeout = facts.doc.timeout
        L += wrap(f"strategy {cfg.strategy}, seed {cfg.seed}, {plural(cfg.workers, 'worker')}"
                   + (f", test timeout {clock(float(timeout))}" if timeout else ""), "  ")
    if conf["conf_disagreements"]:
        L += wrap(f"the kernel's conf built another config than ours in "
                   f"{plural(conf['conf_disagreements'], 'build')}: "
                   + "; ".join(conf["conf_disagreement_symbols"][:5]), "  ")
    flaky = facts.result.flaky
    if flaky:
        L += wrap(f"flaky: {plural(len(flaky), 'config')} gave different verdicts when rebuilt:", "  ")
        for f in flaky[:FLAKY_SHOWN]:
            L += wrap(f["line"], "    ")
        if len(flaky) > FLAKY_SHOWN:
            L += wrap(f"and {len(flaky) - FLAKY_SHOWN} more (all are in summary.json's \"flaky\")",
                      "    ")
    else:
        L += wrap("flaky: none observed", "  ")
    L.append("")
    return L
