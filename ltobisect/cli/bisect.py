"""`ltobisect bisect STATE --good REV`: the first bad commit, from the command line.

The bisection itself is :mod:`ltobisect.conductor.first_bad`; here its inputs are checked (a minimized
session, a git checkout, revisions that exist, good older than bad), it runs under
:func:`ltobisect.cli.run.run_session` (Ctrl-C, SIGTERM and the budget stop it as they stop a
search: :class:`BisectRun`), what was asked is remembered (``bisect/asked.json``, so that the
same command without ``--good`` continues), and the outcome is written into result.json and the
artifacts. Exit 0: found (or the range the skipped commits leave); 3: stopped; 4: the bad revision
does not fail this way; 1: bad input.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ltobisect.conductor import first_bad

from ltobisect.artifacts import report
from ltobisect.cli.context import Context
from ltobisect.cli.run import run_session
from ltobisect.conductor.each_failure import Runnable
from ltobisect.events import Reporter
from ltobisect.store.dirlock import write_problem
from ltobisect.errors import ExitCode, Stopped, UserError
from ltobisect.conductor.finish import SessionResult
from ltobisect.history import Repo
from ltobisect.inputs import check_state_dir
from ltobisect.store.journal import write_json_atomic
from ltobisect.limits import StopCondition
from ltobisect.model import SessionStatus
from ltobisect.pools import pool_for
from ltobisect.artifacts.facts import bisect_lines
from ltobisect.config import FarmAccess, Limits
from ltobisect.farmcheck import check_farm, farm_access
from ltobisect.store.state import ResultDoc, StateDir

ASKED = "asked.json"


def cmd_bisect(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect bisect`."""
    state = check_state_dir(args.state_dir)
    ctx.state = state
    if write_problem(state) is not None:
        raise UserError(f"{state} is not writable", "bisect a writable copy of it")
    prepared = first_bad.prepare(state)  # UserError: nothing minimized
    if args.verify is not None:
        if args.verify < 0:
            raise UserError(f"--verify must be 0 or more, not {args.verify}", "for example --verify 1")
        prepared.config = replace(prepared.config, verify_repeats=args.verify)
    store = StateDir(state, prepared.config.work_dir)
    asked_file = store.work / "bisect" / ASKED
    asked = _read(asked_file)
    repo_path = args.repo or (Path(asked["repo"]) if asked.get("repo") else None) \
        or Path(prepared.config.build.tree)  # type: ignore[union-attr]
    if args.repo is not None and not Path(args.repo).is_dir():
        raise UserError(f"--repo {args.repo} does not exist", "give the kernel's git checkout")
    good_rev = args.good or asked.get("good")
    if good_rev is None:
        raise UserError("--good is needed the first time", "give a revision that builds, e.g. --good v6.1")
    bad_rev = args.bad or asked.get("bad") or "HEAD"
    reporter = ctx.reporter(args.json, 1)
    scheduler = args.scheduler or prepared.config.scheduler
    access = farm_access(args)
    if access == FarmAccess():
        access = prepared.config.farm
    check_farm(scheduler, access)
    prepared.config = replace(prepared.config, farm=access)

    def start(rep: Reporter, register: Callable[[Runnable], None]) -> SessionResult:
        run = BisectRun(state, prepared, repo_path, good_rev, bad_rev, scheduler, args.budget,
                        rep, asked_file)
        register(run)
        return run.run()

    return run_session(start, state, reporter, args.budget, again=f"ltobisect bisect {state}")


def _read(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class BisectRun:
    """``ltobisect bisect STATE`` as :func:`ltobisect.cli.run.run_session` runs a session."""

    def __init__(self, state: Path, prepared: first_bad.Prepared, repo: Path, good: str, bad: str,
                 scheduler: Optional[str], budget: Optional[float], reporter: Any,
                 asked_file: Path) -> None:
        self.state = Path(state)
        self.p = prepared
        self.repo_path, self.good, self.bad = repo, good, bad
        self.scheduler = scheduler
        self.reporter = reporter
        self.asked_file = asked_file
        self.stop = StopCondition(Limits(deadline=budget))
        self.result: Optional[SessionResult] = None

    def request_stop(self, reason: str = "stop requested") -> None:
        self.stop.request(reason)

    def _emit(self, ev: object) -> None:
        try:
            self.reporter.event(ev)
        except Exception:
            pass

    def run(self) -> SessionResult:
        store = StateDir(self.state, self.p.config.work_dir)
        started = time.monotonic()
        repo = Repo(self.repo_path, self.stop.event)
        good = repo.resolve(self.good, "--good")
        bad = repo.resolve(self.bad, "--bad")
        factory = pool_for(self.scheduler, 1, self.p.config.retry, self.reporter,
                           build_memory=self.p.config.build_memory, access=self.p.config.farm)
        executors: List[Any] = []

        def start_executor(spec: Any) -> Any:
            executors.append(factory(spec, self.stop))
            return executors[-1]

        outcome: Optional[Dict[str, Any]] = None
        store.acquire()
        try:  # from here on the lock is released, whatever happens
            self.stop.arm()
            bis = first_bad.Bisection(self.p, repo, good, bad, start_executor, self._emit,
                                      self.stop, store.work)
            write_json_atomic(self.asked_file, {"repo": str(self.repo_path.resolve()),
                                                "good": self.good, "bad": self.bad})
            try:
                outcome = bis.run()
                status, code, hint = SessionStatus.MINIMIZED, ExitCode.MINIMIZED, ""
            except Stopped as exc:
                outcome = {"good": good, "bad": bad, "stopped": str(exc) or self.stop.reason,
                           "left": bis.left, "builds": len(bis.steps.records)}
                status, code = SessionStatus.PARTIAL, ExitCode.PARTIAL
                hint = f"ltobisect bisect {self.state} continues it"
        finally:
            for executor in executors:
                executor.close()
            self.stop.disarm()
            self._write(store, outcome)
            store.release()
        lines = bisect_lines(outcome)
        message = lines[0] if lines else "bisected"
        self.result = SessionResult(
            status=status, exit_code=code, message=message, state_dir=self.state, hint=hint,
            fragment=tuple(c.line() for c in sorted(self.p.best, key=lambda c: c.name)),
            best_size=len(self.p.best), verified=bool(self.p.result.verified),
            signature=self.p.sig.describe(), artifacts=store.artifacts(),
            elapsed=time.monotonic() - started)
        return self.result

    def _write(self, store: StateDir, outcome: Optional[Dict[str, Any]]) -> None:
        """The outcome into result.json (``bisect``) and the artifacts written again. A run
        that ended with nothing (bad input) leaves an earlier finished bisection as it was."""
        if outcome is None:
            return
        raw = store.read_result() or {}
        doc = ResultDoc.from_json(raw)
        earlier = doc.bisect or {}
        if outcome.get("stopped") and earlier.get("first_bad") and not earlier.get("stopped") \
                and earlier.get("good") == outcome.get("good") and earlier.get("bad") == outcome.get("bad"):
            return  # a finished answer is never replaced by a stopped rerun of the same question
        doc.bisect = outcome
        store.write_result(doc)
        report.write_artifacts(self.state)
