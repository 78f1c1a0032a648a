"""The facts every artifact of a session is made of, read once from its state directory.

:class:`Facts` reads ``session.json``, ``result.json``, ``best.json``/``best.config``, the
journal and the run history; the report (:mod:`ltobisect.report`), the reproduce script
(:mod:`ltobisect.reproduce`) and the summary (:mod:`ltobisect.summary`) are rendered from it
alone. :func:`build_target` names the make target the oracle builds for a signature, so the
commands the artifacts print match the tests that were run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ltobisect import journal as jr
from ltobisect import signature as sg
from ltobisect import state as st
from ltobisect.config import BuildSpec, SessionConfig
from ltobisect.confcheck import summarize
from ltobisect.model import Label, SessionStatus, Signature, SignatureKind
from ltobisect.oracle import targets_for

#: Where the log excerpt is kept, for when the build logs are gone.
EXCERPT_FILE = "excerpt.txt"
#: Journal labels of verdicts that are not builds of their own: the bad config's observation
#: (judged again under the signature) and verdicts judged from another signature's build.
_NOT_BUILDS = Label.not_builds()


class Facts:
    """Everything the artifacts are made of, read once from the state directory.

    ``doc`` is session.json and ``result`` result.json (:mod:`ltobisect.state`); a run killed
    before it wrote its result reads as partial when a best result is on disk.
    """

    def __init__(self, state: Path) -> None:
        self.state = state
        sd = st.StateDir(state)
        try:
            self.doc = st.SessionDoc.from_json(json.loads(sd.session_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            self.doc = st.SessionDoc(identity={}, created=0.0)
        stored = sd.read_result()
        self.runs: List[dict] = sd.runs()
        self.config: Optional[SessionConfig] = None
        try:
            if self.doc.config:
                self.config = st.config_from_json(self.doc.config)
        except (KeyError, TypeError, ValueError):
            self.config = None
        self.signature: Optional[Signature] = self.doc.signature
        self.changes = self.doc.changes or ()
        result = st.ResultDoc.from_json(stored) if stored else None
        best = result.best if result is not None else None
        if best is None and (result is None or result.status in (SessionStatus.PARTIAL,
                                                                 SessionStatus.INFRA_ERROR)):
            best = sd.read_best()  # killed or stopped early: the best so far is on disk
        self.best_changes = jr.changes_from_json(best["changes"]) if best else None
        self.best_digest: Optional[str] = best.get("digest") if best else None
        try:
            self.best_config_text: Optional[str] = (state / st.BEST_CONFIG).read_text(encoding="utf-8")
        except OSError:
            self.best_config_text = None
        try:
            work = self.config.work_dir if self.config is not None and self.config.work_dir else state
            records = jr.Journal(Path(work) / jr.JOURNAL_FILE).records()
        except Exception:
            records = []
        fps = (self.doc.fingerprint, self.doc.observe_fingerprint)
        self.records = [r for r in records if r.fingerprint in fps]
        if result is None:
            # Killed before the run could write its result: the best so far is on disk.
            status = SessionStatus.PARTIAL if self.best_changes is not None else SessionStatus.BAD_INPUT
            result = st.ResultDoc(status=status, exit_code=0, message="")
        self.result: st.ResultDoc = result
        self.wrote_result = stored is not None
        self.status: SessionStatus = result.status

    @classmethod
    def load(cls, state: Path) -> "Facts":
        return cls(state)

    @property
    def fragment_lines(self) -> Tuple[str, ...]:
        return tuple(c.line() for c in self.best_changes or ())

    @property
    def build(self) -> Optional[BuildSpec]:
        return self.config.build if self.config else None

    @property
    def env(self) -> Dict[str, Any]:
        return self.doc.environment

    @property
    def counted(self) -> List[jr.JournalRecord]:
        """One record per build: the bad config's observation is replaced by its judged record."""
        derived = any(r.label == Label.DERIVED for r in self.records)
        return [r for r in self.records if not (derived and r.label == Label.BAD_CONFIG)]

    @property
    def conf(self) -> Dict[str, Any]:
        """Builds whose own conf built another config than ours (``confcheck.summarize``)."""
        return summarize([r for r in self.records if r.label not in _NOT_BUILDS], self.best_digest)

    @property
    def failure_line(self) -> str:
        """The log line of the failure, as a maintainer greps for it ("" when unknown)."""
        if self.signature is not None and self.signature.line:
            return self.signature.line
        listed = self.doc.log_failures
        n = self.doc.failure_number
        if isinstance(n, int) and 1 <= n <= len(listed):
            return str(listed[n - 1].get("line", ""))
        return ""

    @property
    def builds(self) -> int:
        return sum(1 for r in self.records if r.label not in _NOT_BUILDS)

    @property
    def cache_hits(self) -> int:
        return sum(int(r.get("cache_hits", 0)) for r in self.runs)

    @property
    def wall(self) -> float:
        return sum(float(r.get("elapsed", 0.0)) for r in self.runs)

    @property
    def build_seconds(self) -> float:
        return sum(r.outcome.duration for r in self.records if r.label not in _NOT_BUILDS)

    @property
    def verified(self) -> bool:
        """Every verification that was asked for passed (see ``ltobisect.finish``)."""
        return self.status is SessionStatus.MINIMIZED and self.result.verified

    def target(self) -> str:
        b = self.build
        if b is None:
            return default_target(self.signature)
        return build_target(b, self.signature)

    def log_path(self) -> Optional[str]:
        bad = self.doc.bad_outcome
        return self.result.best_log or (bad.log_path if bad is not None else None)

    def excerpt(self) -> Tuple[str, str]:
        """(excerpt text, where it came from); cached in excerpt.txt for when logs are gone."""
        cache = self.state / EXCERPT_FILE
        path = self.log_path()
        text = ""
        if path:
            try:
                log = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                log = None
            if log is not None:
                roots = [str(self.build.tree)] if self.build else []
                text = sg.excerpt(log, self.signature, 10, roots=roots).strip("\n")
                if not text.strip():
                    text = "(the build log is empty)"
                try:
                    jr.write_atomic(cache, text + "\n")
                except Exception:
                    pass
                return text, path
        try:
            cached = cache.read_text(encoding="utf-8").rstrip("\n")
        except OSError:
            cached = ""
        if cached:
            return cached, f"{path} (no longer on disk; excerpt saved earlier)"
        if self.doc.bad_outcome is not None and self.doc.bad_outcome.detail:
            return self.doc.bad_outcome.detail, "the bad config's test"
        return "(no build log was recorded)", "-"


def default_target(sig: Optional[Signature]) -> str:
    """The make target that shows a failure: vmlinux for link-time ones, the object's
    directory for a compile error (it builds only what the config enables), else the default."""
    if sig is None:
        return ""
    if sig.kind in (SignatureKind.LINK_ERROR, SignatureKind.MODPOST) or sig.tool.startswith("ld"):
        return "vmlinux"
    if sig.kind == SignatureKind.COMPILE_ERROR and "/" in sig.location:
        path = sig.location.split(":", 1)[0]
        return path.rsplit("/", 1)[0] + "/"
    return ""


def build_target(b: BuildSpec, sig: Optional[Signature]) -> str:
    """The target the oracle builds for ``sig`` (the same rule, so the commands match the tests)."""
    return " ".join(targets_for(b, sig))
