"""summary.json: the facts of a session's outcome for machines, as report.txt gives them to people.

Rendered from the state directory's :class:`~ltobisect.artifacts.facts.Facts` alone. The JSON
Schema of schema :data:`~ltobisect.events.SCHEMA` (every ``--json`` line, the Summary, summary.json)
ships beside this module: :func:`schema_path`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from ltobisect.store import journal as jr
from ltobisect.events import SCHEMA
from ltobisect.model import SessionStatus
from ltobisect.artifacts.facts import Facts, bisect_lines, priors_line, reduced_line
from ltobisect.logs.signature import at_the_link

#: The JSON Schema (draft 2020-12) of schema :data:`~ltobisect.events.SCHEMA`, package data of
#: this room: its root is one ``--json`` line, ``#/$defs/summaryFile`` is summary.json.
SCHEMA_FILE = f"schema-{SCHEMA}.json"


def schema_path() -> Path:
    """Where the installed JSON Schema of the current schema number is."""
    return Path(__file__).with_name(SCHEMA_FILE)


def summary_data(facts: Facts, paths: Dict[str, Path]) -> Dict[str, Any]:
    """The machine-readable summary."""
    res = facts.result
    cfg = facts.config
    b = facts.build
    sig = facts.signature
    excerpt, where = facts.excerpt()
    ld = res.ld_reproduce or {}
    return {
        "schema": SCHEMA,  # the README's JSON contract; the Summary line carries the same fields
        "status": facts.status,
        "exit_code": res.exit_code if facts.wrote_result else None,
        "message": res.message,
        "hint": res.hint,
        "partial": facts.status is SessionStatus.PARTIAL,
        "verified": facts.verified,
        "signature": dict(sig.to_json(), describe=sig.describe()) if sig else None,
        "failure_line": facts.failure_line,
        "failure_number": facts.doc.failure_number,
        "log_failures": len(facts.doc.log_failures),
        "fragment": list(facts.fragment_lines) if facts.best_changes is not None else None,
        "best_size": len(facts.best_changes) if facts.best_changes is not None else None,
        "total_changes": len(facts.changes),
        "best_digest": facts.best_digest,
        "counts": {
            "builds": facts.builds,
            "cache_hits": facts.cache_hits,
            "verdicts": jr.verdict_counts(facts.counted),
            "flaky": len(res.flaky),
            "runs": len(facts.runs),
        },
        "flaky": res.flaky,
        **facts.conf,
        "durations": {
            "wall": round(facts.wall, 3),
            "build": round(facts.build_seconds, 3),
            "bad_build": facts.doc.bad_outcome.duration if facts.doc.bad_outcome else None,
            "timeout": facts.doc.timeout,
        },
        "verification": res.verification,
        "tree": facts.env.get("tree") or (str(b.tree) if b else None),
        "kernelversion": facts.env.get("kernelversion"),
        "git_describe": facts.env.get("git_describe"),
        "toolchain": facts.env.get("toolchain"),
        "arch": b.arch if b else None,
        "llvm": b.llvm if b else None,
        "make_vars": list(b.make_vars) if b else [],
        "target": facts.target() if cfg is not None and cfg.test_script is None else None,
        "baseline": cfg.baseline if cfg else None,
        "bad_config": str(cfg.bad_config) if cfg else None,
        "excerpt": excerpt,
        "log": where,
        "lto_matrix": _lto_matrix(facts),
        "llvm_matrix": _llvm_matrix(facts),
        # What the failure's log pointed at (option -> why), the changes that stood for it, and
        # whether their build reproduced (null: no guess made).
        "log_priors": (dict(res.log_priors, line=priors_line(res.log_priors))
                       if getattr(res, "log_priors", None) else None),
        "attachments": sorted(p.name for k, p in paths.items() if k != "report"),
        "ld_reproduce": {"made": bool(ld.get("made")), "path": ld.get("path"),
                         "reason": ld.get("reason", "") if ld else _no_tarball(facts),
                         # The tarball replayed alone (null when not tried): same failure?
                         "relinks": ld.get("relinks"), "relink_command": ld.get("relink_command"),
                         "relink_said": ld.get("relink_said")},
        "reduced": _reduced(res.reduced),
        "bisect": _bisect(res.bisect),
        "paths": {k: str(v) for k, v in paths.items()} | {"state_dir": str(facts.state)},
    }


def _bisect(out: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """What `ltobisect bisect` found (result.json's ``bisect``) with the report's lines; null
    when no bisection ran."""
    if not out:
        return None
    return dict(out, lines=bisect_lines(out))


def _reduced(red: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """What `ltobisect reduce` made (result.json's ``reduced``) with the report's line; null
    when no reduction ran."""
    if not red:
        return None
    return dict(red, line=reduced_line(red))


def _no_tarball(facts: Facts) -> str:
    """Why a session has no ``ld.lld --reproduce`` tarball (it made no attempt).

    The session attempts it for every minimized failure at the link (a link error, an lld
    crash) on a kernel tree, verified or
    not; the reason never blames verification (``verified`` says how that went)."""
    if not at_the_link(facts.signature):
        return "not a failure of the link"
    if facts.status is not SessionStatus.MINIMIZED:
        return "not attempted (the search did not finish)"
    if facts.config is not None and facts.config.test_script is not None:
        return "not attempted (a --test script decides, not a build)"
    if facts.env.get("kernel_tree"):
        return "not attempted (the session ended before it)"
    return "not attempted (not a kernel tree)"


def _llvm_matrix(facts: Facts) -> Optional[Dict[str, Any]]:
    """result.json's LLVM matrix with the report's line, or None when none was asked for."""
    matrix = facts.llvm_matrix
    if matrix is None:
        return None
    return dict(matrix, line=facts.llvm_matrix_line())


def _lto_matrix(facts: Facts) -> Optional[Dict[str, Any]]:
    """result.json's LTO matrix with the report's line, or None when there is none."""
    matrix = facts.lto_matrix
    if matrix is None:
        return None
    return dict(matrix, line=facts.lto_matrix_line())
