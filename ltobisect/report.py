"""The artifacts a tester mails upstream, rendered from the state directory alone.

:func:`render` (``ltobisect report``) and :func:`write_artifacts` (the session, at the end of
every run) read ``session.json``, ``result.json``, ``best.json``/``best.config``, the journal and
the run history, and write:

- ``report.txt``: plain text within 80 columns, ready for a mailing list, carrying what 0-day,
  syzbot and KernelCI reports carry (summary line with the signature, tree and version, ARCH,
  compiler and linker, baseline, the minimal fragment, commands that reproduce from a clean tree,
  the log excerpt, Kconfig warnings, what was searched, flaky observations);
- ``minimal.config`` (the full resolved .config), ``fragment.config`` (the lines to merge);
- ``reproduce.sh``: runs the commands in a clean output directory and exits 0 when the failure
  reproduces (1 when it does not, 2 when a setup step failed);
- ``summary.json``: the same facts for machines.

A partial result (stopped, or not verified) is marked as such in every artifact.

This module owns report.txt and the writing of every artifact; reproduce.sh is rendered by
:mod:`ltobisect.reproduce`, summary.json by :mod:`ltobisect.summary`, both from the facts
:mod:`ltobisect.report_facts` reads.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Dict, List

from ltobisect import __version__
from ltobisect import journal as jr
from ltobisect.config import BASELINES
from ltobisect.model import SessionStatus
from ltobisect.report_facts import Facts
from ltobisect.reproduce import reproduce_commands, reproduce_script
from ltobisect.state import ResultDoc
from ltobisect.summary import summary_data

WIDTH = 80

_TITLES = {
    SessionStatus.MINIMIZED: "",
    SessionStatus.PARTIAL: "PARTIAL RESULT",
    SessionStatus.NOT_REPRODUCED: "NOT REPRODUCED",
    SessionStatus.BAD_INPUT: "NOT STARTED (bad input)",
    SessionStatus.INFRA_ERROR: "STOPPED BY AN INFRASTRUCTURE ERROR",
}

#: How check_with_make fed the fragment to the kernel's tools, in words.
_READINGS = {"appended": "baseline + fragment appended",
             "merge_config": "baseline + fragment merged by merge_config.sh -m"}


def render(state_dir: Path) -> Path:
    """Write every artifact again from ``state_dir``; return the path of report.txt."""
    return write_artifacts(Path(state_dir))["report"]


def write_artifacts(state_dir: Path) -> Dict[str, Path]:
    """Write report.txt, summary.json and, when there is a result, the config artifacts.

    Returns the artifact paths by name: report, summary, minimal_config, fragment, reproduce,
    and ld_reproduce when the tarball exists.
    """
    facts = Facts.load(Path(state_dir))
    paths: Dict[str, Path] = {}
    if facts.best_changes is not None:
        frag = facts.state / "fragment.config"
        jr.write_atomic(frag, "".join(line + "\n" for line in facts.fragment_lines))
        paths["fragment"] = frag
        if facts.best_config_text is not None:
            minimal = facts.state / "minimal.config"
            jr.write_atomic(minimal, facts.best_config_text)
            paths["minimal_config"] = minimal
        if facts.config is not None:
            script = facts.state / "reproduce.sh"
            jr.write_atomic(script, reproduce_script(facts), mode=0o755)
            paths["reproduce"] = script
    base = facts.state / "baseline.config"
    if facts.config is not None and facts.config.baseline not in BASELINES and base.is_file():
        paths["baseline"] = base  # reproduce.sh starts from it
    ld = facts.result.ld_reproduce or {}
    if ld.get("made") and ld.get("path") and Path(ld["path"]).is_file():
        paths["ld_reproduce"] = Path(ld["path"])
    report = facts.state / "report.txt"
    summary = facts.state / "summary.json"
    paths["report"] = report
    paths["summary"] = summary
    jr.write_atomic(report, report_text(facts, paths))
    jr.write_json_atomic(summary, summary_data(facts, paths))
    return paths


# -- report.txt --------------------------------------------------------------------------------
def _wrap(text: str, indent: str = "", width: int = WIDTH) -> List[str]:
    """Lines of at most ``width`` columns (long words are broken, never lost)."""
    out: List[str] = []
    for raw in text.splitlines() or [""]:
        line = raw.expandtabs(8).rstrip()
        if len(indent + line) <= width:
            out.append(indent + line)
            continue
        out.extend(textwrap.wrap(line, width=width, initial_indent=indent,
                                 subsequent_indent=indent + "    ", break_long_words=True,
                                 break_on_hyphens=False, drop_whitespace=True) or [indent])
    return out


def _squeeze(line: str, width: int) -> str:
    """A log line that is too long, with its inner runs of spaces (lld's ``>>>`` alignment)
    made single, so that it wraps at words of its own rather than at the alignment."""
    line = line.expandtabs(8).rstrip()
    if len(line) <= width:
        return line
    head = line[: len(line) - len(line.lstrip())]
    return head + " ".join(line.split())


def _field(name: str, value: Any) -> List[str]:
    return _wrap(f"{name + ':':<12}{value}")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def report_text(facts: Facts, paths: Dict[str, Path]) -> str:
    """The mailing-list report (every line within 80 columns)."""
    conf = facts.conf
    L: List[str] = []
    L += _outcome(facts, conf)
    L += _setting(facts)
    L += _evidence(facts)
    L += _kconfig_warnings(facts)
    L += _verification(facts.result)
    L += _search(facts, conf)
    attached = [p.name for k, p in paths.items() if k not in ("report", "summary")]
    if attached:
        L += _wrap("Attached: " + ", ".join(sorted(attached)))
    L.append(f"-- ltobisect {__version__}")
    return "\n".join(L) + "\n"


def _baseline(facts: Facts) -> str:
    return facts.config.baseline if facts.config else "?"


def _outcome(facts: Facts, conf: Dict[str, Any]) -> List[str]:
    """The headline, what stopped a partial run, the conf warning and the minimal fragment."""
    L: List[str] = []
    sig = facts.signature
    res = facts.result
    status = facts.status
    headline = sig.describe() if sig else (res.message or "no failure signature")
    L += _wrap(f"ltobisect: {headline}")
    L.append("")
    title = _TITLES.get(status, status.upper())
    if title:
        L += _wrap(f"*** {title}: {res.message or 'the run did not finish'}")
        if res.hint:
            L += _wrap(f"    {res.hint}")
        L.append("")

    best_conf = conf["best_conf_disagreement"]
    if best_conf is not None and facts.best_changes is not None:
        L += _wrap(f"*** WARNING: the fragment is not exact for the kernel's conf: building the "
                   f"result, conf made another config of it ({best_conf['total']} setting(s) "
                   "differ from ours):")
        for line in best_conf["symbols"]:
            L += _wrap(line, "    ")
        L.append("")

    n_total = len(facts.changes)
    base = _baseline(facts)
    if facts.best_changes is not None:
        n = len(facts.best_changes)
        ver = res.verification or {}
        if facts.verified:
            how = f"verified, {ver.get('repeats', 0)} rebuilds"
        elif facts.status is SessionStatus.MINIMIZED:
            how = "NOT verified: " + "; ".join(ver.get("unverified") or ["see Verification"])
        else:
            how = "NOT verified: the best found so far"
        L += _wrap(f"Minimal fragment: {n} of {n_total} changes against "
                   f"{Path(base).name if os.sep in base else base} ({how}):")
        L.append("")
        for line in facts.fragment_lines or ("(none: the baseline alone fails)",):
            L += _wrap(line, "  ")
        L.append("")
    return L


def _setting(facts: Facts) -> List[str]:
    """Tree, version, ARCH, toolchain, make variables, target, baseline and bad config."""
    L: List[str] = []
    cfg = facts.config
    b = facts.build
    L += _field("Tree", facts.env.get("tree") or (b.tree if b else "?"))
    kv = facts.env.get("kernelversion")
    gd = facts.env.get("git_describe")
    if kv or gd:
        L += _field("Version", " ".join(x for x in (kv, f"(git {gd})" if gd else "") if x))
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
        L += _field("Baseline", cfg.baseline)
        L += _field("Bad config", cfg.bad_config)
        if cfg.test_script is not None:
            L += _field("Test", cfg.test_script)
    L.append("")
    return L


def _evidence(facts: Facts) -> List[str]:
    """The commands that reproduce the failure and the log excerpt that shows it."""
    L: List[str] = []
    cmds = reproduce_commands(facts)
    if cmds and facts.best_changes is not None:
        L += _wrap("Reproduce from a clean tree (reproduce.sh runs these and checks the error):")
        L.append("")
        for c in cmds:
            L += _wrap(c, "  ")
        L.append("")

    text, where = facts.excerpt()
    L += _wrap(f"{'Error' if facts.signature is not None else 'Log excerpt'} (from {where}):")
    L.append("")
    for line in text.splitlines():
        L += _wrap(_squeeze(line, WIDTH - 2), "  ")
    L.append("")
    return L


def _kconfig_warnings(facts: Facts) -> List[str]:
    """Kconfig warnings of the result, changes not applied, and the tree's own warnings."""
    L: List[str] = []
    best = facts.result.best or {}
    warnings = list(best.get("warnings") or [])
    ineffective = list(best.get("ineffective") or [])
    tree_warnings = list(facts.doc.kconfig_warnings)
    if warnings or ineffective or tree_warnings:
        L.append("Kconfig warnings:")
        for w in warnings[:10]:
            L += _wrap(w, "  ")
        for w in ineffective[:10]:
            L += _wrap(f"not applied: {w}", "  ")
        if tree_warnings:
            L += _wrap(f"(loading the Kconfig tree printed {len(tree_warnings)} other warning(s); "
                       "see session.json)", "  ")
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
            L += _wrap(f"rebuilt {len(verdicts)} time(s): {', '.join(verdicts)}", "  ")
        elif ver:
            L += _wrap("not rebuilt (verify repeats 0)", "  ")
        if ver.get("minimality_checked"):
            L += _wrap("removing any single line stops the failure (each rebuilt twice)", "  ")
        mk = ver.get("olddefconfig") or {}
        if mk.get("checked"):
            if mk.get("equal"):
                L += _wrap("make olddefconfig resolves baseline + fragment to the same .config, "
                           "appended and through merge_config.sh -m", "  ")
            else:
                ways = [_READINGS.get(k, k) for k, r in (mk.get("readings") or {}).items()
                        if not r.get("equal")] or ["baseline + fragment"]
                L += _wrap(f"WARNING: NOT EXACT: make olddefconfig resolves {' and '.join(ways)} "
                           f"to another .config than the one tested ({mk.get('differing')} "
                           "symbols):", "  ")
                for d in mk.get("diff", [])[:8]:
                    L += _wrap(d, "    ")
        elif mk.get("note"):
            L += _wrap(f"make olddefconfig not compared: {mk['note']}", "  ")
        ld = res.ld_reproduce or {}
        if ld:
            if ld.get("made"):
                L += _wrap(f"reproduce.sh reproduced it; ld.lld --reproduce tarball: "
                           f"{Path(ld['path']).name}", "  ")
            else:
                L += _wrap(f"ld.lld --reproduce tarball not made: {ld.get('reason')}", "  ")
        L.append("")
    return L


def _search(facts: Facts, conf: Dict[str, Any]) -> List[str]:
    """What was searched: changes, builds, verdicts, strategy, conf disagreements, flakiness."""
    L: List[str] = []
    cfg = facts.config
    L.append("Search:")
    L += _wrap(f"changes at start: {len(facts.changes)} (bad config against {_baseline(facts)})", "  ")
    L += _wrap(f"builds: {facts.builds}, cache hits: {facts.cache_hits}, wall time "
               f"{_clock(facts.wall)}, build time {_clock(facts.build_seconds)}", "  ")
    counts = jr.verdict_counts(facts.counted)
    if counts:
        L += _wrap("verdicts: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), "  ")
    if cfg is not None:
        timeout = facts.doc.timeout
        L += _wrap(f"strategy {cfg.strategy}, seed {cfg.seed}, {cfg.workers} worker(s)"
                   + (f", test timeout {_clock(float(timeout))}" if timeout else ""), "  ")
    if conf["conf_disagreements"]:
        L += _wrap(f"the kernel's conf built another config than ours in "
                   f"{conf['conf_disagreements']} build(s): "
                   + "; ".join(conf["conf_disagreement_symbols"][:5]), "  ")
    flaky = facts.result.flaky
    if flaky:
        L += _wrap(f"flaky: {len(flaky)} config(s) gave different verdicts when rebuilt:", "  ")
        for f in flaky[:10]:
            L += _wrap(f["line"], "    ")
    else:
        L += _wrap("flaky: none observed", "  ")
    L.append("")
    return L
