"""Events the core emits and reporters observe.

The core (session, problem, executor) calls ``reporter.event(ev)`` with these frozen values and
never imports a UI library; ``ui.py`` turns them into a live view, log lines or JSON lines.
Outcomes are the enums of :mod:`ltobisect.model` (string enums: a JSON line spells them as users
read them, and they compare equal to those spellings).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Protocol, Tuple

from ltobisect.model import Phase, SessionStatus, Verdict


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
    changes: Tuple[str, ...] = ()  # fragment lines when small enough to show


@dataclass(frozen=True)
class Message(Event):
    level: str  # info, warning, error
    text: str


@dataclass(frozen=True)
class SessionFinished(Event):
    status: SessionStatus
    exit_code: int
    report_path: Optional[str] = None
    summary_path: Optional[str] = None


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
