"""``--each-failure``: minimize every distinct failure of the bad config in one session.

A randconfig that breaks in three places is three reports to three maintainers. The searches
run one after another, each a :class:`~ltobisect.conductor.session.Session` of its own in
``STATE/failures/<N>/`` (N as ``ltobisect failures LOG`` numbers the failures), with its own
verified fragment, report and ``reproduce.sh``. What they share lives in ``STATE`` itself: the
workers' O= directories (warm for every search), the ccache, the logs and one journal.

Every build makes the targets of all the failures at once (the union of their directories, or
make's default goal when one needs it), so its log answers every search: a search never builds
a config an earlier one built; the journal judges that build's log under its own signature
(:attr:`ltobisect.store.journal.Journal.rejudge`). ``STATE/summary.json`` and ``STATE/report.txt``
list the failures and where each one's artifacts are.

Ctrl-C stops the running search (its best so far is written) and the ones after it are not
started; ``ltobisect resume STATE`` continues where it stopped, rebuilding nothing.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol

from ltobisect.store import journal as jr
from ltobisect.conductor import session as session_mod
from ltobisect.store import state as st
from ltobisect.config import SessionConfig, config_from_json, config_to_json
from ltobisect.errors import ExitCode, InfraError, UserError
from ltobisect.events import SCHEMA, Message, NullReporter, Reporter
from ltobisect.model import Label, SessionStatus
from ltobisect.conductor.session import SessionResult
from ltobisect.limits import StopCondition
from ltobisect.textfit import plural

#: What the parent state directory records: the user's config (to resume) and progress.
EACH_FILE = st.EACH_FILE
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.txt"
#: How bad an ending is, to pick the whole session's status from the searches' ones.
_SEVERITY = {SessionStatus.MINIMIZED: 0, SessionStatus.NOT_REPRODUCED: 1, SessionStatus.PARTIAL: 2,
             SessionStatus.BAD_INPUT: 3, SessionStatus.INFRA_ERROR: 4}


def is_each_failure(state_dir: Path) -> bool:
    """Whether ``state_dir`` holds an ``--each-failure`` session (resume runs it again)."""
    return (Path(state_dir) / EACH_FILE).is_file()


class Runnable(Protocol):
    """What the command line runs: a Session, or an EachFailure with the same interface.
    ``result`` is set once it ended, also when Ctrl-C or the budget's hard stop re-raised."""

    result: Optional[SessionResult]

    def run(self) -> SessionResult: ...

    def request_stop(self, reason: str = "stop requested") -> None: ...


def start(config: SessionConfig, reporter: Reporter = NullReporter()) -> Runnable:
    """The session to run for ``config``: one search, or one per failure (``--each-failure``)."""
    # Looked up on the module each time: the session class is the seam tests replace.
    return EachFailure(config, reporter) if config.each_failure else session_mod.Session(config, reporter)


def stored(state_dir: Path, reporter: Reporter = NullReporter(),
           settings: Optional[Dict[str, Any]] = None) -> Runnable:
    """The session stored in ``state_dir``, ready to resume (UserError when it is damaged);
    ``settings`` replace fields of its config that may change between runs."""
    if is_each_failure(state_dir):
        return EachFailure.from_state(state_dir, reporter, settings)
    return session_mod.Session.from_state(state_dir, reporter, settings)


class EachFailure:
    """Run (or resume) one search per distinct failure; the same interface as a Session."""

    def __init__(self, config: SessionConfig, reporter: Reporter = NullReporter(), **session_kw: Any) -> None:
        self.config = replace(config, each_failure=True, failure=None)
        self.reporter = reporter
        self.result: Optional[SessionResult] = None
        self._state = st.StateDir(config.state_dir, config.work_dir)
        #: The searches' shared journal, worker directories and logs.
        self._work = self._state.work
        self._session_kw = session_kw
        self._current: Optional[session_mod.Session] = None
        #: The whole session's budget, build limit and stop request: the searches share them.
        self.stop = StopCondition(self.config.limits)
        self._builds0 = 0
        self._lock = threading.Lock()

    @classmethod
    def from_state(cls, state_dir: Path, reporter: Reporter = NullReporter(),
                   settings: Optional[Dict[str, Any]] = None, **kw: Any) -> "EachFailure":
        path = Path(state_dir) / EACH_FILE
        try:
            data = json.loads(path.read_text())
            config = config_from_json(data["config"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path} is damaged: {exc}", hint="start a new session with another --state")
        return cls(replace(config, state_dir=Path(state_dir), **(settings or {})), reporter, **kw)

    def request_stop(self, reason: str = "stop requested") -> None:
        with self._lock:
            self.stop.request(reason)
            current = self._current
        if current is not None:
            current.request_stop(reason)

    # -- running -----------------------------------------------------------------------------
    def child_config(self, number: int, builds: int = 0) -> SessionConfig:
        """The search of failure ``number``; the budget and build limit are the whole session's,
        so a search gets what the ones before it left (:meth:`StopCondition.left`)."""
        return replace(self.config, state_dir=self._state.path / "failures" / str(number),
                       work_dir=self._work, failure=number, limits=self.stop.left(builds))

    def run(self) -> SessionResult:
        t0 = time.monotonic()
        self.stop.restart()  # each run of a resumed session has its own budget
        try:
            self._state.prepare()
            self._state.acquire()
        except (UserError, InfraError) as exc:
            status = SessionStatus.BAD_INPUT if isinstance(exc, UserError) else SessionStatus.INFRA_ERROR
            return self._end(SessionResult(status=status,
                                           exit_code=exc.exit_code, message=str(exc), hint=exc.hint or "",
                                           state_dir=self._state.path), [], t0)
        try:
            self._claim()
        except UserError as exc:
            self._state.release()
            return self._end(SessionResult(status=SessionStatus.BAD_INPUT, exit_code=exc.exit_code, message=str(exc),
                                           hint=exc.hint or "", state_dir=self._state.path), [], t0)
        try:
            self._builds0 = self._builds()  # limits count the builds of this run, as a Session's do
            jr.write_json_atomic(self._state.file(EACH_FILE),
                                 {"config": config_to_json(self.config), "format": 1,
                                  "identity": st.session_identity(self.config)})
            results: List[SessionResult] = []
            total: Optional[int] = None
            number = 1
            while total is None or number <= total:
                builds = self._builds() - self._builds0
                with self._lock:
                    spent = self.stop.spent(builds)
                    if spent:
                        self.stop.request(spent)
                        break
                    cfg = self.child_config(number, builds)
                    resume = (Path(cfg.state_dir) / st.SESSION_FILE).is_file()
                    session = self._current = session_mod.Session(cfg, self.reporter, resume=resume,
                                                                   **self._session_kw)
                if total is not None:
                    self._emit(Message("info", f"failure {number} of {total}"))
                try:
                    res = session.run()
                finally:
                    with self._lock:
                        self._current = None
                results.append(res)
                if total is None:
                    total = len(_read_session(Path(cfg.state_dir)).get("log_failures") or [])
                    if total == 0:
                        break  # the first search ended before the log was read: its result is ours
                    if total > 1:
                        self._emit(Message("info", f"the bad config fails in {total} distinct ways; "
                                                   "minimizing each, one after another"))
                if res.status == SessionStatus.PARTIAL:
                    break
                number += 1
            return self._end(self._overall(results, total), results, t0)
        finally:
            self._state.release()

    def _claim(self) -> None:
        """This directory is new, empty, or holds this same --each-failure session."""
        mine = self._state.file(EACH_FILE)
        if mine.is_file():
            try:
                theirs = json.loads(mine.read_text()).get("identity")
            except (OSError, ValueError) as exc:
                raise UserError(f"{mine} is damaged: {exc}", hint="choose another --state")
            if theirs != json.loads(json.dumps(st.session_identity(self.config))):
                raise UserError(f"the state directory {self._state.path} belongs to another session",
                                hint=f"run `ltobisect resume {self._state.path}`, or choose another --state")
            return
        stray = [p.name for p in self._state.path.iterdir() if not p.name.startswith(".")]
        if stray:
            raise UserError(f"the state directory {self._state.path} is not empty and holds no session "
                            f"({', '.join(sorted(stray)[:3])}...)", hint="choose a new or empty --state directory")

    def _overall(self, results: List[SessionResult], total: Optional[int]) -> SessionResult:
        if not results:
            return SessionResult(status=SessionStatus.PARTIAL, exit_code=ExitCode.PARTIAL,
                                 message=f"stopped: {self.stop.reason}", state_dir=self._state.path)
        if not total:
            first = results[0]
            return replace(first, state_dir=self._state.path, artifacts={})
        worst = max(results, key=lambda r: _SEVERITY.get(r.status, 4))
        done = sum(1 for r in results if r.status == SessionStatus.MINIMIZED)
        status, code = worst.status, worst.exit_code
        if len(results) < total and status == SessionStatus.MINIMIZED:
            status, code = SessionStatus.PARTIAL, ExitCode.PARTIAL
        message = f"minimized {done} of {total} distinct failures"
        if status != SessionStatus.MINIMIZED:
            message += f"; failure {results.index(worst) + 1}: {worst.message}"
        return SessionResult(status=status, exit_code=code, message=message, hint=worst.hint,
                             state_dir=self._state.path, builds=self._builds(),
                             cache_hits=sum(r.cache_hits for r in results))

    def _builds(self) -> int:
        """Builds run for all the searches (the shared bad config's build counted once)."""
        try:
            records = jr.Journal(self._state.journal_file).records()
        except InfraError:
            return 0
        return sum(1 for r in records if r.label not in Label.not_builds())

    def _end(self, result: SessionResult, results: List[SessionResult], t0: float) -> SessionResult:
        result.elapsed = time.monotonic() - t0
        if results:
            try:
                result.artifacts = self._write(result, results)
            except InfraError as exc:
                result.message += f"; and the summary could not be written: {exc.line()}"
        self.result = result
        return result

    def _write(self, overall: SessionResult, results: List[SessionResult]) -> Dict[str, Path]:
        entries = []
        for number, res in enumerate(results, 1):
            data = _read_session(self._state.path / "failures" / str(number))
            listed = data.get("log_failures") or []
            line = listed[number - 1].get("line", "") if len(listed) >= number else ""
            entries.append({
                "number": number,
                "line": line,
                "signature": res.signature,
                "status": res.status,
                "exit_code": int(res.exit_code),
                "message": res.message,
                "fragment": list(res.fragment),
                "verified": res.verified,
                "builds": res.builds,
                "state_dir": str(res.state_dir),
                "artifacts": {k: str(v) for k, v in res.artifacts.items()},
            })
        listed = _read_session(self._state.path / "failures" / "1").get("log_failures") or []
        summary = dict(overall.to_json(), schema=SCHEMA, each_failure=True, failures=entries,
                       total=len(listed), not_searched=[f for f in listed[len(entries):]])
        summary_path = self._state.file(SUMMARY_FILE)
        jr.write_json_atomic(summary_path, summary)
        report_path = self._state.file(REPORT_FILE)
        jr.write_atomic(report_path, render(overall, entries, listed))
        return {"summary": summary_path, "report": report_path}

    def _emit(self, ev: Any) -> None:
        try:
            self.reporter.event(ev)
        except Exception:
            pass


def _read_session(state: Path) -> Dict[str, Any]:
    """A search's session.json; empty when it has none yet (it ended before writing one)."""
    try:
        return st.StateDir(state).read_session()
    except UserError:
        return {}


def render(overall: SessionResult, entries: List[Dict[str, Any]], listed: List[Dict[str, Any]]) -> str:
    """The index report: one block per failure, pointing at its own report."""
    total = len(listed) or len(entries)
    lines = [f"ltobisect: {total} distinct failure{'s' if total != 1 else ''} of one config, "
             "each minimized on its own", ""]
    for e in entries:
        lines.append(f"[{e['number']}] {e['line'] or e['signature']}")
        if e["status"] == SessionStatus.MINIMIZED:
            lines.append(f"    minimized to {plural(len(e['fragment']), 'line')}:")
            lines += [f"      {ln}" for ln in e["fragment"]]
        else:
            lines.append(f"    {e['status']}: {e['message']}")
        report = e["artifacts"].get("report")
        if report:
            lines.append(f"    report: failures/{e['number']}/{Path(report).name}, "
                         f"fragment: failures/{e['number']}/fragment.config")
        lines.append("")
    for f in listed[len(entries):]:
        lines.append(f"[{f.get('number')}] {f.get('line') or f.get('signature')}")
        lines.append("    not searched (the session stopped before it)")
        lines.append("")
    lines.append(f"{overall.message}; {overall.builds} builds in all")
    return "\n".join(lines) + "\n"
