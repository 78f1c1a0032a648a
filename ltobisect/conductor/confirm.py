"""The confirming step: build the bad config, find the failure to minimize, derive the timeout.

Rules (shrinking a config that does not fail, or fails another way, would waste every build):

- The bad config is built once, *observed* (judged by nothing); an infrastructure error there is
  ours and ends the session as such. Its outcome goes into ``session.json`` before anything is
  decided from it, and the build is journaled, so a resumed run never builds it again.
- The signature is, in this order: the test script's verdict; ``--mem-above``/``--time-above``
  measured on that build; the user's ``--signature`` regex (which must also match the build's
  log); the failure picked from the user's ``--log`` (which the build must show too); else the
  build's own primary failure (or the ``--failure N``-th). A failure known before the first
  build (from ``--log``) already chooses that build's targets.
- Limits that cannot work are bad input before the baseline is built
  (:func:`ltobisect.conductor.failures.check_limits`).
- Tests time out after ``--timeout``, else ``timeout_factor`` times the bad build's duration,
  never below :data:`MIN_TIMEOUT`. A derived timeout measures one build, maybe from a warm
  ccache: a test it stops while the build still makes new objects continues (the oracle's).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from ltobisect.conductor import failures as fl
from ltobisect.logs import signature as sg
from ltobisect.config import SessionConfig
from ltobisect.errors import InfraError, NotReproduced, UserError
from ltobisect.events import Message
from ltobisect.executor import Executor
from ltobisect.store.journal import Journal
from ltobisect.model import Label, Outcome, Resolved, Signature, SignatureKind, Verdict
from ltobisect.oracle import OracleSpec
from ltobisect.store.state import SessionDoc

#: A derived test timeout is never shorter than this (seconds): a fast first build must not make
#: every later test time out.
MIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Confirmed:
    """What the confirming step established: the tests' signature and timeout."""

    signature: Signature
    timeout: float
    #: The oracle spec the tests run with (signature, timeout, targets).
    spec: Optional[OracleSpec] = None


def oracle_spec(config: SessionConfig, work_dir: Path) -> OracleSpec:
    """The spec of the session's first oracle (the bad config's build), from the user's config."""
    return OracleSpec(work_dir=work_dir, build=config.build, script=config.test_script,
                      timeout=config.timeout, mem_limit=config.mem_limit,
                      memory_threshold=config.memory_threshold,
                      duration_threshold=config.duration_threshold, workers=config.workers)


def read_text(path: Optional[str | Path]) -> str:
    """A log's text ("" when there is none or it is gone)."""
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def same_failure(a: Optional[Signature], b: Optional[Signature]) -> bool:
    return a is not None and b is not None and (a.kind, a.tool, a.message, a.location) == (
        b.kind, b.tool, b.message, b.location)


class Confirmation:
    """Runs the confirming step for one session (see the module docstring)."""

    def __init__(self, config: SessionConfig, doc: SessionDoc, save: Callable[[], None],
                 journal: Journal, start: Callable[[OracleSpec], Executor],
                 emit: Callable[[object], None], work_dir: Path) -> None:
        self.config = config
        self.doc = doc
        self.save = save  # writes ``doc`` to session.json
        self.journal = journal
        self.start = start  # makes the executor for a spec
        self.emit = emit
        self.work_dir = work_dir

    def run(self, bad_res: Resolved) -> tuple[Confirmed, Executor]:
        """Confirm the bad config fails (or take what an earlier run confirmed)."""
        cfg, doc = self.config, self.doc
        spec0 = oracle_spec(cfg, self.work_dir)
        if doc.confirmed:
            assert doc.signature is not None and doc.timeout is not None
            targets = doc.targets
            spec = spec0.judged_by(doc.signature, doc.timeout, targets, derived=cfg.timeout is None)
            return Confirmed(doc.signature, doc.timeout, spec), self.start(spec)

        # A failure known from the user's log chooses the first build's targets already.
        given = read_text(cfg.failure_log) if cfg.failure_log is not None else None
        user_roots = self._roots(None)
        listed = self._listed(given, user_roots) if given is not None else []
        # (--each-failure builds for all the failures: no one of them chooses.)
        pre = (fl.pick(cfg, given, listed, user_roots, str(cfg.failure_log))
               if given is not None and not cfg.each_failure else None)
        union = fl.union_targets(cfg, listed) if cfg.each_failure and given is not None else None
        if pre is not None:
            spec0 = replace(spec0, signature=pre, memory_threshold=None, duration_threshold=None)
        if union is not None:
            spec0 = replace(spec0, targets=tuple(union))
        executor = self.start(spec0)
        roots = self._roots(executor)
        self.journal.follow(executor.oracle)
        doc.observe_fingerprint = self.journal.fingerprint
        bad = self.journal.lookup(bad_res.digest)
        if bad is None:
            bad = executor.run([bad_res], lambda i, r, o: self._record_observation(r, o),
                               [Label.BAD_CONFIG], observe=True)[0]
        if bad.verdict is Verdict.INFRA_ERROR:
            raise InfraError(f"the bad config could not be built on our side: {bad.detail}")
        # Kept even when the failure turns out not to reproduce: the report shows its log.
        doc.bad_outcome = bad
        self.save()
        log_text = read_text(bad.log_path)
        fl.check_limits(cfg, bad, log_text, _targets(executor))
        self._suggest_memory(bad)
        if given is None:
            listed = self._listed(log_text, roots)
        sig = self._signature(bad, log_text, given, listed, pre, roots)
        if cfg.each_failure and union is None:
            union = fl.union_targets(cfg, listed)
        timeout = (float(cfg.timeout) if cfg.timeout is not None
                   else max(MIN_TIMEOUT, cfg.timeout_factor * bad.duration))
        doc.signature, doc.timeout = sig, timeout
        doc.bad_outcome = replace(bad, signature=bad.signature or sig)
        doc.log_failures = [f.to_json() for f in listed[:200]]
        doc.targets = list(union) if union is not None else None
        self.save()
        spec = spec0.judged_by(sig, timeout, union, derived=cfg.timeout is None)
        executor.judge_by(spec)
        self.emit(Message("info", f"the bad config fails: {sig.describe()}; tests time out "
                                  f"after {timeout:.0f} s"))
        self._tell_choice(sig, listed, _targets(executor))
        return Confirmed(sig, timeout, spec), executor

    # -- the parts -------------------------------------------------------------------------
    def _roots(self, executor: Optional[Executor]) -> tuple[str, ...]:
        """Prefixes stripped from paths in logs (the worker's O= dir, the tree, the state)."""
        own = executor.oracle.roots(0) if executor is not None else []
        if own:
            return tuple(own)
        roots = [str(self.config.build.tree)] if self.config.build is not None else []
        return tuple(roots + [str(self.config.state_dir)])

    def _listed(self, log_text: str, roots: Sequence[str]) -> List[sg.LogFailure]:
        return sg.failures(log_text, roots=roots) if fl.judged_by_log(self.config) else []

    def _suggest_memory(self, bad: Outcome) -> None:
        """On a farm, say what --build-memory the bad config's build suggests (its peak plus a
        quarter: the builds of smaller configs need less)."""
        if self.config.scheduler is None or not bad.peak_rss:
            return
        want = -(-int(bad.peak_rss * 1.25) // 2**30)  # GiB, rounded up
        if self.config.build_memory is None:
            self.emit(Message("info", f"the bad config's build peaked at {bad.peak_rss / 2**30:.1f} "
                                      f"GiB: --build-memory {want}G keeps each build to a worker "
                                      "that has that much"))
        elif self.config.build_memory < bad.peak_rss:
            self.emit(Message("warning", f"the bad config's build peaked at {bad.peak_rss / 2**30:.1f} "
                                         f"GiB, more than --build-memory asks for: give "
                                         f"--build-memory {want}G"))

    def _record_observation(self, r: Resolved, o: Outcome) -> None:
        if o.verdict.is_final:
            self.journal.append(r, o, Label.BAD_CONFIG)

    def _tell_choice(self, sig: Signature, listed: List[sg.LogFailure], targets: List[str]) -> None:
        bad_log = (self.doc.bad_outcome.log_path if self.doc.bad_outcome else None) or "LOG"
        log_name = str(self.config.failure_log) if self.config.failure_log else bad_log
        number = fl.number_of(sig, listed)
        if number is not None:
            self.doc.failure_number = number
            self.save()
        for note in fl.choice_notes(self.config, sig, listed, targets, log_name):
            self.emit(Message("info", note))

    def _signature(self, bad: Outcome, log_text: str, given: Optional[str],
                   listed: List[sg.LogFailure], pre: Optional[Signature],
                   roots: Sequence[str]) -> Signature:
        """The signature the search judges by, checked against the bad config's own log.

        ``given`` is the user's ``--log`` (``None`` without one); ``listed`` are the distinct
        failures of the log the failure is picked from (``given``, else the bad config's log);
        ``pre`` what was already picked from ``given`` before the first build.
        """
        cfg = self.config
        log_note = f" (log: {bad.log_path})" if bad.log_path else ""
        if cfg.test_script is not None:
            if bad.verdict is Verdict.REPRODUCES:
                return bad.signature or Signature(kind=SignatureKind.SCRIPT,
                                                  tool=Path(cfg.test_script).name,
                                                  message="the test script exits 0")
            code = f", exit {bad.exit_code}" if bad.exit_code is not None else ""
            raise NotReproduced(
                f"the test script does not report the bad config as failing ({bad.verdict}{code})"
                f"{log_note}", hint="the script must exit 0 for the failing config")
        if cfg.memory_threshold is not None:
            sig = sg.memory_above(cfg.memory_threshold)
            if not sg.matches(sig, log_text, peak_rss=bad.peak_rss):
                seen = f"{bad.peak_rss / 2**30:.2f} GiB" if bad.peak_rss else "unknown"
                raise NotReproduced(f"the bad config's build peaked at {seen}, not above "
                                    f"{cfg.memory_threshold / 2**30:.2f} GiB{log_note}")
            return sig
        if cfg.duration_threshold is not None:
            sig = sg.duration_above(cfg.duration_threshold)
            if not sg.matches(sig, log_text, duration=bad.duration):
                raise NotReproduced(f"the bad config built in {bad.duration:.0f} s, not above "
                                    f"{cfg.duration_threshold:.0f} s{log_note}")
            return sig
        source, source_name = ((given, str(cfg.failure_log)) if given is not None
                               else (log_text, bad.log_path or "the bad config's log"))
        if cfg.signature_regex is not None:
            if given is not None and not sg.matches(sg.from_regex(cfg.signature_regex), given):
                raise UserError(f"the signature regex matches nothing in {cfg.failure_log}",
                                hint="check the pattern against the log")
            sig = pre or fl.pick(cfg, source, listed, roots, source_name)
            assert sig is not None
            if not sg.matches(sig, log_text):
                raise NotReproduced(f"the bad config's build log does not match "
                                    f"/{cfg.signature_regex}/{log_note}",
                                    hint="check the pattern, or that the tree is the one that failed")
            return sig
        if given is None:
            if bad.verdict is Verdict.PASSES or bad.signature is None:
                raise NotReproduced(f"the bad config builds without error: nothing to minimize{log_note}",
                                    hint="check --tree, --arch, --llvm and --make match the failing build")
            if cfg.failure is None:
                return bad.signature
        found = pre or fl.pick(cfg, source, listed, roots, source_name)
        if found is None:
            raise UserError(f"no failure found in {cfg.failure_log}",
                            hint="give the log of the failing build, or --signature REGEX")
        if given is not None and not (same_failure(found, bad.signature)
                                      or sg.matches(found, log_text, roots=roots)):
            other = bad.signature.describe() if bad.signature else str(bad.verdict)
            raise NotReproduced(f"the bad config does not fail as in {cfg.failure_log}: "
                                f"expected {found.describe()}, got {other}{log_note}")
        return found


def _targets(executor: Executor) -> List[str]:
    return list(executor.oracle.targets())
