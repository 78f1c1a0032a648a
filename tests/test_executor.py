"""The local executor: parallel slots, results in order, infra retries with backoff, stops."""
from __future__ import annotations

import threading
import time

import pytest

from ltobisect.config import RetryPolicy
from ltobisect.errors import InfraError, Stopped
from ltobisect.events import ListReporter, Message, TestFinished, TestStarted
from ltobisect.oracle import OracleDefaults
from ltobisect.executor import LocalExecutor
from ltobisect.model import Outcome, Resolved, Verdict

from support import wait_until

FAST = RetryPolicy(attempts=4, initial_wait=0.001, max_wait=0.004)


def items(n: int):
    return [Resolved(candidate=frozenset(), config_text=f"CONFIG_N={i}\n", digest=f"d{i}")
            for i in range(n)]


class Oracle(OracleDefaults):
    """Records slots in use; ``script[digest]`` is a list of what successive calls do."""

    def __init__(self, script=None, delay=0.0):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.calls = []
        self.called_at = []  # time.monotonic() of each call
        self.ends = []  # "killed" (closed while it ran) or "finished", one per call
        self.active = set()
        self.overlap = False
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def test(self, r, slot):
        with self.lock:
            if slot in self.active:
                self.overlap = True
            self.active.add(slot)
            self.calls.append((r.digest, slot))
            self.called_at.append(time.monotonic())
            step = self.script.get(r.digest, [Verdict.PASSES]).pop(0) if self.script.get(r.digest) else Verdict.PASSES
        try:
            killed = self.closed.wait(self.delay)
            with self.lock:
                self.ends.append("killed" if killed else "finished")
            if killed:
                return Outcome(Verdict.INFRA_ERROR, detail="killed")
            if isinstance(step, Exception):
                raise step
            return Outcome(step, duration=0.01)
        finally:
            with self.lock:
                self.active.discard(slot)

    observe = test

    def close(self):
        self.closed.set()


def test_outcomes_come_back_in_input_order_and_each_slot_runs_one_test_at_a_time():
    oracle = Oracle(script={"d3": [Verdict.REPRODUCES]}, delay=0.02)
    ex = LocalExecutor(oracle, workers=3, retry=FAST)
    done = []
    main = threading.get_ident()
    out = ex.run(items(8), lambda i, r, o: done.append((i, threading.get_ident())))
    assert [o.verdict for o in out] == [Verdict.PASSES] * 3 + [Verdict.REPRODUCES] + [Verdict.PASSES] * 4
    assert sorted(i for i, _ in done) == list(range(8))
    assert all(t == main for _, t in done)  # on_done runs in the calling thread
    assert not oracle.overlap
    assert {slot for _, slot in oracle.calls} == {0, 1, 2}
    ex.close()


def test_infrastructure_errors_are_retried_and_verdicts_are_not():
    oracle = Oracle(script={
        "d0": [InfraError("sandbox"), Verdict.INFRA_ERROR, Verdict.REPRODUCES],
        "d1": [Verdict.OTHER_FAILURE, Verdict.PASSES],
    })
    rep = ListReporter()
    ex = LocalExecutor(oracle, workers=1, retry=FAST, reporter=rep)
    out = ex.run(items(2), lambda i, r, o: None, ["bisect", "bisect"])
    assert out[0].verdict is Verdict.REPRODUCES
    assert out[1].verdict is Verdict.OTHER_FAILURE  # a verdict: asked once, never again
    assert [d for d, _ in oracle.calls].count("d0") == 3
    assert [d for d, _ in oracle.calls].count("d1") == 1
    finished = {e.digest: e for e in rep.of(TestFinished)}
    assert finished["d0"].attempt == 3 and finished["d1"].attempt == 1
    assert len([m for m in rep.of(Message) if "retrying" in m.text]) == 2
    assert [e.label for e in rep.of(TestStarted)] == ["bisect", "bisect"]


def test_retries_back_off_exponentially_and_give_up_with_an_infra_error_outcome():
    """Four attempts (the policy's), with waits of 0.05, 0.1 and 0.2 s between them: each gap
    between two calls is at least its wait (a lower bound: a wait never ends early; how much
    longer it took is the machine's business, so no upper bound)."""
    oracle = Oracle(script={"d0": [InfraError("no space")] * 10})
    rep = ListReporter()
    ex = LocalExecutor(oracle, workers=1, retry=RetryPolicy(attempts=4, initial_wait=0.05, max_wait=1),
                       reporter=rep)
    out = ex.run(items(1), lambda i, r, o: None)
    assert out[0].verdict is Verdict.INFRA_ERROR and "no space" in out[0].detail
    assert len(oracle.calls) == 4
    gaps = [b - a for a, b in zip(oracle.called_at, oracle.called_at[1:])]
    assert all(gap >= wait - 0.005 for gap, wait in zip(gaps, (0.05, 0.1, 0.2))), gaps
    waits = [m.text for m in rep.of(Message)]
    assert len(waits) == 3


def test_a_stop_request_kills_running_tests_and_discards_their_outcomes():
    """Tests of 30 s each on both slots; the stop comes once both run. Each is killed (its wait
    ends by the close, not by running its 30 s), and no outcome reaches the caller."""
    oracle = Oracle(delay=30)
    ex = LocalExecutor(oracle, workers=2, retry=FAST)
    done = []

    def stop_once_both_run() -> None:
        wait_until(lambda: len(oracle.active) == 2, timeout=30, what="both slots to run a test")
        ex.request_stop("deadline reached")

    threading.Thread(target=stop_once_both_run, daemon=True).start()
    with pytest.raises(Stopped, match="deadline reached"):
        ex.run(items(4), lambda i, r, o: done.append(i))
    assert oracle.ends == ["killed", "killed"] and done == []
    with pytest.raises(Stopped):
        ex.run(items(1), lambda i, r, o: None)


def test_an_error_while_recording_stops_the_batch_and_reaches_the_caller():
    oracle = Oracle(delay=0.05)
    ex = LocalExecutor(oracle, workers=2, retry=FAST)

    def record(i, r, o):
        raise InfraError("cannot append to the journal: disk full")

    with pytest.raises(InfraError, match="disk full"):
        ex.run(items(4), record)
    ex.close()


def test_observe_calls_the_oracle_without_a_signature():
    class Both(Oracle):
        def observe(self, r, slot):
            return Outcome(Verdict.OTHER_FAILURE)

    ex = LocalExecutor(Both(), workers=1, retry=FAST)
    assert ex.run(items(1), lambda *a: None, observe=True)[0].verdict is Verdict.OTHER_FAILURE
    assert ex.run(items(1), lambda *a: None)[0].verdict is Verdict.PASSES
    ex.close()


def test_one_retry_policy_the_farm_schedules_by_and_the_local_pool_sleeps_by():
    """The farm never blocks on one task, so it asks how long to wait before submitting again;
    the answers are tenacity's, the same waits the local pool sleeps, and None once the policy
    allows no more tries (the last INFRA_ERROR is the outcome)."""
    from ltobisect.engines import Retries
    retries = Retries(RetryPolicy(attempts=4, initial_wait=2.0, max_wait=5.0))
    assert [retries.delay(a) for a in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, None]
    assert Retries(RetryPolicy(attempts=1)).delay(1) is None
    slept = []

    def sleep(seconds):
        slept.append(seconds)

    calls = iter([Outcome(Verdict.INFRA_ERROR, detail="disk")] * 3 + [Outcome(Verdict.PASSES)])
    done = retries.retrying(sleep, lambda state: None)(lambda: next(calls))
    assert done.verdict is Verdict.PASSES and slept == [2.0, 4.0, 5.0]
