"""Events the core emits and reporters observe.

The core (session, problem, executor) calls ``reporter.event(ev)`` with these frozen values and
never imports a UI library; ``ui.py`` turns them into a live view, log lines or JSON lines.
Outcomes are the enums of :mod:`ltobisect.model` (string enums: a JSON line spells them as users
read them, and they compare equal to those spellings).

With ``--json`` every event is one JSON line and the last line is the summary
(:func:`summary_document`), whatever ended the run; both carry ``"schema": SCHEMA``. The README's
"JSON output (schema 1)" documents every field.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple

from ltobisect.model import Phase, SessionStatus, Verdict

#: The version of the JSON that ``--json`` prints; every line carries it as ``"schema"``. Within
#: one schema, fields are added and never renamed, removed or given another meaning; anything
#: else takes a new number.
SCHEMA = 1


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=_now, kw_only=True)

    @property
    def name(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict:
        data = asdict(self)
        data["event"] = self.name
        data["schema"] = SCHEMA
        return data


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase: Phase
    detail: str = ""


@dataclass(frozen=True)
class StrategyStarted(Event):
    strategy: str
    size: int  # changes in the current best when it starts
    total: int  # changes in the bad config


@dataclass(frozen=True)
class TestStarted(Event):
    __test__ = False  # not a pytest test class
    slot: int  # worker index
    digest: str
    size: int  # changes in the candidate
    label: str = ""  # why this test: a Label ("bad config", "baseline") or a strategy's name
    ahead: bool = False  # started ahead: no one asked for it yet (ltobisect.speculate)


@dataclass(frozen=True)
class TestDropped(Event):
    """A build started ahead was killed: no result needs it any more. Its slot is free."""

    __test__ = False
    slot: int
    digest: str
    size: int


@dataclass(frozen=True)
class TestFinished(Event):
    __test__ = False
    slot: int
    digest: str
    size: int
    verdict: Verdict
    duration: float
    cached: bool = False
    signature: str = ""  # Signature.describe() of the failure seen, if any
    peak_rss: Optional[int] = None
    log_path: Optional[str] = None
    attempt: int = 1


@dataclass(frozen=True)
class CacheHit(Event):
    digest: str
    size: int
    verdict: Verdict


@dataclass(frozen=True)
class BestImproved(Event):
    size: int
    total: int
    changes: Tuple[str, ...] = ()  # the new best's fragment lines, all of them


@dataclass(frozen=True)
class Message(Event):
    level: str  # info, warning, error
    text: str


@dataclass(frozen=True)
class ReduceProgress(Event):
    """A reduction's progress: what it shrinks now (``step``: cvise, inputs, module) and how
    big it is (``size`` of ``start`` ``unit``: bytes or inputs), after ``tests`` tests."""

    step: str
    size: int
    unit: str
    start: int
    tests: int = 0


@dataclass(frozen=True)
class SessionFinished(Event):
    status: SessionStatus
    exit_code: int
    report_path: Optional[str] = None
    summary_path: Optional[str] = None


# -- the summary: the last JSON line of every run ------------------------------------------------
#: The status of a run that a second Ctrl-C (or a signal before the session started) ended: exit
#: 130, nothing more was written. The other statuses are :class:`~ltobisect.model.SessionStatus`.
KILLED = "killed"

#: Every field of the summary and its value when the exit path does not know it. Nested objects
#: (``counts``, ``durations``) always have all their keys. A session that wrote summary.json gives
#: the values; an error before that gives status, exit code, message and hint.
SUMMARY_FIELDS: Dict[str, Any] = {
    "event": "Summary",
    "schema": SCHEMA,
    "at": None,
    "status": None,
    "exit_code": None,
    "message": "",
    "hint": "",
    "state_dir": None,
    "partial": False,
    "verified": False,
    "signature": None,
    "failure_line": "",
    "failure_number": None,
    "log_failures": None,
    "fragment": None,
    "best_size": None,
    "total_changes": None,
    "best_digest": None,
    "counts": {"builds": None, "cache_hits": None, "verdicts": None, "flaky": None, "runs": None},
    "flaky": [],
    "conf_disagreements": None,
    "conf_disagreement_symbols": [],
    "best_conf_disagreement": None,
    "durations": {"wall": None, "build": None, "bad_build": None, "timeout": None},
    "verification": None,
    "tree": None,
    "kernelversion": None,
    "git_describe": None,
    "toolchain": None,
    "arch": None,
    "llvm": None,
    "make_vars": [],
    "target": None,
    "baseline": None,
    "bad_config": None,
    "excerpt": None,
    "log": None,
    "lto_matrix": None,
    "llvm_matrix": None,
    "log_priors": None,
    "attachments": [],
    "ld_reproduce": None,
    "reduced": None,
    "bisect": None,
    "paths": {},
    "each_failure": False,
    "failures": None,
    "not_searched": None,
}

#: Names a SessionResult (and --each-failure's summary.json) uses for what the summary calls
#: otherwise: they are moved to the summary's field, never printed under two names.
_RESULT_NAMES = ("artifacts", "builds", "cache_hits", "elapsed", "total")


def summary_document(status: str, exit_code: int, data: Optional[Mapping[str, Any]] = None, *,
                     message: Optional[str] = None, hint: Optional[str] = None,
                     state_dir: Optional[str] = None, at: Optional[float] = None) -> Dict[str, Any]:
    """The summary line of schema :data:`SCHEMA`: every field of :data:`SUMMARY_FIELDS`.

    ``data`` is what the session wrote (summary.json), or a SessionResult's JSON when it wrote
    none; ``status`` and ``exit_code`` are the run's (the process exits with ``exit_code``) and
    win over ``data``'s, as ``message``, ``hint`` and ``state_dir`` do when given.
    """
    given = dict(data or {})
    doc = copy.deepcopy(SUMMARY_FIELDS)
    for name, value in given.items():
        if name in _RESULT_NAMES or name in ("event", "schema"):
            continue
        if name in ("counts", "durations") and isinstance(value, Mapping):
            doc[name].update(value)
        else:
            doc[name] = value
    # A SessionResult's names (a session that ended before writing summary.json).
    counts, durations = doc["counts"], doc["durations"]
    for name in ("builds", "cache_hits"):
        if counts[name] is None and isinstance(given.get(name), int):
            counts[name] = given[name]
    if durations["wall"] is None and isinstance(given.get("elapsed"), (int, float)):
        durations["wall"] = given["elapsed"]
    if doc["log_failures"] is None and isinstance(given.get("total"), int):
        doc["log_failures"] = given["total"]
    if not doc["paths"] and isinstance(given.get("artifacts"), Mapping):
        doc["paths"] = {k: str(v) for k, v in given["artifacts"].items()}
    if isinstance(doc["signature"], str):  # Signature.describe() only
        doc["signature"] = {"describe": doc["signature"]}
    if doc["fragment"] == [] and doc["best_size"] is None:
        doc["fragment"] = None  # no best candidate, not an empty one
    if state_dir is not None:
        doc["state_dir"] = str(state_dir)
    if doc["state_dir"] is None and isinstance(doc["paths"], Mapping):
        doc["state_dir"] = doc["paths"].get("state_dir")
    if doc["state_dir"] is not None and isinstance(doc["paths"], dict):
        doc["paths"].setdefault("state_dir", str(doc["state_dir"]))
    doc["status"] = str(status)
    doc["exit_code"] = int(exit_code)
    doc["partial"] = doc["status"] == SessionStatus.PARTIAL
    if message is not None:
        doc["message"] = message
    if hint is not None:
        doc["hint"] = hint
    doc["message"] = doc["message"] or ""
    doc["hint"] = doc["hint"] or ""
    doc["at"] = at if at is not None else (doc["at"] if isinstance(doc["at"], (int, float))
                                           else time.time())
    return doc


class Reporter(Protocol):
    """Anything that observes a session. Must not raise and must not block for long."""

    def event(self, ev: Event) -> None: ...


class NullReporter:
    def event(self, ev: Event) -> None:
        pass


class ListReporter:
    """Keeps every event; for tests and for the summary's history."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, ev: Event) -> None:
        self.events.append(ev)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]
