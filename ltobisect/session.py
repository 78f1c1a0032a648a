"""The conductor: one minimization from input checks to verified artifacts.

``Session(config, reporter).run()`` never raises for the expected ways a run ends: bad input,
a failure that does not reproduce, an infrastructure error, a limit, a stop request or Ctrl-C all
become a :class:`SessionResult` with the documented exit code, and the state directory always
keeps its journal and the artifacts (marked partial when the search did not finish).

Phases (each announced with a ``PhaseStarted`` event):

1. *loading*: check the inputs, claim the state directory, load the Kconfig tree, compute the
   baseline and the changes (a bad config equal to the baseline is bad input).
2. *confirming*: build the bad config (``oracle.observe``) and confirm it fails; derive the
   signature (the user's regex, the given failure log, or the observed failure) and the test
   timeout (``timeout_factor`` x the bad build's duration unless given); test the baseline and
   confirm it does not fail the same way.
3. *searching*: the strategy pipeline through the :class:`~ltobisect.problem.Problem` gate and
   the :class:`~ltobisect.executor.LocalExecutor`, honouring the limits; every improvement is
   written to disk at once.
4. *verifying*: rebuild the best ``verify_repeats`` times; a result that does not reproduce is
   named flaky and the search backtracks to the previous best and continues; removing each
   remaining change is re-checked (1-minimality); on a kernel tree the best is resolved again
   with the kernel's own ``make olddefconfig`` and compared with our resolution.
5. *reporting*: the artifacts (``report.py``), and for a link failure an ``ld.lld --reproduce``
   tarball made by running ``reproduce.sh`` itself in a clean output directory.

``Session.resume(state_dir, reporter)`` continues a session from its journal: every finished
test is a cache hit, so no finished build runs again.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ltobisect import failures as fl
from ltobisect import journal as jr
from ltobisect import signature as sg
from ltobisect.config import BuildSpec, SessionConfig
from ltobisect.errors import ExitCode, InfraError, NotReproduced, Stopped, UserError
from ltobisect.events import Message, NullReporter, PhaseStarted, Reporter, SessionFinished
from ltobisect.executor import LocalExecutor
from ltobisect.journal import Journal, JournalRecord, StateDir
from ltobisect.model import Candidate, Change, Outcome, Resolved, Signature, Verdict, ordered
from ltobisect.problem import Problem
from ltobisect.verify import Verifier, check_with_make, lld_reproduce

#: A derived test timeout is never shorter than this (seconds): a fast first build must not make
#: every later test time out.
MIN_TIMEOUT = 30.0
#: Journal label of the bad config's record under the tested fingerprint: derived from its
#: observation (the build that gave the signature), not a build of its own.
DERIVED = "bad config (observed)"

# Statuses of a SessionResult (and of summary.json).
MINIMIZED = "minimized"
PARTIAL = "partial"
NOT_REPRODUCED = "not-reproduced"
BAD_INPUT = "bad-input"
INFRA_ERROR = "infra-error"


@dataclass
class SessionResult:
    """How a session ended and where its artifacts are."""

    status: str  # minimized | partial | not-reproduced | bad-input | infra-error
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
        return self.status == PARTIAL

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


# -- collaborators (injectable for tests) -----------------------------------------------------
TreeLoader = Callable[[SessionConfig, Path], Any]
OracleFactory = Callable[[SessionConfig, Path, Optional[Signature], Optional[float]], Any]


def load_tree(config: SessionConfig, work_dir: Path) -> Any:
    """Load the Kconfig tree of ``config.build`` with kconfiglib (``ltobisect.kconfig``)."""
    assert config.build is not None
    return load_build_tree(config.build, work_dir)


def load_build_tree(b: BuildSpec, work_dir: Path) -> Any:
    """The Kconfig tree of ``b`` as every session loads it: probes run in ``work_dir`` and their
    answers are kept in ``work_dir/probes``."""
    from ltobisect.kconfig import KconfigTree

    return KconfigTree.load(
        b.tree, arch=b.arch, llvm=b.llvm, make_vars=b.make_vars, kconfig_file=b.kconfig_file,
        work_dir=work_dir, probe_cache=work_dir / "probes",
    )


def make_oracle(config: SessionConfig, state_dir: Path, signature: Optional[Signature],
                timeout: Optional[float]) -> Any:
    """The oracle the session tests with: the user's script, or a kernel build."""
    from ltobisect import oracle

    if config.test_script is not None:
        return oracle.ScriptOracle(config.test_script, state_dir, timeout=timeout,
                                   mem_limit=config.mem_limit)
    assert config.build is not None
    # A known signature (a resumed session) already is the threshold, when there is one.
    thresholds = {} if signature is not None else dict(
        memory_threshold=config.memory_threshold, duration_threshold=config.duration_threshold)
    return oracle.KernelOracle(
        config.build, state_dir, signature=signature, timeout=timeout, mem_limit=config.mem_limit,
        workers=config.workers, **thresholds,
    )


def is_kernel_tree(tree: Optional[Path]) -> bool:
    """A Linux tree (has the kernel's own Kconfig tools), as opposed to another Kconfig project."""
    return tree is not None and (Path(tree) / "scripts" / "kconfig" / "merge_config.sh").is_file() \
        and (Path(tree) / "Makefile").is_file()


def _read_text(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")


def _git_describe(tree: Path) -> Optional[str]:
    if not (tree / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty", "--tags"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _same_signature(a: Optional[Signature], b: Optional[Signature]) -> bool:
    return a is not None and b is not None and (a.kind, a.tool, a.message, a.location) == (
        b.kind, b.tool, b.message, b.location)


class Session:
    """One minimization (see the module docstring). Thread-safe: :meth:`request_stop`."""

    def __init__(
        self,
        config: SessionConfig,
        reporter: Reporter = NullReporter(),
        *,
        tree_loader: Optional[TreeLoader] = None,
        oracle_factory: Optional[OracleFactory] = None,
        strategy: Optional[Any] = None,
        clock: Callable[[], float] = time.monotonic,
        resume: bool = False,
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.stop = threading.Event()
        self._stop_reason = "stop requested"
        self._tree_loader = tree_loader or load_tree
        self._oracle_factory = oracle_factory or make_oracle
        self._strategy = strategy
        self._clock = clock
        self._resume = resume
        self._state = StateDir(config.state_dir)
        #: Worker O= directories, logs, ccache and the journal (shared by --each-failure's searches).
        self._work = Path(config.work_dir) if config.work_dir is not None else self._state.path
        self._data: Dict[str, Any] = {}
        self._oracles: List[Any] = []
        self._executor: Optional[LocalExecutor] = None
        self._problem: Optional[Problem] = None
        self._journal: Optional[Journal] = None
        self._tree: Any = None
        self._changes: Tuple[Change, ...] = ()
        self._by_digest: Dict[str, Candidate] = {}
        self._resolve: Optional[Callable[[Candidate], Resolved]] = None
        self._signature: Optional[Signature] = None
        self._result: Dict[str, Any] = {}
        self._timer: Optional[threading.Timer] = None
        self._t0 = clock()
        self.result: Optional[SessionResult] = None  # set when run() ends, even by Ctrl-C

    # -- public API ----------------------------------------------------------------------------
    @classmethod
    def resume(cls, state_dir: Path, reporter: Reporter = NullReporter(), **kw: Any) -> SessionResult:
        """Continue the session stored in ``state_dir``; finished builds are never rerun."""
        try:
            session = cls.from_state(state_dir, reporter, **kw)
        except UserError as exc:
            return _early_result(Path(state_dir), exc, reporter)
        return session.run()

    @classmethod
    def from_state(cls, state_dir: Path, reporter: Reporter = NullReporter(), **kw: Any) -> "Session":
        """The session stored in ``state_dir``, ready to :meth:`run` (resume) or be stopped.

        Raises :class:`UserError` when ``state_dir`` holds no readable session. The CLI uses
        this to keep a handle for :meth:`request_stop` while a resumed session runs.
        """
        state = StateDir(Path(state_dir))
        data = state.read_session()
        try:
            config = jr.config_from_json(data["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{state.session_file} is damaged: {exc}") from exc
        if Path(config.state_dir).resolve() != Path(state_dir).resolve():
            config = replace(config, state_dir=Path(state_dir))
        return cls(config, reporter, resume=True, **kw)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop as soon as possible: running builds are killed, the best so far is written."""
        self._stop_reason = reason
        if self._executor is not None:
            self._executor.request_stop(reason)
        self.stop.set()

    def run(self) -> SessionResult:
        """Run (or continue) the session and return how it ended.

        Bad input, a failure that does not reproduce, infrastructure errors, limits and
        :meth:`request_stop` all end in a :class:`SessionResult` with the documented exit code;
        nothing of these raises. A raw KeyboardInterrupt (Ctrl-C without a handler, or the
        CLI's second Ctrl-C) kills the running builds, writes the best result so far as partial
        (``self.result``) and is then re-raised.
        """
        t0 = self._t0 = self._clock()
        wall0 = time.time()
        owned = False
        interrupted = False
        status, code, message, hint = PARTIAL, ExitCode.PARTIAL, "", ""
        try:
            self._claim()
            owned = True
            self._arm_deadline()
            self._session()
            status, code = self._result["status"], ExitCode(self._result["exit_code"])
            message = self._result["message"]
        except Stopped as exc:
            status, code, message = PARTIAL, ExitCode.PARTIAL, f"stopped: {exc.reason}"
        except KeyboardInterrupt:
            status, code, message = PARTIAL, ExitCode.PARTIAL, "stopped: interrupted (Ctrl-C)"
            interrupted = True
        except NotReproduced as exc:
            status, code, message, hint = NOT_REPRODUCED, exc.exit_code, str(exc), exc.hint
        except UserError as exc:
            status, code, message, hint = BAD_INPUT, exc.exit_code, str(exc), exc.hint
        except InfraError as exc:
            status, code, message = INFRA_ERROR, ExitCode.INFRA, self._explain_infra(exc)
            hint = f"the journal is intact: fix the cause, then `ltobisect resume {self._state.path}`"
        except Exception as exc:
            # A bug of ours must not lose the search: keep the journal, write what we have.
            status, code = INFRA_ERROR, ExitCode.INFRA
            message = f"internal error: {type(exc).__name__}: {exc}"
            hint = "please report it with error.txt from the state directory; `ltobisect resume` continues"
            if owned:
                self._save_traceback()
        finally:
            self._close()
        elapsed = self._clock() - t0
        artifacts: Dict[str, Path] = {}
        if owned:
            try:
                artifacts = self._finish(status, code, message, hint, wall0, elapsed)
            except (InfraError, OSError) as exc:
                text = exc.line() if isinstance(exc, InfraError) else str(exc)
                if status in (MINIMIZED, PARTIAL):
                    status, code = INFRA_ERROR, ExitCode.INFRA
                message = f"{message}; and the artifacts could not be written: {text}"
            except KeyboardInterrupt:
                message = f"{message}; interrupted while writing the artifacts"
            finally:
                self._state.release()
        if self._timer is not None:
            self._timer.cancel()
        result = self.result = self._make_result(status, code, message, hint, artifacts, elapsed)
        self._emit(SessionFinished(status=result.status, exit_code=int(result.exit_code),
                                   report_path=str(artifacts.get("report", "")) or None,
                                   summary_path=str(artifacts.get("summary", "")) or None))
        if interrupted:
            # The builds are killed and the partial result is on disk (``self.result``); the
            # caller decides what a raw Ctrl-C means (the CLI: killed, exit 130).
            raise KeyboardInterrupt
        return result

    # -- phases --------------------------------------------------------------------------------
    def _claim(self) -> None:
        cfg = self.config
        if cfg.workers < 1:
            raise UserError(f"workers must be at least 1, not {cfg.workers}")
        self._state.prepare()
        existing = self._state.claim(cfg)
        self._state.acquire()
        if existing is not None:
            self._data = existing
        elif self._resume:
            raise UserError(f"{self._state.path} holds no session to resume")
        else:
            self._data = {
                "identity": jr.session_identity(cfg),
                "created": time.time(),
            }
        # The config as given now (workers, limits may change between runs).
        self._data["config"] = jr.config_to_json(cfg)
        self._state.write_session(self._data)
        orphans = reap_orphans(self._work)
        if orphans:
            self._emit(Message("warning", f"stopped {orphans} build(s) left running by an earlier, "
                                          "killed run of this session"))
        self._journal = Journal(self._work / jr.JOURNAL_FILE)
        if self._journal.torn:
            self._emit(Message("warning", "the journal's last record was cut short (killed while "
                                          "writing); that test will run again"))

    def _validate(self) -> None:
        cfg = self.config
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
            script = Path(cfg.test_script)
            if not script.is_file():
                raise UserError(f"test script {script} does not exist")
            if not os.access(script, os.X_OK):
                raise UserError(f"test script {script} is not executable", hint=f"chmod +x {script}")
        if cfg.failure_log is not None and not Path(cfg.failure_log).is_file():
            raise UserError(f"failure log {cfg.failure_log} does not exist")
        if cfg.signature_regex is not None and cfg.test_script is not None:
            raise UserError("--signature applies to builds, not to a --test script",
                            hint="let the script decide what reproduces")
        if cfg.verify_repeats < 0:
            raise UserError(f"verify repeats must be 0 or more, not {cfg.verify_repeats}")
        base = cfg.baseline
        if base not in ("defconfig", "tinyconfig", "allnoconfig") and not Path(base).is_file():
            raise UserError(f"baseline {base} is neither defconfig, tinyconfig, allnoconfig nor a file")

    def _session(self) -> None:
        cfg = self.config
        assert self._journal is not None
        self._phase("loading", str(cfg.build.tree) if cfg.build else "")
        self._validate()
        assert cfg.build is not None
        tree_dir = Path(cfg.build.tree)
        work = self._state.file("kconfig")
        work.mkdir(exist_ok=True)
        tree = self._tree = self._tree_loader(cfg, work)
        baseline_text = tree.baseline(cfg.baseline)
        try:
            bad_text = tree.read_config(Path(cfg.bad_config))
        except OSError as exc:
            raise UserError(f"cannot read bad config {cfg.bad_config}: {exc.strerror}") from exc
        changes = tuple(ordered(tree.diff(baseline_text, bad_text)))
        if not changes:
            raise UserError(f"the bad config {cfg.bad_config} equals the baseline {cfg.baseline}: "
                            "nothing to minimize", hint="give the failing .config, or another --baseline")
        stored = self._data.get("changes")
        if stored is not None and tuple(jr.changes_from_json(stored)) != changes:
            raise UserError(
                f"the tree or the bad config changed since this session started "
                f"({len(stored)} changes then, {len(changes)} now)",
                hint="start a new session with another --state",
            )
        self._changes = changes
        raw_resolve = tree.resolver(baseline_text)

        def resolve(cand: Candidate) -> Resolved:
            r = raw_resolve(cand)
            self._by_digest.setdefault(r.digest, frozenset(cand))
            return r

        self._resolve = resolve
        structure = tree.structure(baseline_text, changes)
        base_res = resolve(frozenset())
        bad_res = resolve(frozenset(changes))
        jr.write_atomic(self._state.file("baseline.config"), base_res.config_text)
        if stored is None:
            self._data.update(
                changes=jr.changes_to_json(changes),
                baseline_digest=base_res.digest,
                bad_digest=bad_res.digest,
                bad_config_sha256=jr.file_digest(Path(cfg.bad_config)),
                environment=self._environment(tree, tree_dir),
                kconfig_warnings=list(getattr(tree, "warnings", []) or [])[:200],
                ineffective_in_bad=[f"{i.change.line()}: {i.reason}" for i in bad_res.ineffective][:50],
            )
            self._state.write_session(self._data)
        if bad_res.ineffective:
            self._emit(Message("warning", f"{len(bad_res.ineffective)} of the bad config's values "
                                          "do not survive Kconfig resolution on this tree"))

        # -- confirming ------------------------------------------------------------------------
        self._phase("confirming", f"{len(changes)} changes against {cfg.baseline}")
        sig, timeout = self._confirm(bad_res)
        self._signature = sig
        oracle = self._executor.oracle if self._executor else None
        assert oracle is not None and self._executor is not None
        journal = self._journal
        journal.fingerprint = oracle.fingerprint()
        journal.build_key = oracle.build_key()
        if cfg.each_failure:
            # The other failures' searches built with the same targets: their logs answer ours.
            journal.rejudge = oracle.rejudge
        if self._data.get("fingerprint") not in (None, journal.fingerprint):
            self._emit(Message("warning", "the tree, toolchain or make arguments changed since this "
                                          "session started: earlier results are not reused"))
        self._data["fingerprint"] = journal.fingerprint
        self._state.write_session(self._data)
        if not journal.history(bad_res.digest):
            # The bad build's own log is what the signature was taken from (or was checked
            # against): record it as reproducing under the tested fingerprint, so it is never
            # built again.
            bad_out = Outcome.from_json(self._data["bad_outcome"])
            journal.append_record(JournalRecord(
                bad_res.digest, journal.fingerprint,
                replace(bad_out, verdict=Verdict.REPRODUCES, signature=bad_out.signature or sig),
                DERIVED, len(changes), time.time()))

        problem = self._problem = Problem(
            changes, resolve, self._executor, journal, structure=structure, limits=cfg.limits,
            seed=cfg.seed, reporter=self.reporter, on_best=self._on_best, clock=self._clock,
            started=self._t0,
        )
        if self._state.read_best() is None:
            # The best result so far is always on disk: at first, the bad config itself.
            self._on_best(frozenset(changes), bad_res)
        problem.label = "baseline"
        base_out = problem.test_many([frozenset()])[0]
        self._data["baseline_outcome"] = base_out.to_json()
        self._state.write_session(self._data)
        if base_out.verdict is Verdict.REPRODUCES:
            raise UserError(
                f"the baseline {cfg.baseline} already fails the same way ({sig.describe()})",
                hint=(f"the regex also matches the baseline's log ({base_out.log_path}): make it match "
                      "only the failure, e.g. from 'error:' on" if sig.kind == "regex" else
                      "choose a smaller baseline (tinyconfig or allnoconfig) or a config that builds"),
            )
        if base_out.verdict is not Verdict.PASSES:
            self._emit(Message("warning", f"the baseline {cfg.baseline} does not build cleanly "
                                          f"({base_out.verdict.value}: {base_out.detail or '-'}); "
                                          "results near it may be judged by another failure"))

        # -- searching and verifying ----------------------------------------------------------
        strategy = self._strategy
        if strategy is None:
            from ltobisect.strategies import get

            strategy = get(cfg.strategy)
        verifier = Verifier(problem, journal, changes, cfg.verify_repeats, on_best=self._on_best,
                            emit=self._emit, phase=self._phase)
        best, verification = verifier.minimize(strategy)
        best_res = problem.resolve(best)
        if not cfg.verify_with_make:
            verification["olddefconfig"] = {"checked": False, "note": "not asked for"}
        elif not is_kernel_tree(tree_dir):
            verification["olddefconfig"] = {"checked": False, "note": "not a kernel tree"}
        else:
            self._phase("verifying", "make olddefconfig")
            mk = check_with_make(tree, cfg.build, baseline_text, best, best_res,
                                 self._state.file("olddefconfig"))
            if mk.get("checked") and not mk.get("equal"):
                self._emit(Message("warning", f"make olddefconfig resolves the result differently "
                                              f"({mk['differing']} symbols, e.g. {mk['diff'][0]})"))
            verification["olddefconfig"] = mk
        self._result = {
            "status": MINIMIZED,
            "exit_code": int(ExitCode.MINIMIZED),
            "message": f"minimized {len(changes)} changes to {len(best)}",
            "verification": verification,
            "timeout": timeout,
        }

    def _confirm(self, bad_res: Resolved) -> Tuple[Signature, float]:
        """Build the bad config, derive the signature and the timeout (or reuse stored ones)."""
        cfg = self.config
        journal = self._journal
        assert journal is not None
        stored_sig = self._data.get("signature")
        if stored_sig is not None and self._data.get("bad_outcome") is not None:
            sig = Signature.from_json(stored_sig)
            timeout = float(self._data["timeout"])
            oracle = self._new_oracle(sig, timeout)
            if self._data.get("targets") is not None:
                oracle = oracle.with_targets(self._data["targets"])
            self._executor = self._new_executor(oracle)
            return sig, timeout

        # A failure known from the user's log chooses the first build's targets already.
        given = _read_text(Path(cfg.failure_log)) if cfg.failure_log is not None else None
        listed = self._listed(given) if given is not None else []
        # (--each-failure builds for all the failures: no one of them chooses.)
        pre = (fl.pick(cfg, given, listed, self._roots(), str(cfg.failure_log))
               if given is not None and not cfg.each_failure else None)
        oracle0 = self._new_oracle(pre, cfg.timeout)
        union = fl.union_targets(cfg, listed) if cfg.each_failure and given is not None else None
        if union is not None:
            oracle0 = oracle0.with_targets(union)
        self._executor = self._new_executor(oracle0)
        journal.fingerprint = oracle0.fingerprint()
        journal.build_key = oracle0.build_key()
        self._data["observe_fingerprint"] = journal.fingerprint
        bad = journal.lookup(bad_res.digest)
        if bad is None:
            bad = self._executor.run([bad_res], lambda i, r, o: self._record_observation(r, o),
                                     ["bad config"], observe=True)[0]
        if bad.verdict is Verdict.INFRA_ERROR:
            raise InfraError(f"the bad config could not be built on our side: {bad.detail}")
        # Kept even when the failure turns out not to reproduce: the report shows its log.
        self._data["bad_outcome"] = bad.to_json()
        self._state.write_session(self._data)
        log_text = self._log_text(bad.log_path)
        fl.check_limits(cfg, bad, log_text, oracle0.targets())
        if given is None:
            listed = self._listed(log_text)
        sig = self._derive_signature(bad, log_text, given, listed, pre)
        if cfg.each_failure and union is None:
            union = fl.union_targets(cfg, listed)
        if cfg.timeout is not None:
            timeout = float(cfg.timeout)
        else:
            timeout = max(MIN_TIMEOUT, cfg.timeout_factor * bad.duration)
        self._data.update(signature=sig.to_json(), timeout=timeout,
                          bad_outcome=replace(bad, signature=bad.signature or sig).to_json(),
                          log_failures=[f.to_json() for f in listed[:200]],
                          targets=list(union) if union is not None else None)
        self._state.write_session(self._data)
        oracle = oracle0.with_signature(sig).with_timeout(timeout).with_targets(union)
        self._oracles.append(oracle)
        self._executor.oracle = oracle
        self._emit(Message("info", f"the bad config fails: {sig.describe()}; tests time out "
                                   f"after {timeout:.0f} s"))
        self._tell_choice(sig, listed, oracle.targets())
        return sig, timeout

    def _listed(self, log_text: str) -> List[sg.LogFailure]:
        return sg.failures(log_text, roots=self._roots()) if fl.judged_by_log(self.config) else []

    def _tell_choice(self, sig: Signature, listed: List[sg.LogFailure], targets: List[str]) -> None:
        bad_log = (self._data.get("bad_outcome") or {}).get("log_path") or "LOG"
        log_name = str(self.config.failure_log) if self.config.failure_log else bad_log
        number = fl.number_of(sig, listed)
        if number is not None:
            self._data["failure_number"] = number
            self._state.write_session(self._data)
        for note in fl.choice_notes(self.config, sig, listed, targets, log_name):
            self._emit(Message("info", note))

    def _record_observation(self, r: Resolved, o: Outcome) -> None:
        assert self._journal is not None
        if o.verdict.is_final:
            self._journal.append(r, o, "bad config")

    def _derive_signature(self, bad: Outcome, log_text: str, given: Optional[str],
                          listed: List[sg.LogFailure], pre: Optional[Signature]) -> Signature:
        """The signature the search judges by, checked against the bad config's own log.

        ``given`` is the user's ``--log`` (``None`` without one); ``listed`` are the distinct
        failures of the log the failure is picked from (``given``, else the bad config's log);
        ``pre`` what was already picked from ``given`` before the first build.
        """
        cfg = self.config
        roots = self._roots()
        log_note = f" (log: {bad.log_path})" if bad.log_path else ""
        if cfg.test_script is not None:
            if bad.verdict is Verdict.REPRODUCES:
                return bad.signature or Signature(kind="script", tool=Path(cfg.test_script).name,
                                                  message="the test script exits 0")
            raise NotReproduced(
                f"the test script does not report the bad config as failing "
                f"({bad.verdict.value}{', exit ' + str(bad.exit_code) if bad.exit_code is not None else ''})"
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
        if given is not None and not (_same_signature(found, bad.signature)
                                      or sg.matches(found, log_text, roots=roots)):
            other = bad.signature.describe() if bad.signature else bad.verdict.value
            raise NotReproduced(f"the bad config does not fail as in {cfg.failure_log}: "
                                f"expected {found.describe()}, got {other}{log_note}")
        return found

    # -- finishing -----------------------------------------------------------------------------
    def _finish(self, status: str, code: ExitCode, message: str, hint: str, wall0: float,
                elapsed: float) -> Dict[str, Path]:
        """Write result.json, the run record and the artifacts; return the artifact paths."""
        from ltobisect import report

        problem = self._problem
        stats = problem.stats if problem is not None else None
        best = problem.best if problem is not None else None
        searched = problem is not None and status in (MINIMIZED, PARTIAL, INFRA_ERROR, NOT_REPRODUCED)
        result: Dict[str, Any] = dict(self._result)
        result.update(status=status, exit_code=int(code), message=message, hint=hint,
                      finished=time.time())
        if searched and best is not None and self._resolve is not None:
            best_res = problem.resolve(best)  # type: ignore[union-attr]
            result["best"] = {"size": len(best), "digest": best_res.digest,
                              "changes": jr.changes_to_json(best),
                              "warnings": list(best_res.warnings)[:50],
                              "ineffective": [f"{i.change.line()}: {i.reason}" for i in best_res.ineffective]}
            result["best_log"] = self._best_log(best_res.digest)
            jr.write_atomic(self._state.file(jr.BEST_CONFIG), best_res.config_text)
        result["flaky"] = self._flaky()
        if stats is not None:
            result["this_run"] = {"builds": stats.tests, "cache_hits": stats.cache_hits,
                                  "same_config": stats.same_config, "normalized": stats.normalized,
                                  "build_seconds": round(stats.build_seconds, 3)}
        self._state.append_run({
            "started": wall0, "ended": time.time(), "elapsed": round(elapsed, 3), "status": status,
            "builds": stats.tests if stats else 0, "cache_hits": stats.cache_hits if stats else 0,
        })
        self._state.write_result(result)
        self._emit(PhaseStarted(phase="reporting", detail=str(self._state.path)))
        paths = report.write_artifacts(self._state.path)
        if status == MINIMIZED and self._signature is not None and self.config.test_script is None:
            made = self._lld_tarball(paths.get("reproduce"))
            if made is not None:
                result["ld_reproduce"] = made
                self._state.write_result(result)
                paths = report.write_artifacts(self._state.path)
        self._result = result
        return paths

    def _lld_tarball(self, script: Optional[Path]) -> Optional[Dict[str, Any]]:
        """For a link failure on a kernel tree, within the budget: ``verify.lld_reproduce``."""
        sig = self._signature
        cfg = self.config
        if sig is None or sig.kind != "link-error" or script is None:
            return None
        if cfg.build is None or not is_kernel_tree(Path(cfg.build.tree)):
            return None
        if self.stop.is_set():
            return {"made": False, "reason": "stopped before it could be made"}
        bad = self._data.get("bad_outcome") or {}
        limit = max(600.0, 3 * float(bad.get("duration") or 0))
        if cfg.limits.deadline is not None:
            left = cfg.limits.deadline - (self._clock() - self._t0) - 10.0
            if left < 60.0:
                return {"made": False, "reason": "no time left in the budget for a clean build"}
            limit = min(limit, left)
        from ltobisect.build import build_env, ccache_enabled

        b = cfg.build
        env = None
        if ccache_enabled(b):
            # The environment of the search's builds (LANG, KBUILD_BUILD_*, CCACHE_BASEDIR...)
            # and its compiler command: ccache's keys match and the clean build takes seconds.
            llvm = b.llvm or ""
            clang = f"{llvm}clang" if llvm.endswith("/") else f"clang{llvm}" if llvm.startswith("-") else "clang"
            env = build_env(b, self._state.file("lld-reproduce") / "0",
                            {"LTOBISECT_CC": f"ccache {clang}"},
                            ccache_dir=Path(b.ccache_dir) if b.ccache_dir else self._state.file("ccache"))
        self._emit(PhaseStarted(phase="reporting", detail="ld.lld --reproduce"))
        return lld_reproduce(script, self._state.path, limit, self.stop, env)

    def _make_result(self, status: str, code: ExitCode, message: str, hint: str,
                     artifacts: Dict[str, Path], elapsed: float) -> SessionResult:
        problem = self._problem
        best = problem.best if problem is not None and status in (MINIMIZED, PARTIAL, INFRA_ERROR) else None
        runs = self._state.runs() if artifacts else []
        return SessionResult(
            status=status,
            exit_code=code,
            message=message,
            hint=hint,
            state_dir=self._state.path,
            fragment=tuple(c.line() for c in ordered(best)) if best is not None else (),
            best_size=len(best) if best is not None else None,
            total_changes=len(self._changes) or None,
            verified=status == MINIMIZED,
            signature=self._signature.describe() if self._signature else None,
            artifacts=artifacts,
            builds=sum(1 for r in self._records() if r.label not in (DERIVED, jr.REJUDGED)),
            cache_hits=sum(int(r.get("cache_hits", 0)) for r in runs),
            flaky=tuple(f["line"] for f in self._flaky()),
            elapsed=elapsed,
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _new_oracle(self, sig: Optional[Signature], timeout: Optional[float]) -> Any:
        try:
            oracle = self._oracle_factory(self.config, self._work, sig, timeout)
        except OSError as exc:
            raise InfraError(f"cannot set up the test oracle: {exc}") from exc
        self._oracles.append(oracle)
        assert self.config.build is not None
        return TreeGuard(oracle, Path(self.config.build.tree), self.config.build.kconfig_file)

    def _new_executor(self, oracle: Any) -> LocalExecutor:
        ex = LocalExecutor(oracle, self.config.workers, self.config.retry, self.reporter, stop=self.stop)
        ex.stop_reason = self._stop_reason
        return ex

    def _arm_deadline(self) -> None:
        deadline = self.config.limits.deadline
        if deadline is None:
            return
        # The Problem checks the deadline between batches; the timer also stops a batch of long
        # builds, so a budgeted run (the CI hook) never overruns by a whole build.
        self._timer = threading.Timer(max(0.0, deadline), self.request_stop, args=("deadline reached",))
        self._timer.daemon = True
        self._timer.start()

    def _save_traceback(self) -> None:
        import traceback

        try:
            jr.write_atomic(self._state.file("error.txt"), traceback.format_exc())
        except InfraError:
            pass

    def _close(self) -> None:
        if self._executor is not None:
            try:
                self._executor.close()
            except Exception as exc:
                self._emit(Message("warning", f"could not stop the workers cleanly: {exc}"))
        for o in self._oracles:
            try:
                o.close()
            except Exception:
                pass

    def _on_best(self, cand: Candidate, resolved: Resolved) -> None:
        self._state.write_best(cand, resolved, len(self._changes))

    def _records(self) -> List[JournalRecord]:
        j = self._journal
        if j is None:
            return []
        fps = {j.fingerprint, self._data.get("observe_fingerprint")}
        return [r for r in j.records() if r.fingerprint in fps]

    def _flaky(self) -> List[Dict[str, Any]]:
        j = self._journal
        if j is None or not j.fingerprint:
            return []
        out = []
        records = [r for r in j.records(j.fingerprint) if r.label != "bad config"]
        for digest, verdicts in jr.flaky_digests(records).items():
            cand = self._by_digest.get(digest)
            lines = [c.line() for c in ordered(cand)] if cand is not None else []
            size = len(cand) if cand is not None else None
            shown = ", ".join(lines[:4]) + (", ..." if len(lines) > 4 else "")
            what = f"{size} changes: {shown}" if cand is not None else "changes unknown"
            out.append({"digest": digest, "size": size, "changes": lines[:20], "verdicts": verdicts,
                        "line": f"config {digest[:12]} ({what}) gave {', '.join(verdicts)}"})
        return out

    def _best_log(self, digest: str) -> Optional[str]:
        j = self._journal
        if j is None:
            return None
        for rec in reversed(j.history(digest)):
            if rec.outcome.verdict is Verdict.REPRODUCES and rec.outcome.log_path:
                return rec.outcome.log_path
        bad = self._data.get("bad_outcome") or {}
        return bad.get("log_path")

    def _log_text(self, path: Optional[str]) -> str:
        if not path:
            return ""
        try:
            return _read_text(Path(path))
        except OSError:
            return ""

    def _roots(self) -> Tuple[str, ...]:
        oracle = self._executor.oracle if self._executor is not None else None
        if hasattr(oracle, "roots"):
            try:
                return tuple(oracle.roots(0))  # type: ignore[union-attr]
            except Exception:
                pass
        roots = []
        if self.config.build is not None:
            roots.append(str(self.config.build.tree))
        roots.append(str(self._state.path))
        return tuple(roots)

    def _environment(self, tree: Any, tree_dir: Path) -> Dict[str, Any]:
        cfg = self.config
        # reproduce.sh and the final check use the kernel's merge_config.sh and olddefconfig.
        env: Dict[str, Any] = {"tree": str(tree_dir), "kernel_tree": is_kernel_tree(tree_dir)}
        try:
            env["kernelversion"] = tree.kernelversion()
        except Exception as exc:  # a non-kernel Kconfig project has no version: say why
            env["kernelversion"] = None
            env["kernelversion_note"] = str(exc)
        env["git_describe"] = _git_describe(tree_dir)
        if cfg.build is not None and cfg.test_script is None:
            try:
                from ltobisect.build import toolchain_versions

                env["toolchain"] = toolchain_versions(cfg.build)
            except Exception as exc:
                env["toolchain"] = {"note": f"unavailable: {exc}"}
        return env

    def _explain_infra(self, exc: InfraError) -> str:
        b = self.config.build
        if b is not None and not Path(b.tree).is_dir():
            return f"the tree {b.tree} vanished during the run ({exc.line()})"
        return exc.line()

    def _phase(self, phase: str, detail: str = "") -> None:
        if self.stop.is_set():
            raise Stopped(self._stop_reason)
        self._emit(PhaseStarted(phase=phase, detail=detail))

    def _emit(self, ev: Any) -> None:
        try:
            self.reporter.event(ev)
        except Exception:
            pass


def reap_orphans(state_dir: Path) -> int:
    """Kill builds an earlier, killed run of this session left running; return how many groups.

    Builds run in process groups of their own, so a kill -9 of ltobisect leaves them running,
    and a resumed run would then build in the same worker directory at the same time (which
    corrupts it). Every build has its TMPDIR inside ``state_dir/workers/`` (or
    ``state_dir/lld-reproduce/``): a process with such a TMPDIR while we hold the state
    directory's lock is such an orphan.
    """
    dirs = [Path(state_dir) / "workers", Path(state_dir) / "lld-reproduce"]
    roots = tuple({str(d) + os.sep for d in dirs} | {str(d.resolve()) + os.sep for d in dirs})
    groups = set()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        tmp = next((kv[7:] for kv in env if kv.startswith(b"TMPDIR=")), None)
        if tmp is None or not tmp.decode(errors="replace").startswith(roots):
            continue
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if pgid != os.getpgrp():
            groups.add(pgid)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    return len(groups)


class TreeGuard:
    """Wraps an oracle so that a build of a vanished tree is an infrastructure error.

    A tree deleted or unmounted during a run makes make fail in ways that look like a config's
    failure; recording those as verdicts would poison the journal. After each test the tree is
    checked, and if it is gone the outcome becomes ``INFRA_ERROR`` (never journaled).
    """

    def __init__(self, inner: Any, tree: Path, kconfig_file: str = "Kconfig") -> None:
        self.inner = inner
        self.tree = tree
        self.kconfig_file = kconfig_file
        self._marker = tree / kconfig_file

    def _check(self, outcome: Outcome) -> Outcome:
        if not self._marker.is_file():
            return Outcome(Verdict.INFRA_ERROR, duration=outcome.duration,
                           detail=f"the tree {self.tree} vanished")
        return outcome

    @property
    def signature(self) -> Optional[Signature]:
        return getattr(self.inner, "signature", None)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        return self._check(self.inner.observe(resolved, slot))

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        return self._check(self.inner.test(resolved, slot))

    def with_signature(self, sig: Signature) -> "TreeGuard":
        return TreeGuard(self.inner.with_signature(sig), self.tree, self.kconfig_file)

    def with_timeout(self, seconds: Optional[float]) -> "TreeGuard":
        return TreeGuard(self.inner.with_timeout(seconds), self.tree, self.kconfig_file)

    def with_targets(self, targets: Optional[Sequence[str]]) -> "TreeGuard":
        inner = self.inner.with_targets(targets) if hasattr(self.inner, "with_targets") else self.inner
        return TreeGuard(inner, self.tree, self.kconfig_file)

    def targets(self) -> List[str]:
        return list(self.inner.targets()) if hasattr(self.inner, "targets") else []

    def build_key(self) -> str:
        """See :meth:`KernelOracle.build_key`; an oracle without one shares no builds."""
        return self.inner.build_key() if hasattr(self.inner, "build_key") else ""

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]:
        return self.inner.rejudge(outcome) if hasattr(self.inner, "rejudge") else None

    def roots(self, slot: int) -> List[str]:
        return list(self.inner.roots(slot)) if hasattr(self.inner, "roots") else [str(self.tree)]

    def close(self) -> None:
        self.inner.close()


def _early_result(state_dir: Path, exc: UserError, reporter: Reporter) -> SessionResult:
    res = SessionResult(status=BAD_INPUT, exit_code=exc.exit_code, message=str(exc),
                        hint=exc.hint, state_dir=state_dir)
    try:
        reporter.event(SessionFinished(status=res.status, exit_code=int(res.exit_code)))
    except Exception:
        pass
    return res
