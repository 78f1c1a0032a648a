"""The live view's state: everything it shows, folded from events, without rich.

:class:`ViewState` takes the :mod:`ltobisect.events` a session emits (``apply``) and holds what the
live view of :mod:`ltobisect.ui.live` draws: the phase, the strategy, the changes left, the tests
running on each worker (and which were started ahead), the last verdicts, the builds, cache hits
and an ETA. Kept apart from the drawing so that it is tested without a terminal, and so that the
drawing module holds rich and nothing else of substance.
"""
from __future__ import annotations

import collections
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Optional, Tuple

from ltobisect.events import (
    BestImproved,
    CacheHit,
    Event,
    Message,
    PhaseStarted,
    ReduceProgress,
    SessionFinished,
    StrategyStarted,
    TestDropped,
    TestFinished,
    TestStarted,
)
from ltobisect.model import Phase, Verdict
from ltobisect.ui.plain import FAILS, reduce_progress, shown_verdict

__all__ = ["Finished", "RECENT", "Running", "ViewState"]

#: How many finished tests the live view lists.
RECENT = 6

#: The note with which --each-failure starts each failure's search ("failure 2 of 3"): shown as
#: the failure row's label for the whole of that search, not as a passing note.
_PART = re.compile(r"failure (\d+) of (\d+)")


@dataclass
class Running:
    """A test in progress on one worker."""

    digest: str
    size: int
    label: str
    started: float
    ahead: bool = False  # started ahead: the search has not asked for it yet


@dataclass
class Finished:
    """A test result, as the live view lists it."""

    at: float
    slot: int
    size: int
    verdict: str
    duration: float
    signature: str
    cached: bool


@dataclass
class ViewState:
    """Everything the live view shows, folded from events (no rich, so it is easy to test)."""

    started: float = field(default_factory=time.time)
    phase: str = "starting"
    phase_detail: str = ""
    strategy: str = ""
    total: int = 0
    size: int = 0
    commits_left: int = 0  # ltobisect bisect: the range left
    builds: int = 0
    cache_hits: int = 0
    build_seconds: float = 0.0
    verdicts: Dict[str, int] = field(default_factory=lambda: collections.Counter())
    running: Dict[int, Running] = field(default_factory=dict)
    recent: Deque[Finished] = field(default_factory=lambda: collections.deque(maxlen=RECENT))
    best_lines: tuple = ()
    messages: Deque[Message] = field(default_factory=lambda: collections.deque(maxlen=3))
    finished: Optional[SessionFinished] = None
    workers_seen: int = 1
    stopping: bool = False
    label: str = ""  # why the latest test runs: the strategy's step ("bisect", "ddmin"...)
    labels: Dict[str, str] = field(default_factory=dict)  # digest -> label of running tests
    failure: str = ""  # the signature being minimized: the latest one a test failed or reproduced with
    part: str = ""  # with --each-failure, which failure of how many: "2/3"
    timed: int = 0  # builds whose time is in build_seconds (the mean build's divisor)
    ahead_started: int = 0  # builds started ahead (ltobisect.speculate)
    ahead_dropped: int = 0  # of which killed when no result needed them
    #: builds, cache hits and verdicts as the sessions that finished so far count them
    settled: Tuple[int, int, Dict[str, int]] = (0, 0, {})

    def occupancy(self, workers: int) -> str:
        """How busy the workers are: "3 busy (1 ahead), 1 idle; ahead: 5 started, 2 stopped"."""
        busy = len(self.running)
        ahead = sum(r.ahead for r in self.running.values())
        text = f"{busy} busy" + (f" ({ahead} ahead)" if ahead else "") + f", {max(0, workers - busy)} idle"
        if self.ahead_started:
            text += f"; ahead: {self.ahead_started} started, {self.ahead_dropped} stopped"
        return text

    def apply(self, ev: Event) -> None:
        """Fold one event into the state."""
        if isinstance(ev, PhaseStarted):
            self.phase, self.phase_detail = ev.phase, ev.detail
            # What a phase said (the bad config fails so, a build's peak) is news of that phase:
            # the next one shows its own progress, not the last phase's note as the view's last
            # line for the rest of the run. Warnings and errors stay.
            kept = [m for m in self.messages if m.level != "info"]
            self.messages.clear()
            self.messages.extend(kept)
        elif isinstance(ev, StrategyStarted):
            self.strategy, self.size, self.total = ev.strategy, ev.size, ev.total
        elif isinstance(ev, TestStarted):
            self.running[ev.slot] = Running(ev.digest, ev.size, ev.label, ev.at, ev.ahead)
            self.ahead_started += ev.ahead
            self.workers_seen = max(self.workers_seen, ev.slot + 1)
            self.labels[ev.digest] = ev.label
            if ev.label and not ev.ahead and self.phase == Phase.SEARCHING:
                self.label = ev.label
        elif isinstance(ev, TestFinished):
            self.running.pop(ev.slot, None)
            verdict = shown_verdict(ev.verdict, self.labels.pop(ev.digest, ""))
            if ev.cached:
                self.cache_hits += 1
            else:
                self.builds += 1
                self.timed += 1
                self.build_seconds += ev.duration
                self.verdicts[verdict] += 1
            self.recent.append(
                Finished(ev.at, ev.slot, ev.size, verdict, ev.duration, ev.signature, ev.cached)
            )
            if ev.signature and verdict in (FAILS, Verdict.REPRODUCES):
                self.failure = ev.signature
        elif isinstance(ev, TestDropped):
            self.running.pop(ev.slot, None)
            self.labels.pop(ev.digest, None)
            self.ahead_dropped += 1
        elif isinstance(ev, CacheHit):
            self.cache_hits += 1
            self.recent.append(Finished(ev.at, -1, ev.size, ev.verdict, 0.0, "", True))
        elif isinstance(ev, BestImproved):
            self.size, self.total = ev.size, ev.total
            self.best_lines = tuple(ev.changes)
        elif isinstance(ev, Message):
            part = _PART.fullmatch(ev.text) if ev.level == "info" else None
            if part:
                self.part = f"{part.group(1)}/{part.group(2)}"
            else:
                self.messages.append(ev)
        elif isinstance(ev, ReduceProgress):
            self.phase = Phase.BISECTING if ev.step == "bisect" else Phase.REDUCING
            self.phase_detail = reduce_progress(ev)
            self.commits_left = ev.size if ev.step == "bisect" else 0
        elif isinstance(ev, SessionFinished):
            self.finished = ev
            self.phase, self.phase_detail = ev.status, ""
            self.running.clear()

    def settle(self, counts: Dict[str, Any]) -> None:
        """A session finished: count its builds, cache hits and verdicts as its summary.json
        (and so its report) does, on top of the sessions that finished before it (the searches
        of --each-failure, one after another).

        The view tallies the builds it saw, the report the session's journal; they differ: the
        bad config's build is shown as ``fails`` (``reproduces`` in the journal, judged again
        under its signature), and a resumed session's journal holds its earlier runs' builds.
        The last frame must not contradict the report printed under it.
        """
        builds, hits, verdicts = self.settled
        tally = collections.Counter(verdicts)
        for name, n in (counts.get("verdicts") or {}).items():
            if isinstance(n, int):
                tally[str(name)] += n
        if isinstance(counts.get("builds"), int):
            builds += counts["builds"]
        if isinstance(counts.get("cache_hits"), int):
            hits += counts["cache_hits"]
        self.builds, self.cache_hits, self.verdicts = builds, hits, tally
        self.settled = (builds, hits, dict(tally))

    @property
    def mean_build(self) -> Optional[float]:
        return self.build_seconds / self.timed if self.timed else None

    def eta(self, workers: int) -> Optional[float]:
        """A rough time to finish: builds still expected x mean build time / workers.

        A delta-debugging search over ``s`` changes that ends with ``k`` culprits needs about
        ``k * log2(s)`` tests plus ``k`` to check 1-minimality; with ``k`` unknown we take 2 (the
        usual size of a config bug) and add the verification builds. ``None`` before the first
        build has given a mean.
        """
        mean = self.mean_build
        if mean is None:
            return None
        if self.phase in (Phase.LOADING, Phase.CONFIRMING, "starting"):
            remaining = 2 + 2 * math.log2(max(self.total, 2)) * 2
        elif self.phase == Phase.SEARCHING:
            s = max(self.size, 2)
            remaining = 2 * math.log2(s) * 2 + 2 + 2
        elif self.phase == Phase.VERIFYING:
            remaining = 2
        elif self.phase == Phase.BISECTING:  # halving the commits left, then the checks
            remaining = math.log2(max(self.commits_left, 1)) + 3
        else:
            return 0.0
        return remaining * mean / max(1, workers)
