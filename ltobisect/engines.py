"""What both engines (the local pool, the farm) do the same way: retries and bookkeeping.

:class:`Retries` runs the one RetryPolicy with tenacity; :class:`Bookkeeping` emits the live
view's events, warns once when the kernel's conf built another config, and calls ``on_done``
(the journal) in the calling thread. :mod:`ltobisect.executor` and :mod:`ltobisect.farm.client`
use both.
"""
from __future__ import annotations

from typing import Callable, Optional

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from ltobisect.config import RetryPolicy
from ltobisect.confcheck import warning as conf_warning
from ltobisect.errors import InfraError
from ltobisect.events import Message, Reporter, TestDropped, TestFinished, TestStarted
from ltobisect.model import Outcome, Resolved, Verdict


class Retries:
    """The one retry policy of infrastructure errors (:class:`~ltobisect.config.RetryPolicy`),
    executed by tenacity in every executor: the local pool retries inside a worker thread
    (:meth:`retrying`); the farm, which never blocks on one task, submits a task again after
    :meth:`delay`. The same attempts and the same exponential waits either way; a verdict is
    never retried, only an ``INFRA_ERROR`` outcome or an InfraError raised."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._stop = stop_after_attempt(max(1, policy.attempts))
        self._wait = wait_exponential(multiplier=policy.initial_wait, min=0, max=policy.max_wait)

    def retrying(self, sleep: Callable[[float], None],
                 before_sleep: Callable[[RetryCallState], None]) -> Retrying:
        """A tenacity loop that hands back the last ``INFRA_ERROR`` outcome when exhausted."""
        return Retrying(
            stop=self._stop, wait=self._wait,
            retry=retry_if_result(lambda o: o.verdict is Verdict.INFRA_ERROR)
            | retry_if_exception_type(InfraError),
            sleep=sleep, before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result())

    def delay(self, attempt: int) -> Optional[float]:
        """After try number ``attempt`` (from 1) ended on our side: the seconds to wait
        before the next, or ``None`` when the policy allows no more."""
        state = RetryCallState(None, None, (), {})  # stop and wait read only the attempt
        state.attempt_number = attempt
        if self._stop(state):
            return None
        return float(self._wait(state))


class Bookkeeping:
    """What every executor does in the calling thread as tests start, retry and end: the
    events of the live view, the one warning when the kernel's conf built another config than
    ours, and ``on_done`` (the journal) before the next decision. A reporter's exception never
    reaches the session."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.conf_warned = False  # the build's own conf disagreed with us (warned once)

    def emit(self, ev: object) -> None:
        try:
            self.reporter.event(ev)  # type: ignore[arg-type]
        except Exception:
            pass  # a reporter must not take the session down

    def started(self, slot: int, r: Resolved, label: str, ahead: bool = False) -> None:
        self.emit(TestStarted(slot=slot, digest=r.digest, size=len(r.candidate), label=label,
                              ahead=ahead))

    def dropped(self, slot: int, r: Resolved) -> None:
        """A build started ahead was killed: no result needs it (its slot is free)."""
        self.emit(TestDropped(slot=slot, digest=r.digest, size=len(r.candidate)))

    def retrying(self, slot: int, detail: str, wait: float) -> None:
        self.emit(Message("warning", f"slot {slot}: infrastructure error, retrying in "
                                     f"{wait:.0f} s: {detail}"))

    def finished(self, i: int, slot: int, r: Resolved, outcome: Outcome, attempt: int,
                 on_done: Callable[[int, Resolved, Outcome], None]) -> None:
        self.emit(TestFinished(
            slot=slot, digest=r.digest, size=len(r.candidate), verdict=outcome.verdict,
            duration=outcome.duration,
            signature=outcome.signature.describe() if outcome.signature else "",
            peak_rss=outcome.peak_rss, log_path=outcome.log_path, attempt=attempt))
        if outcome.conf is not None and not self.conf_warned:
            # Once per session: a resolver that misses a rule of conf's misses it in most
            # builds; the count and the symbols go to summary.json.
            self.conf_warned = True
            self.emit(Message("warning", conf_warning(r.digest, outcome.conf)))
        on_done(i, r, outcome)
