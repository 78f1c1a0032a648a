"""One stop condition: when the search must end, whoever notices first.

A session ends early for four reasons: its deadline (``--budget``), its build limit
(``--max-builds``), no progress for too long (the stall limit, and the idle guard against a
strategy asking only questions it already has answers to), or a stop request (Ctrl-C, SIGTERM,
the CLI's budget watchdog). All four live in one :class:`StopCondition`, which the session hands
to the :class:`~ltobisect.problem.Problem` (checked between batches) and to the executor (whose
running builds are killed when a stop is requested). Strategies never see it: they only see the
:class:`~ltobisect.errors.Stopped` it raises, which carries the best result.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable, List, Optional

from ltobisect.config import Limits
from ltobisect.errors import Stopped
from ltobisect.model import Candidate

#: Batches in a row answered from the cache after which the search is stopped as stuck: far
#: more than any strategy needs (a round asks at most a few dozen), so a strategy that goes
#: round in circles on contradictory verdicts ends with its best instead of hanging a farm.
IDLE_BATCHES = 20_000

#: The stop is requested this share of the budget before the deadline, at least ``GRACE_MIN``
#: seconds (half the budget if that is less) and at most ``GRACE_MAX``, so killing the running
#: builds and writing the artifacts fit inside the budget, also on a loaded machine.
GRACE_SHARE = 0.05
GRACE_MIN = 2.0
GRACE_MAX = 30.0


def grace(deadline: float) -> float:
    """How long before ``deadline`` the stop is requested."""
    return min(GRACE_MAX, max(min(GRACE_MIN, deadline / 2), deadline * GRACE_SHARE))


def budget_text(seconds: float) -> str:
    """``2h``, ``20m``, ``45s``: a budget as the user wrote it, roughly."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class StopCondition:
    """The limits of one session, its clock, and its stop request (thread-safe).

    ``event`` is set by :meth:`request` (from any thread, e.g. a signal handler's helper
    thread or the deadline timer); executors wait on it and kill their running builds.
    """

    def __init__(self, limits: Limits = Limits(), *, clock: Callable[[], float] = time.monotonic,
                 started: Optional[float] = None, event: Optional[threading.Event] = None) -> None:
        self.limits = limits
        self.clock = clock
        self.started = clock() if started is None else started
        self.event = event if event is not None else threading.Event()
        self.reason = "stop requested"
        self._timer: Optional[threading.Timer] = None
        self._listeners: List[Callable[[str], None]] = []

    # -- the request -----------------------------------------------------------------------
    def request(self, reason: str = "stop requested") -> None:
        """Stop as soon as possible; listeners (the executor) are told at once, the first time
        only (a later request, such as the deadline after a Ctrl-C, changes nothing)."""
        if self.event.is_set():
            return
        self.reason = reason
        self.event.set()
        for listener in list(self._listeners):
            try:
                listener(self.reason)
            except Exception:
                pass  # a listener must not keep the others from hearing it

    def on_request(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` when a stop is requested (at once if it already was)."""
        self._listeners.append(listener)
        if self.event.is_set():
            listener(self.reason)

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    # -- time ------------------------------------------------------------------------------
    def restart(self) -> None:
        """Count the deadline from now (each run of a resumed session has its own budget)."""
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def time_left(self) -> Optional[float]:
        """Seconds until the deadline; ``None`` without one."""
        if self.limits.deadline is None:
            return None
        return self.limits.deadline - self.elapsed()

    @property
    def out_of_time(self) -> str:
        """The reason a stop at the deadline gives."""
        return f"the budget of {budget_text(self.limits.deadline or 0.0)} ran out"

    def _stop_at(self) -> Optional[float]:
        """Elapsed seconds at which the deadline's stop is due (its grace before the deadline)."""
        deadline = self.limits.deadline
        if deadline is None:
            return None
        return deadline - grace(deadline)

    def arm(self) -> None:
        """Start the deadline's timer: it requests the stop even in the middle of a batch of
        long builds, so a budgeted run never overruns by a whole build."""
        stop_at = self._stop_at()
        if stop_at is None or self._timer is not None:
            return
        delay = max(0.0, stop_at - self.elapsed())
        if delay >= threading.TIMEOUT_MAX:
            # No timer can wait that long (the command line takes at most a year); the check
            # between batches still stops the search at the deadline.
            return
        self._timer = threading.Timer(delay, self.request, args=(self.out_of_time,))
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- a budget shared by parts run one after another ---------------------------------------
    def spent(self, builds: int) -> str:
        """Why no further part may start (the deadline passed, the build limit reached, a stop
        requested), or "": ``builds`` are those of this run so far."""
        if self.event.is_set():
            return self.reason
        if self.limits.deadline is not None and self.elapsed() >= self.limits.deadline:
            return "deadline reached"
        if self.limits.max_tests is not None and builds >= self.limits.max_tests:
            return f"build limit reached ({self.limits.max_tests})"
        return ""

    def left(self, builds: int) -> Limits:
        """The limits a part started now gets: what is left of the deadline and of the build
        limit after ``builds`` (at least 1 s and 1 build; :meth:`spent` says when none is)."""
        lim = self.limits
        if lim.deadline is not None:
            lim = dataclasses.replace(lim, deadline=max(1.0, lim.deadline - self.elapsed()))
        if lim.max_tests is not None:
            lim = dataclasses.replace(lim, max_tests=max(1, lim.max_tests - builds))
        return lim

    # -- the check between batches ----------------------------------------------------------
    def check(self, best: Candidate, *, builds: int, builds_since_best: int = 0,
              idle_batches: int = 0) -> None:
        """Raise :class:`Stopped` (carrying ``best``) when any limit is reached."""
        lim = self.limits
        if self.event.is_set():
            raise Stopped(self.reason, best)
        stop_at = self._stop_at()
        if stop_at is not None and self.elapsed() >= stop_at:
            raise Stopped(self.out_of_time, best)
        if lim.max_tests is not None and builds >= lim.max_tests:
            raise Stopped(f"{lim.max_tests} builds done (--max-builds)", best)
        if lim.stall_tests is not None and builds_since_best >= lim.stall_tests:
            raise Stopped(f"no progress in {lim.stall_tests} builds", best)
        if idle_batches > IDLE_BATCHES:
            raise Stopped(f"the search asked {IDLE_BATCHES} questions in a row whose answers "
                          "it already had", best)
