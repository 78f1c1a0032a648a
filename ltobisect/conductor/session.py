"""The conductor: one minimization from input checks to verified artifacts.

``Session(config, reporter).run()`` is five steps, each a method below and, where it is more
than a few lines, a module of its own:

1. **claim** the state directory (lock it, refuse another session's, read what an earlier run
   wrote, stop builds a killed run left behind, open the journal);
2. **load** the tree and the changes (:mod:`ltobisect.conductor.load`);
3. **confirm** that the bad config fails, and how (:mod:`ltobisect.conductor.confirm`), then that the
   baseline does not fail the same way;
4. **search and verify**: the strategy through the :class:`~ltobisect.problem.Problem` gate,
   then rebuilds, the 1-minimality re-check and the kernel's own ``make olddefconfig``
   (:mod:`ltobisect.conductor.verify`); every improvement is written to disk at once;
5. **finish**: result.json, the run record, the artifacts (:mod:`ltobisect.conductor.finish`).

``run()`` never raises for the expected ways a run ends: bad input, a failure that does not
reproduce, an infrastructure error, a limit, a stop request or Ctrl-C all become a
:class:`SessionResult` with the documented exit code, and the state directory keeps its journal
and the artifacts (marked partial when the search did not finish). The session's state is typed:
:class:`~ltobisect.store.state.SessionDoc` (session.json), :class:`~ltobisect.conductor.load.Loaded`,
:class:`~ltobisect.conductor.confirm.Confirmed`, :class:`~ltobisect.conductor.finish.Searched`.

``Session.resume(state_dir, reporter)`` continues a session from its journal: every finished
test is a cache hit, so no finished build runs again.
"""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ltobisect.matrix import llvm as llvm_matrix

from ltobisect.conductor import priors
from ltobisect.conductor.confirm import Confirmation, Confirmed
from ltobisect.config import SessionConfig, config_from_json, config_to_json, is_kernel_tree
from ltobisect.errors import ExitCode, InfraError, NotReproduced, Stopped, UserError
from ltobisect.events import Message, NullReporter, PhaseStarted, Reporter, SessionFinished
from ltobisect.executor import Executor, ExecutorFactory, OracleFactory, reap_orphans
from ltobisect.conductor.finish import Finisher, SessionResult, Searched
from ltobisect.store.journal import Journal, JournalRecord, changes_from_json, write_atomic
from ltobisect.limits import StopCondition
from ltobisect.conductor.load import Loaded, TreeLoader, load, load_tree
from ltobisect.conductor.matrices import Matrices
from ltobisect.model import (Candidate, Label, Phase, Resolved, SessionStatus, Signature,
                             SignatureKind, Verdict, ordered)
from ltobisect.oracle import OracleSpec, make_oracle
from ltobisect.pools import pool_for
from ltobisect.problem import Problem
from ltobisect.store.state import SessionDoc, StateDir, session_identity
from ltobisect.strategies import get as get_strategy
from ltobisect.conductor.verify import Verifier, check_with_make
from ltobisect.textfit import plural

__all__ = ["Session", "SessionResult"]


class Session:
    """One minimization (see the module docstring). Thread-safe: :meth:`request_stop`."""

    def __init__(
        self,
        config: SessionConfig,
        reporter: Reporter = NullReporter(),
        *,
        tree_loader: Optional[TreeLoader] = None,
        oracle_factory: Optional[OracleFactory] = None,
        executor_factory: Optional[ExecutorFactory] = None,
        strategy: Optional[Any] = None,
        clock: Callable[[], float] = time.monotonic,
        resume: bool = False,
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.stop = StopCondition(config.limits, clock=clock)
        self._tree_loader = tree_loader or load_tree
        self._executor_factory = executor_factory
        self._oracle_factory = oracle_factory or make_oracle
        self._strategy = strategy
        self._resume = resume
        self._state = StateDir(config.state_dir, config.work_dir)
        #: The journal, worker O= directories, logs (shared by --each-failure's searches).
        self._work = self._state.work
        self._doc: Optional[SessionDoc] = None
        self._journal: Optional[Journal] = None
        self._loaded: Optional[Loaded] = None
        self._confirmed: Optional[Confirmed] = None
        self._executor: Optional[Executor] = None
        self._problem: Optional[Problem] = None
        self._searched: Optional[Searched] = None
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
    def from_state(cls, state_dir: Path, reporter: Reporter = NullReporter(),
                   settings: Optional[Dict[str, Any]] = None, **kw: Any) -> "Session":
        """The session stored in ``state_dir``, ready to :meth:`run` (resume) or be stopped.

        ``settings`` replace fields of the stored config that may change between runs (the
        scheduler). Raises :class:`UserError` when ``state_dir`` holds no readable session. The
        CLI uses this to keep a handle for :meth:`request_stop` while a resumed session runs.
        """
        state = StateDir(Path(state_dir))
        data = state.read_session()
        try:
            config = config_from_json(data["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{state.session_file} is damaged: {exc}") from exc
        if Path(config.state_dir).resolve() != Path(state_dir).resolve():
            config = replace(config, state_dir=Path(state_dir))
        if settings:
            config = replace(config, **settings)
        return cls(config, reporter, resume=True, **kw)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop as soon as possible: running builds are killed, the best so far is written."""
        self.stop.request(reason)

    def run(self) -> SessionResult:
        """Run (or continue) the session and return how it ended.

        Bad input, a failure that does not reproduce, infrastructure errors, limits and
        :meth:`request_stop` all end in a :class:`SessionResult` with the documented exit code;
        nothing of these raises. A raw KeyboardInterrupt (Ctrl-C without a handler, or the
        CLI's second Ctrl-C) kills the running builds, writes the best result so far as partial
        (``self.result``) and is then re-raised.
        """
        self.stop.restart()
        wall0 = time.time()
        owned = interrupted = False
        status, code, message, hint = SessionStatus.PARTIAL, ExitCode.PARTIAL, "", ""
        try:
            self._claim()
            owned = True
            if self._asks_more():
                return self._answer_more(wall0)
            earlier = self._earlier_minimized()
            if earlier is not None:
                return earlier
            self.stop.arm()
            self._load()
            self._confirm()
            self._search_and_verify()
            assert self._searched is not None and self._loaded is not None
            status, code = SessionStatus.MINIMIZED, ExitCode.MINIMIZED
            message = f"minimized {len(self._loaded.changes)} changes to {len(self._searched.best)}"
        except Stopped as exc:
            status, code, message = SessionStatus.PARTIAL, ExitCode.PARTIAL, f"stopped: {exc.reason}"
        except KeyboardInterrupt:
            status, code = SessionStatus.PARTIAL, ExitCode.PARTIAL
            message, interrupted = "stopped: interrupted (Ctrl-C)", True
        except NotReproduced as exc:
            status, code, message, hint = SessionStatus.NOT_REPRODUCED, exc.exit_code, str(exc), exc.hint
        except UserError as exc:
            status, code, message, hint = SessionStatus.BAD_INPUT, exc.exit_code, str(exc), exc.hint
        except InfraError as exc:
            status, code, message = SessionStatus.INFRA_ERROR, ExitCode.INFRA, self._explain_infra(exc)
            hint = f"the journal is intact: fix the cause, then `ltobisect resume {self._state.path}`"
        except Exception as exc:
            # A bug of ours must not lose the search: keep the journal, write what we have.
            status, code = SessionStatus.INFRA_ERROR, ExitCode.INFRA
            message = f"internal error: {type(exc).__name__}: {exc}"
            hint = "please report it with error.txt from the state directory; `ltobisect resume` continues"
            if owned:
                self._save_traceback()
        finally:
            self._close()
        result = self.result = self._finish(status, code, message, hint, wall0, owned)
        self._emit(SessionFinished(status=result.status, exit_code=int(result.exit_code),
                                   report_path=str(result.artifacts.get("report", "")) or None,
                                   summary_path=str(result.artifacts.get("summary", "")) or None))
        if interrupted:
            # The builds are killed and the partial result is on disk (``self.result``); the
            # caller decides what a raw Ctrl-C means (the CLI: killed, exit 130).
            raise KeyboardInterrupt
        return result

    # -- the steps -----------------------------------------------------------------------------
    def _claim(self) -> None:
        cfg = self.config
        if cfg.workers < 1:
            raise UserError(f"workers must be at least 1, not {cfg.workers}")
        self._state.prepare()
        existing = self._state.claim(cfg)
        self._state.acquire(lock_work=not cfg.each_failure)  # --each-failure holds it itself
        if existing is None and self._resume:
            raise UserError(f"{self._state.path} holds no session to resume")
        doc = self._doc = existing or SessionDoc(identity=session_identity(cfg), created=time.time())
        doc.config = config_to_json(cfg)  # as given now: workers and limits may change between runs
        self._save()
        orphans = reap_orphans(self._work)
        if orphans:
            self._emit(Message("warning", f"stopped {plural(orphans, 'build')} left running by an earlier, "
                                          "killed run of this session"))
        self._journal = Journal(self._state.journal_file)
        if self._journal.damage:
            self._emit(Message("warning", self._journal.damage))
        elif self._journal.torn:
            self._emit(Message("warning", "the journal's last record was cut short (killed while "
                                          "writing); that test will run again"))

    def _asks_more(self) -> bool:
        """A minimized session asked for LLVM releases its result has not been built with
        (``resume --llvm-matrix``): only those builds run, the search is not done again."""
        res, doc = self._state.minimized(), self._doc
        if res is None or doc is None or not doc.confirmed or not self.config.llvm_matrix:
            return False
        built = {r.get("llvm") for r in (res.llvm_matrix or {}).get("releases") or []
                 if r.get("outcome") not in ("skipped", "error")}
        return bool(set(self.config.llvm_matrix) - built)

    def _answer_more(self, wall0: float) -> SessionResult:
        """The LLVM matrix of a minimized result (see :meth:`_asks_more`), written into it."""
        res = self._state.minimized()
        assert res is not None
        self.stop.arm()
        self._load()
        self._confirm()  # no build: the bad config and the baseline are in the journal
        best = frozenset(changes_from_json((res.best or {}).get("changes") or []))
        matrix = self._matrices().llvm(best)
        fin = Finisher(self.config, self._state, self._journal, self._doc, self._loaded,
                       self._problem, self._confirmed.signature if self._confirmed else None,
                       self.stop, self._emit)
        fin.record_run(SessionStatus.MINIMIZED, wall0, self.stop.elapsed())
        artifacts = fin.amend(llvm_matrix=matrix)
        self._state.release()
        self.stop.disarm()
        line = llvm_matrix.describe(matrix)
        return SessionResult(
            status=SessionStatus.MINIMIZED, exit_code=ExitCode.MINIMIZED,
            message=f"LLVM: {line}" if line else "no LLVM release was built",
            state_dir=self._state.path, fragment=tuple(c.line() for c in ordered(best)),
            best_size=len(best), total_changes=len(self._loaded.changes) if self._loaded else None,
            verified=res.verified, signature=self._confirmed.signature.describe()
            if self._confirmed else None, artifacts=artifacts, builds=self._problem.stats.tests
            if self._problem else 0)

    def _earlier_minimized(self) -> Optional[SessionResult]:
        """A session an earlier run minimized is not searched again (a resume, a rerun of the
        same hook or command): its result is said as it is, with no build and nothing written."""
        res, doc = self._state.minimized(), self._doc
        if res is None or doc is None or not doc.confirmed:
            return None
        try:
            best = changes_from_json((res.best or {}).get("changes") or [])
        except (KeyError, TypeError, ValueError):
            return None
        try:
            counts = json.loads(self._state.file("summary.json").read_text())["counts"]
            builds = int(counts.get("builds", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            builds = 0
        total = len(doc.changes or ())
        self._state.release()
        result = SessionResult(
            status=SessionStatus.MINIMIZED, exit_code=ExitCode.MINIMIZED,
            message=f"already minimized by an earlier run: {len(best)} of {total} changes; "
                    "nothing was built",
            state_dir=self._state.path,
            fragment=tuple(c.line() for c in ordered(best)), best_size=len(best),
            total_changes=total or None, verified=res.verified,
            signature=doc.signature.describe() if doc.signature else None,
            artifacts=self._state.artifacts(), builds=builds)
        self.result = result
        self._emit(Message("info", f"{result.message}; to search again (another tree or "
                                   "toolchain), start a new session in another directory"))
        self._emit(SessionFinished(status=result.status, exit_code=0,
                                   report_path=str(result.artifacts.get("report", "")) or None,
                                   summary_path=str(result.artifacts.get("summary", "")) or None))
        return result

    def _load(self) -> None:
        assert self._doc is not None
        cfg = self.config
        self._phase(Phase.LOADING, str(cfg.build.tree) if cfg.build else "")
        loaded = self._loaded = load(cfg, self._doc, self._tree_loader, self._state.path, self._work)
        self._save()
        if loaded.bad.ineffective:
            self._emit(Message("warning", f"{len(loaded.bad.ineffective)} of the bad config's values "
                                          "do not survive Kconfig resolution on this tree"))

    def _confirm(self) -> None:
        doc, journal, loaded = self._doc, self._journal, self._loaded
        assert doc is not None and journal is not None and loaded is not None
        cfg = self.config
        self._phase(Phase.CONFIRMING, f"{len(loaded.changes)} changes against {cfg.baseline}")
        step = Confirmation(cfg, doc, self._save, journal, self._start_executor, self._emit, self._work)
        confirmed, executor = step.run(loaded.bad)
        self._confirmed, sig = confirmed, confirmed.signature
        # With --each-failure the other failures' searches built with the same targets: their
        # logs answer ours.
        journal.follow(executor.oracle, rejudge=cfg.each_failure)
        if doc.fingerprint not in (None, journal.fingerprint):
            self._emit(Message("warning", "the tree, toolchain or make arguments changed since this "
                                          "session started: earlier results are not reused"))
        doc.fingerprint = journal.fingerprint
        self._save()
        if not journal.history(loaded.bad.digest):
            # The bad build's own log is what the signature was taken from (or was checked
            # against): record it as reproducing under the tested fingerprint, so it is never
            # built again.
            assert doc.bad_outcome is not None
            bad_out = doc.bad_outcome
            journal.append_record(JournalRecord(
                loaded.bad.digest, journal.fingerprint,
                replace(bad_out, verdict=Verdict.REPRODUCES, signature=bad_out.signature or sig),
                Label.DERIVED, len(loaded.changes), time.time()))
        self._problem = Problem(loaded.changes, loaded.resolve, executor, journal,
                                structure=loaded.structure, stop=self.stop, seed=cfg.seed,
                                reporter=self.reporter, on_best=self._on_best)
        if self._state.read_best() is None:
            # The best result so far is always on disk: at first, the bad config itself.
            self._on_best(frozenset(loaded.changes), loaded.bad)
        self._check_baseline(sig)

    def _check_baseline(self, sig: Signature) -> None:
        problem, doc, cfg = self._problem, self._doc, self.config
        assert problem is not None and doc is not None
        problem.label = Label.BASELINE
        base_out = problem.test_many([frozenset()])[0]
        doc.baseline_outcome = base_out
        self._save()
        if base_out.verdict is Verdict.REPRODUCES:
            raise UserError(
                f"the baseline {cfg.baseline} already fails the same way ({sig.describe()})",
                hint=(f"the regex also matches the baseline's log ({base_out.log_path}): make it match "
                      "only the failure, e.g. from 'error:' on" if sig.kind == SignatureKind.REGEX else
                      "choose a smaller baseline, such as tinyconfig or allnoconfig, or a config "
                      "that builds"),
            )
        if base_out.verdict is not Verdict.PASSES:
            self._emit(Message("warning", f"the baseline {cfg.baseline} does not build cleanly "
                                          f"({base_out.verdict}: {base_out.detail or '-'}); "
                                          "results near it may be judged by another failure"))

    def _search_and_verify(self) -> None:
        problem, loaded, journal, cfg = self._problem, self._loaded, self._journal, self.config
        assert problem is not None and loaded is not None and journal is not None
        guess = self._log_guess()
        strategy = self._strategy if self._strategy is not None else get_strategy(cfg.strategy)
        verifier = Verifier(problem, journal, loaded.changes, cfg.verify_repeats,
                            on_best=self._on_best, emit=self._emit, phase=self._phase)
        best, verification = verifier.minimize(strategy)
        if not cfg.verify_with_make:
            verification.olddefconfig = {"checked": False, "note": "not asked for"}
        elif not is_kernel_tree(loaded.tree_dir):
            verification.olddefconfig = {"checked": False, "note": "not a kernel tree"}
        else:
            assert cfg.build is not None
            self._phase(Phase.VERIFYING, "make olddefconfig")
            mk = check_with_make(loaded.tree, cfg.build, loaded.baseline_text, best,
                                 problem.resolve(best), self._work / "olddefconfig")
            if mk.get("checked") and not mk.get("equal"):
                self._emit(Message("warning", f"make olddefconfig resolves the result differently "
                                              f"({mk['differing']} symbols, e.g. {mk['diff'][0]})"))
            verification.olddefconfig = mk
        verification.judge(cfg.verify_repeats, len(best))
        if guess and guess.get("held") is False:  # the lead's outcome, for the report
            lines = {c.line() for c in best}
            guess.update(led=problem.led, kept=[ln for ln in guess["changes"] if ln in lines])
        after = self._matrices()
        self._searched = Searched(best, verification, after.lto(best), guess, after.llvm(best))

    def _log_guess(self) -> Optional[Dict[str, Any]]:
        """The search's first candidate, from what the failure's log points at
        (:func:`ltobisect.conductor.priors.first_guess`); None: no guess was made."""
        problem, loaded, cfg, doc = self._problem, self._loaded, self.config, self._doc
        assert problem is not None and loaded is not None and doc is not None
        sig = self._confirmed.signature if self._confirmed else None
        if not cfg.log_priors or sig is None or cfg.test_script is not None:
            return None
        paths = [p for p in (doc.bad_outcome.log_path if doc.bad_outcome else None,
                             cfg.failure_log) if p]
        text = next((Path(p).read_text(errors="replace") for p in paths if Path(p).is_file()), "")
        return priors.first_guess(problem, loaded.tree, loaded.tree_dir, loaded.changes, sig,
                                  text, self._emit)

    def _matrices(self) -> Matrices:
        assert self._problem is not None and self._doc is not None and self._journal is not None
        return Matrices(self.config, self._doc, self._problem, self._journal, self._executor,
                        self._confirmed, self._loaded, self.stop, self._phase, self._tree_loader,
                        self._work)

    def _finish(self, status: SessionStatus, code: ExitCode, message: str, hint: str,
                wall0: float, owned: bool) -> SessionResult:
        elapsed = self.stop.elapsed()
        fin = Finisher(self.config, self._state, self._journal, self._doc, self._loaded,
                       self._problem, self._confirmed.signature if self._confirmed else None,
                       self.stop, self._emit)
        artifacts = {}
        if owned:
            try:
                timeout = self._confirmed.timeout if self._confirmed else None
                if fin.earlier_result_stays(status):
                    # This run ended worse than an earlier one: its error is said on the
                    # terminal (and the JSON line) only; the earlier artifacts stay as they are.
                    fin.record_run(status, wall0, elapsed)
                    kept = f"the earlier result in {self._state.path} is unchanged"
                    hint = f"{hint}; {kept}" if hint else kept
                else:
                    artifacts = fin.write(status, code, message, hint, wall0, elapsed,
                                          self._searched, timeout)
            except (InfraError, OSError) as exc:
                text = exc.line() if isinstance(exc, InfraError) else str(exc)
                if status in (SessionStatus.MINIMIZED, SessionStatus.PARTIAL):
                    status, code = SessionStatus.INFRA_ERROR, ExitCode.INFRA
                message = f"{message}; and the artifacts could not be written: {text}"
            except KeyboardInterrupt:
                message = f"{message}; interrupted while writing the artifacts"
            finally:
                if status is SessionStatus.BAD_INPUT:
                    self._state.drop_empty_work()  # still ours: no other run builds there
                self._state.release()
        self.stop.disarm()
        verified = (status is SessionStatus.MINIMIZED and self._searched is not None
                    and self._searched.verification.verified)
        return fin.result(status, code, message, hint, artifacts, elapsed, verified)

    # -- helpers ---------------------------------------------------------------------------------
    def _start_executor(self, spec: OracleSpec) -> Executor:
        """The executor for the first oracle; later oracles go through ``judge_by``."""
        factory = self._executor_factory or self._default_executor()
        try:
            self._executor = factory(spec, self.stop)
        except OSError as exc:
            raise InfraError(f"cannot set up the test oracle: {exc}") from exc
        return self._executor

    def _default_executor(self) -> ExecutorFactory:
        """The local pool, or the Dask farm when the config names a scheduler."""
        cfg = self.config
        return pool_for(cfg.scheduler, cfg.workers, cfg.retry, self.reporter,
                        build_memory=cfg.build_memory, make=self._oracle_factory, access=cfg.farm)

    def _save(self) -> None:
        assert self._doc is not None
        self._state.write_doc(self._doc)

    def _save_traceback(self) -> None:
        try:
            write_atomic(self._state.file("error.txt"), traceback.format_exc())
        except InfraError:
            pass

    def _close(self) -> None:
        if self._executor is not None:
            try:
                self._executor.close()
            except Exception as exc:
                self._emit(Message("warning", f"could not stop the workers cleanly: {exc}"))

    def _on_best(self, cand: Candidate, resolved: Resolved) -> None:
        total = len(self._loaded.changes) if self._loaded is not None else len(cand)
        self._state.write_best(cand, resolved, total)

    def _explain_infra(self, exc: InfraError) -> str:
        b = self.config.build
        if b is not None and not Path(b.tree).is_dir():
            return f"the tree {b.tree} vanished during the run ({exc.line()})"
        return exc.line()

    def _phase(self, phase: Phase, detail: str = "") -> None:
        if self.stop.requested:
            raise Stopped(self.stop.reason)
        self._emit(PhaseStarted(phase=phase, detail=detail))

    def _emit(self, ev: Any) -> None:
        try:
            self.reporter.event(ev)
        except Exception:
            pass


def _early_result(state_dir: Path, exc: UserError, reporter: Reporter) -> SessionResult:
    res = SessionResult(status=SessionStatus.BAD_INPUT, exit_code=exc.exit_code, message=str(exc),
                        hint=exc.hint, state_dir=state_dir)
    try:
        reporter.event(SessionFinished(status=res.status, exit_code=int(res.exit_code)))
    except Exception:
        pass
    return res
