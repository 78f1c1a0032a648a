"""Running a session from the command line: under the reporter, Ctrl-C and the budget
(:mod:`.signals`); then show its outcome, copy summary.json where asked, and return the exit code.
A command hands over a *starter* (:func:`starter`, :func:`resume_starter`), which opens the session
and runs it."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ltobisect.conductor import each_failure
from ltobisect.cli.context import fail, note
from ltobisect.cli.signals import Interrupts
from ltobisect.config import SessionConfig
from ltobisect.errors import ExitCode, InfraError
from ltobisect.conductor.each_failure import Runnable
from ltobisect.conductor.session import SessionResult
from ltobisect.events import Message, Reporter, summary_document
from ltobisect.ui.live import read_text

#: ``start(reporter, register)``: runs a session and returns its SessionResult, calling
#: ``register(session)`` first (see :func:`run_session`).
Starter = Callable[[Reporter, Callable[[Runnable], None]], SessionResult]


class _Running:
    """The session a starter registered, for Ctrl-C and the budget to stop (none yet: a
    signal before it exists has nothing to stop)."""

    def __init__(self) -> None:
        self.session: Optional[Runnable] = None

    def register(self, session: Runnable) -> None:
        self.session = session

    def stop(self, reason: str) -> None:
        if self.session is not None:
            self.session.request_stop(reason)

    @property
    def result(self) -> Optional[SessionResult]:
        return self.session.result if self.session is not None else None


def run_session(start: Starter, state: Path, reporter: Any, budget: Optional[float],
                summary_json: Optional[Path] = None, again: str = "") -> int:
    """Run a session under the reporter, Ctrl-C and the budget; show and return its outcome.

    ``start(reporter, register)`` runs the session and returns its SessionResult; it calls
    ``register(session)`` first, so that Ctrl-C and the budget can ask that session to stop.
    ``again`` is the command that continues it (default: ``ltobisect resume STATE``).
    """
    again = again or f"ltobisect resume {state}"
    running = _Running()

    def first_press() -> None:
        if hasattr(reporter, "stopping"):
            reporter.stopping()
        reporter.event(Message("warning", "stopping: killing the running builds and saving the "
                                          "best result so far; press Ctrl-C again to kill"))

    def last_words(status: str, code: int, message: str) -> None:
        # The process exits from a signal handler or a timer: the summary line straight to the
        # file descriptor, as the reporter's lock may be held by the thread it interrupted.
        if getattr(reporter, "finished", True) is False:
            doc = summary_document(status, code, message=message, state_dir=str(state))
            try:
                sys.stdout.flush()  # the event lines before it
            except (RuntimeError, OSError, ValueError):
                pass
            os.write(1, (json.dumps(doc, sort_keys=True, default=str) + "\n").encode())

    interrupts = Interrupts(running.stop, first_press, str(state), last_words)
    with reporter:
        with interrupts:
            if budget is not None:
                interrupts.watchdog(budget)
            try:
                result: Optional[SessionResult] = start(reporter, running.register)
            except KeyboardInterrupt:
                # The session killed its builds, wrote the partial result (``session.result``)
                # and re-raised: a second Ctrl-C, or the budget's hard stop.
                result = running.result
    if interrupts.killed:
        message = "killed by a second Ctrl-C; the journal is intact"
        reporter.finish("killed", ExitCode.INTERRUPTED, message=message,
                        hint=again, state_dir=str(state))
        fail(f"{message}: `{again}`")
        return ExitCode.INTERRUPTED
    if result is None:
        reporter.finish("partial", ExitCode.PARTIAL, message="stopped at the budget",
                        hint=again, state_dir=str(state))
        _partial("stopped at the budget", again)
        return ExitCode.PARTIAL
    code = int(result.exit_code)
    if interrupts.hard:
        code = ExitCode.PARTIAL  # the budget ran out: what was written is the best so far
    report = result.artifacts.get("report")
    summary_data = _summary_data(result)
    if summary_json is not None:
        try:
            document = summary_document(result.status, code, summary_data)  # as the JSON line
            summary_json.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
        except OSError as exc:
            raise InfraError(f"cannot write --summary-json {summary_json}: {exc.strerror or exc}")
    reporter.finish(result.status, code, read_text(report), summary_data)
    if code in (ExitCode.BAD_INPUT, ExitCode.INFRA, ExitCode.NOT_REPRODUCED):
        fail(result.line())
    elif code == ExitCode.PARTIAL:
        _partial(result.line(), again)
    if code in (ExitCode.MINIMIZED, ExitCode.PARTIAL):  # an error stays one line
        _where(result)
    return code


def _partial(why: str, again: str) -> None:
    """A stop's line, then the command that continues it on a line of its own: a long state
    path must not break in the middle on an 80-column terminal (the paths of the report and
    the fragment follow, one a line)."""
    note(f"partial: {why}; continue with")
    sys.stderr.write(f"    {again}\n")
    sys.stderr.flush()


def _where(result: Any) -> None:
    """The paths a user opens next: the report and the fragment, when they were written."""
    # One path a line: a long one wraps on an 80-column terminal, and is still selectable whole.
    for key, name in (("report", "report"), ("fragment", "fragment")):
        if key in result.artifacts:
            note(f"{name} {result.artifacts[key]}")


def _summary_data(result: Any) -> Any:
    """summary.json as the session wrote it; the result's own JSON when it is missing or bad."""
    summary = result.artifacts.get("summary")
    summary_data = None
    if summary is not None:
        try:
            summary_data = json.loads(Path(summary).read_text())
        except (OSError, ValueError):
            summary_data = None
    if summary_data is None:
        summary_data = result.to_json()
    return summary_data


def starter(config: SessionConfig) -> Starter:
    """A starter for :func:`run_session` that runs a new session (or continues the same one)."""

    def start(reporter: Reporter, register: Callable[[Runnable], None]) -> SessionResult:
        session = each_failure.start(config, reporter)
        register(session)
        return session.run()

    return start


def resume_starter(state: Path, settings: Optional[Dict[str, Any]] = None) -> Starter:
    """A starter that continues the session stored in ``state`` (``settings``: see
    :func:`ltobisect.conductor.each_failure.stored`)."""

    def start(reporter: Reporter, register: Callable[[Runnable], None]) -> SessionResult:
        session = each_failure.stored(state, reporter, settings)
        register(session)
        return session.run()

    return start
