"""The local executor: parallel slots, results in order, infra retries with backoff, stops."""
from __future__ import annotations

import threading
import time

import pytest

from ltobisect.config import RetryPolicy
from ltobisect.errors import InfraError, Stopped
from ltobisect.events import ListReporter, Message, TestFinished, TestStarted
from ltobisect.executor import LocalExecutor
from ltobisect.model import Outcome, Resolved, Verdict

FAST = RetryPolicy(attempts=4, initial_wait=0.001, max_wait=0.004)


def items(n: int):
    return [Resolved(candidate=frozenset(), config_text=f"CONFIG_N={i}\n", digest=f"d{i}")
            for i in range(n)]


class Oracle:
    """Records slots in use; ``script[digest]`` is a list of what successive calls do."""

    def __init__(self, script=None, delay=0.0):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.calls = []
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
            step = self.script.get(r.digest, [Verdict.PASSES]).pop(0) if self.script.get(r.digest) else Verdict.PASSES
        try:
            if self.closed.wait(self.delay):
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
    oracle = Oracle(script={"d0": [InfraError("no space")] * 10})
    rep = ListReporter()
    ex = LocalExecutor(oracle, workers=1, retry=RetryPolicy(attempts=4, initial_wait=0.05, max_wait=1),
                       reporter=rep)
    t0 = time.monotonic()
    out = ex.run(items(1), lambda i, r, o: None)
    took = time.monotonic() - t0
    assert out[0].verdict is Verdict.INFRA_ERROR and "no space" in out[0].detail
    assert len(oracle.calls) == 4
    assert took >= 0.05 + 0.1 + 0.2 - 0.02  # waits of 0.05, 0.1, 0.2 s
    waits = [m.text for m in rep.of(Message)]
    assert len(waits) == 3


def test_a_stop_request_kills_running_tests_and_discards_their_outcomes():
    oracle = Oracle(delay=30)
    ex = LocalExecutor(oracle, workers=2, retry=FAST)
    done = []
    threading.Timer(0.3, ex.request_stop, args=("deadline reached",)).start()
    t0 = time.monotonic()
    with pytest.raises(Stopped, match="deadline reached"):
        ex.run(items(4), lambda i, r, o: done.append(i))
    assert time.monotonic() - t0 < 10
    assert oracle.closed.is_set() and done == []
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
