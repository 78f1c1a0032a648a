"""`ltobisect reduce` and `--reduce`: the reproducer beyond the config, from the command line.

The reduction itself is :mod:`ltobisect.reducer`; here it is checked (its programs, before any
build), run under :func:`ltobisect.cli.run.run_session` (Ctrl-C, SIGTERM and the budget stop it
as they stop a search: :class:`ReduceRun`), chained after a search (:func:`with_reduction`), and
its outcome mapped to an exit code: 0 reduced and rerun alone, 3 stopped with the best so far
attached, 4 no reduced reproducer could be made.
"""
from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ltobisect.artifacts import report
from ltobisect.cli.context import Context
from ltobisect.cli.run import Starter, run_session
from ltobisect.conductor.each_failure import Runnable
from ltobisect.config import SessionConfig
from ltobisect.store.dirlock import write_problem
from ltobisect.errors import ExitCode, UserError
from ltobisect.events import Message, PhaseStarted, Reporter
from ltobisect.conductor.finish import SessionResult
from ltobisect.inputs import check_state_dir
from ltobisect.model import Phase, SessionStatus
from ltobisect.reducer import run as reducer
from ltobisect.reducer.common import require
from ltobisect.artifacts.facts import reduced_line
from ltobisect.store.state import StateDir


def cmd_reduce(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect reduce`: the reproducer beyond the config, from a minimized session."""
    state = check_state_dir(args.state_dir)
    ctx.state = state
    if write_problem(state) is not None:
        raise UserError(f"{state} is not writable", "reduce a writable copy of it")
    prepared = reducer.prepare(state)  # UserError: nothing to reduce
    require(reducer.tools_for(prepared.kind, prepared.config), "the reduction")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, not {args.workers}", "for example --workers 2")
    budget = args.reduce_budget if args.reduce_budget is not None else reducer.DEFAULT_BUDGET
    opts = reducer.ReduceOptions(budget=budget,
                                 workers=args.workers or prepared.config.workers or 1)
    reporter = ctx.reporter(args.json, opts.workers)

    def start(rep: Reporter, register: Callable[[Runnable], None]) -> SessionResult:
        run = ReduceRun(state, opts, rep, report.write_artifacts)
        register(run)
        return run.run()

    return run_session(start, state, reporter, None, again=f"ltobisect reduce {state}")


def with_reduction(start: Starter, args: argparse.Namespace, config: SessionConfig,
                   session_budget: Optional[float]) -> Starter:
    """``--reduce``: after a minimized session, its reduction, within what is left of the
    session's budget (and --reduce-budget). The session's exit code stays its own; the
    reduction's outcome is in its report and summary."""
    if not getattr(args, "reduce", False):
        return start
    began = time.monotonic()

    def chained(reporter: Reporter, register: Callable[[Runnable], None]) -> SessionResult:
        result = start(reporter, register)
        if getattr(result, "status", None) is not SessionStatus.MINIMIZED:
            return result
        budget = args.reduce_budget if args.reduce_budget is not None else reducer.DEFAULT_BUDGET
        if session_budget is not None:
            budget = min(budget, session_budget - (time.monotonic() - began) - 5)
        if budget < 30:
            reporter.event(Message("warning", "no time left in the budget to reduce the reproducer"))
            return result
        state = result.state_dir
        try:
            run = ReduceRun(state, reducer.ReduceOptions(budget, config.workers or 1), reporter,
                            report.write_artifacts)
            register(run)
            run.run()
        except UserError as exc:
            reporter.event(Message("warning", f"no reduced reproducer: {exc}"))
        return result

    return chained


def check_reduce_tools(args: argparse.Namespace, config: SessionConfig) -> None:
    """With --reduce, every program either reduction may run, before the first build."""
    if not getattr(args, "reduce", False):
        return
    major = reducer.llvm_major(config)
    tools = ["cvise"] + (reducer.tools_for("link", config) if major else [])
    require(tools, "--reduce")



class ReduceRun:
    """``ltobisect reduce STATE`` as :func:`ltobisect.cli.run.run_session` runs a session:
    ``request_stop`` (Ctrl-C, SIGTERM, the budget) and ``run`` (the SessionResult)."""

    def __init__(self, state: Path, opts: reducer.ReduceOptions, reporter: Any,
                 render: Callable[[Path], Any]) -> None:
        self.state = Path(state)
        self.opts = opts
        self.reporter = reporter
        self.render = render
        self.stop = threading.Event()
        self.result: Optional[SessionResult] = None

    def request_stop(self, reason: str = "") -> None:
        self.stop.set()

    def run(self) -> SessionResult:
        prepared = reducer.prepare(self.state)
        store = StateDir(self.state, prepared.config.work_dir)
        store.acquire()
        started = time.monotonic()
        try:
            self.reporter.event(PhaseStarted(phase=Phase.REDUCING, detail=str(self.state)))
            outcome = reducer.reduce_state(self.state, prepared.config, prepared.sig, prepared.result,
                                   self.opts, self.reporter.event, self.stop, self.render)
        finally:
            store.release()
        artifacts = store.artifacts()
        best = prepared.result.best or {}
        line = reduced_line(outcome)
        if outcome.get("complete") and outcome.get("reruns"):
            status, code = SessionStatus.MINIMIZED, ExitCode.MINIMIZED
        elif self.stop.is_set() or (outcome.get("reruns") and not outcome.get("complete")):
            status, code = SessionStatus.PARTIAL, ExitCode.PARTIAL
        else:
            status, code = SessionStatus.NOT_REPRODUCED, ExitCode.NOT_REPRODUCED
        hint = f"ltobisect reduce {self.state} continues it" if code == ExitCode.PARTIAL else ""
        self.result = SessionResult(
            status=status, exit_code=code, message=line, state_dir=self.state, hint=hint,
            fragment=_fragment(artifacts.get("fragment")),
            best_size=best.get("size"), verified=bool(prepared.result.verified),
            signature=prepared.sig.describe(), artifacts=artifacts,
            elapsed=time.monotonic() - started)
        return self.result


def _fragment(path: Optional[Path]) -> tuple:
    try:
        text = Path(path).read_text() if path is not None else ""
    except OSError:
        return ()
    return tuple(ln for ln in text.splitlines() if ln.startswith(("CONFIG_", "# CONFIG_")))
