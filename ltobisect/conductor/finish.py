"""The finishing step: result.json, the run's record, the artifacts, and the SessionResult.

Rules:

- It runs however the session ended (minimized, stopped, not reproduced, an error), once the
  state directory is ours: the journal and the best so far are on disk already; this step adds
  what the report needs and re-renders the artifacts (``report.write_artifacts``).
- ``verified`` is true only when every verification that was asked for passed: the rebuilds
  (``--verify N``, N > 0), the 1-minimality re-check of each remaining change, and, on a kernel
  tree, the kernel's own ``make olddefconfig`` reading of the fragment. Each one not done or not
  passed is named in ``verification["unverified"]``.
- For a minimized link failure on a kernel tree, within the budget, ``reproduce.sh`` itself is
  run once more to capture an ``ld.lld --reproduce`` tarball.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ltobisect.artifacts import report
from ltobisect.build import build_env, ccache_enabled
from ltobisect.config import SessionConfig, Toolchain, is_kernel_tree, user_ccache_dir
from ltobisect.errors import ExitCode
from ltobisect.events import PhaseStarted
from ltobisect.store.journal import Journal, JournalRecord, changes_to_json, flaky_digests, write_atomic
from ltobisect.limits import StopCondition
from ltobisect.logs.signature import at_the_link
from ltobisect.conductor.load import Loaded
from ltobisect.model import (Candidate, Label, Phase, SessionStatus, Signature,
                             Verdict, ordered)
from ltobisect.problem import Problem
from ltobisect.store.state import BEST_CONFIG, ResultDoc, SessionDoc, StateDir
from ltobisect.artifacts.linkrepro import lld_reproduce, relink_alone
from ltobisect.conductor.verify import Verification


@dataclass
class SessionResult:
    """How a session ended and where its artifacts are."""

    status: SessionStatus
    exit_code: ExitCode
    message: str  # one line for people
    state_dir: Path
    hint: str = ""
    fragment: Tuple[str, ...] = ()  # the best candidate as fragment lines
    best_size: Optional[int] = None
    total_changes: Optional[int] = None
    verified: bool = False
    signature: Optional[str] = None  # Signature.describe()
    artifacts: Dict[str, Path] = field(default_factory=dict)  # report, summary, minimal_config...
    builds: int = 0  # builds run over the whole session (all runs)
    cache_hits: int = 0
    flaky: Tuple[str, ...] = ()  # one line per flaky config
    elapsed: float = 0.0  # seconds, this run

    @property
    def partial(self) -> bool:
        return self.status is SessionStatus.PARTIAL

    def line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "exit_code": int(self.exit_code),
            "message": self.message,
            "hint": self.hint,
            "state_dir": str(self.state_dir),
            "fragment": list(self.fragment),
            "best_size": self.best_size,
            "total_changes": self.total_changes,
            "verified": self.verified,
            "signature": self.signature,
            "artifacts": {k: str(v) for k, v in self.artifacts.items()},
            "builds": self.builds,
            "cache_hits": self.cache_hits,
            "flaky": list(self.flaky),
            "elapsed": round(self.elapsed, 3),
        }


@dataclass
class Searched:
    """What the search and verification step established (a minimized session only)."""

    best: Candidate
    verification: Verification
    #: ``ltobisect.matrix.lto``: the minimal config in the other LTO modes (None: not LTO).
    lto_matrix: Optional[Dict[str, Any]] = None
    #: ``ltobisect.conductor.priors``: what the log suggested and whether the guess held (None: no guess).
    log_priors: Optional[Dict[str, Any]] = None
    #: ``ltobisect.matrix.llvm``: the minimal config with other LLVM releases (None: not asked).
    llvm_matrix: Optional[Dict[str, Any]] = None


class Finisher:
    """Writes what a session leaves behind (see the module docstring)."""

    def __init__(self, config: SessionConfig, state: StateDir, journal: Optional[Journal],
                 doc: Optional[SessionDoc], loaded: Optional[Loaded], problem: Optional[Problem],
                 signature: Optional[Signature], stop: StopCondition,
                 emit: Callable[[object], None]) -> None:
        self.config = config
        self.state = state
        self.journal = journal
        self.doc = doc
        self.loaded = loaded
        self.problem = problem
        self.signature = signature
        self.stop = stop
        self.emit = emit

    # -- result.json, runs.jsonl, the artifacts ----------------------------------------------
    def amend(self, **fields: Any) -> Dict[str, Path]:
        """A minimized result asked one more question (``llvm_matrix``): the fields set in
        result.json, the artifacts rendered again; nothing else of the result changes."""
        doc = ResultDoc.from_json(self.state.read_result() or {})
        for name, value in fields.items():
            setattr(doc, name, value)
        self.state.write_result(doc)
        return report.write_artifacts(self.state.path)

    def earlier_result_stays(self, status: SessionStatus) -> bool:
        """Whether the result an earlier run wrote must stay as it is: a run that ended worse
        (bad input, not reproduced, an infrastructure error that found nothing smaller) never
        overwrites a minimized or partial result; a partial one never replaces a minimized."""
        kept = self.state.kept_result()
        if kept is None or status is SessionStatus.MINIMIZED:
            return False
        if status is SessionStatus.PARTIAL:
            return kept.status is SessionStatus.MINIMIZED
        if status is SessionStatus.INFRA_ERROR and kept.status is SessionStatus.PARTIAL:
            best = self.problem.best if self.problem is not None else None
            size = (kept.best or {}).get("size")
            return best is None or size is None or len(best) >= int(size)
        return True

    def record_run(self, status: SessionStatus, wall0: float, elapsed: float) -> None:
        """One line in runs.jsonl for this run."""
        stats = self.problem.stats if self.problem is not None else None
        self.state.append_run({
            "started": wall0, "ended": time.time(), "elapsed": round(elapsed, 3), "status": status,
            "builds": stats.tests if stats else 0, "cache_hits": stats.cache_hits if stats else 0,
        })

    def write(self, status: SessionStatus, code: ExitCode, message: str, hint: str,
              wall0: float, elapsed: float, searched: Optional[Searched],
              timeout: Optional[float]) -> Dict[str, Path]:
        """Write result.json, the run record and the artifacts; return the artifact paths."""
        problem = self.problem
        stats = problem.stats if problem is not None else None
        best = problem.best if problem is not None else None
        result = ResultDoc(status=status, exit_code=int(code), message=message, hint=hint,
                           finished=time.time(), timeout=timeout)
        if searched is not None:
            result.verification = searched.verification.to_json()
            result.verified = searched.verification.verified
            result.lto_matrix = searched.lto_matrix
            result.llvm_matrix = searched.llvm_matrix
            result.log_priors = searched.log_priors
        if problem is not None and status is not SessionStatus.BAD_INPUT and best is not None \
                and self.loaded is not None:
            best_res = problem.resolve(best)
            result.best = {"size": len(best), "digest": best_res.digest,
                           "changes": changes_to_json(best),
                           "warnings": list(best_res.warnings)[:50],
                           "ineffective": [f"{i.change.line()}: {i.reason}" for i in best_res.ineffective]}
            result.best_log = self._best_log(best_res.digest)
            write_atomic(self.state.file(BEST_CONFIG), best_res.config_text)
        result.flaky = self.flaky()
        if stats is not None:
            result.this_run = {"builds": stats.tests, "cache_hits": stats.cache_hits,
                               "same_config": stats.same_config, "normalized": stats.normalized,
                               "build_seconds": round(stats.build_seconds, 3),
                               "ahead": {"finished": stats.ahead, "used": stats.ahead_used,
                                         "killed": stats.ahead_killed}}
        self.record_run(status, wall0, elapsed)
        self.state.write_result(result)
        self.emit(PhaseStarted(phase=Phase.REPORTING, detail=str(self.state.path)))
        paths = report.write_artifacts(self.state.path)
        if status is SessionStatus.MINIMIZED and self.signature is not None \
                and self.config.test_script is None:
            made = self._lld_tarball(paths.get("reproduce"))
            if made is not None:
                result.ld_reproduce = made
                self.state.write_result(result)
                paths = report.write_artifacts(self.state.path)
        return paths

    def _lld_tarball(self, script: Optional[Path]) -> Optional[Dict[str, Any]]:
        """For a failure at the link (an error or an lld crash) on a kernel tree, within the
        budget: ``verify.lld_reproduce`` (lld writes the tarball of a link that crashes too)."""
        sig, cfg = self.signature, self.config
        if not at_the_link(sig) or script is None:
            return None
        if cfg.build is None or not is_kernel_tree(Path(cfg.build.tree)):
            return None
        if self.stop.requested:
            return {"made": False, "reason": "stopped before it could be made"}
        bad = self.doc.bad_outcome if self.doc is not None else None
        limit = max(600.0, 3 * float(bad.duration if bad is not None else 0))
        left = self.stop.time_left()
        if left is not None:
            left -= 10.0
            if left < 60.0:
                return {"made": False, "reason": "no time left in the budget for a clean build"}
            limit = min(limit, left)
        b = cfg.build
        env = None
        if ccache_enabled(b):
            # The environment of the search's builds (LANG, KBUILD_BUILD_*, CCACHE_BASEDIR...)
            # and its compiler command: ccache's keys match and the clean build takes seconds.
            env = build_env(b, self.state.work / "lld-reproduce" / "0",
                            {"LTOBISECT_CC": Toolchain.of(b).cc_command(ccache=True)},
                            ccache_dir=Path(b.ccache_dir) if b.ccache_dir else user_ccache_dir())
        self.emit(PhaseStarted(phase=Phase.REPORTING, detail="ld.lld --reproduce"))
        started = time.monotonic()
        info = lld_reproduce(script, self.state.work, self.state.file("lld-reproduce.tar"), limit,
                             self.stop.event, env)
        left = limit - (time.monotonic() - started)
        if info.get("made") and not self.stop.requested and left > 30.0:
            self.emit(PhaseStarted(phase=Phase.REPORTING, detail="relinking the tarball alone"))
            info.update(relink_alone(Path(info["path"]), Toolchain.of(b).ld, sig, self.state.work,
                                     left, self.stop.event))
        return info

    # -- what the result says ----------------------------------------------------------------
    def records(self) -> List[JournalRecord]:
        """This search's records (the observation's and the tests')."""
        j = self.journal
        if j is None:
            return []
        fps = {j.fingerprint, self.doc.observe_fingerprint if self.doc else None}
        return [r for r in j.records() if r.fingerprint in fps]

    def flaky(self) -> List[Dict[str, Any]]:
        j = self.journal
        if j is None or not j.fingerprint:
            return []
        by_digest = self.loaded.by_digest if self.loaded is not None else {}
        out = []
        records = [r for r in j.records(j.fingerprint) if r.label != Label.BAD_CONFIG]
        for digest, verdicts in flaky_digests(records).items():
            cand = by_digest.get(digest)
            lines = [c.line() for c in ordered(cand)] if cand is not None else []
            size = len(cand) if cand is not None else None
            shown = ", ".join(lines[:4]) + (", ..." if len(lines) > 4 else "")
            what = f"{size} changes: {shown}" if cand is not None else "changes unknown"
            out.append({"digest": digest, "size": size, "changes": lines[:20], "verdicts": verdicts,
                        "line": f"config {digest[:12]} ({what}) gave {', '.join(verdicts)}"})
        return out

    def _best_log(self, digest: str) -> Optional[str]:
        if self.journal is not None:
            for rec in reversed(self.journal.history(digest)):
                if rec.outcome.verdict is Verdict.REPRODUCES and rec.outcome.log_path:
                    return rec.outcome.log_path
        bad = self.doc.bad_outcome if self.doc is not None else None
        return bad.log_path if bad is not None else None

    def result(self, status: SessionStatus, code: ExitCode, message: str, hint: str,
               artifacts: Dict[str, Path], elapsed: float, verified: bool) -> SessionResult:
        problem = self.problem
        keeps_best = status in (SessionStatus.MINIMIZED, SessionStatus.PARTIAL, SessionStatus.INFRA_ERROR)
        best = problem.best if problem is not None and keeps_best else None
        runs = self.state.runs() if artifacts else []
        changes = self.loaded.changes if self.loaded is not None else ()
        return SessionResult(
            status=status,
            exit_code=code,
            message=message,
            hint=hint,
            state_dir=self.state.path,
            fragment=tuple(c.line() for c in ordered(best)) if best is not None else (),
            best_size=len(best) if best is not None else None,
            total_changes=len(changes) or None,
            verified=verified,
            signature=self.signature.describe() if self.signature else None,
            artifacts=artifacts,
            builds=sum(1 for r in self.records() if r.label not in Label.not_builds()),
            cache_hits=sum(int(r.get("cache_hits", 0)) for r in runs),
            flaky=tuple(f["line"] for f in self.flaky()),
            elapsed=elapsed,
        )

