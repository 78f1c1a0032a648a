"""Runs tests on W workers: the seam between the search and the machines that build.

The session receives an :data:`ExecutorFactory` and calls it with an
:class:`~ltobisect.oracle.OracleSpec` (plain, picklable values) and the session's
:class:`~ltobisect.limits.StopCondition`. The executor owns the oracle it builds from that spec;
:meth:`Executor.judge_by` replaces it between runs (when the signature and the timeout are
known). :class:`LocalExecutor` is the default engine: a pool of W threads on this machine, each
owning a *slot* (0..W-1). The slot index is passed to the oracle, which keeps one sandbox (O=
directory, TMPDIR, HOME) per slot, so two builds never share a directory and each slot's
directory stays warm between tests.

The contract (:class:`Executor`):

- ``workers``: how many tests it runs at once; strategies size their batches by it.
- ``run(items, on_done, labels, observe=False)``: test every resolved config and return the
  outcomes in input order. ``on_done(index, resolved, outcome)`` is called *from the calling
  thread*, one at a time, as soon as each test finishes, so the caller can journal it (fsync)
  before anything else happens. Every reporter event is also emitted from the calling thread.
  ``observe=True`` builds without judging (the bad config's first build).
- Infrastructure errors (an ``INFRA_ERROR`` outcome, or :class:`~ltobisect.errors.InfraError`
  raised by the oracle) are retried here with exponential backoff, a bounded number of times; an
  ``INFRA_ERROR`` outcome coming back means the retries were exhausted. Verdicts are never retried.
- The first outcome whose build's own conf disagreed with our resolution (``outcome.conf``)
  gives one warning; later ones are only journaled and counted.
- A stop request (the stop condition, or Ctrl-C in the calling thread) kills the running tests
  (``oracle.close()``), discards their outcomes (a killed build is not a verdict) and raises
  :class:`~ltobisect.errors.Stopped` (or lets KeyboardInterrupt through).

A distributed engine implements the same contract: it sends the spec and the resolved
``.config`` text (``Resolved.config_text``, self-contained) to a remote worker, builds the same
oracle there with :func:`~ltobisect.oracle.make_oracle`, and reports outcomes back to the calling
thread in the same way. Nothing above the executor changes.
"""
from __future__ import annotations

import itertools
import os
import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple

from tenacity import RetryCallState

from ltobisect import process
from ltobisect.config import RetryPolicy
from ltobisect.engines import Bookkeeping, Retries
from ltobisect.errors import InfraError, Stopped
from ltobisect.events import Message, NullReporter, Reporter
from ltobisect.limits import StopCondition
from ltobisect.model import Outcome, Resolved, Verdict
from ltobisect.problem import Ahead
from ltobisect.oracle import Oracle, OracleSpec, guarded, make_oracle
from ltobisect.store.journal import Journal

#: Builds the oracle an :class:`OracleSpec` describes (a seam for tests: a Python oracle).
OracleFactory = Callable[[OracleSpec], Oracle]


class Executor(Protocol):
    """What the session needs of an engine (see the module docstring)."""

    workers: int

    @property
    def oracle(self) -> Oracle: ...

    def run(self, items: Sequence[Resolved], on_done: Callable[[int, Resolved, Outcome], None],
            labels: Optional[Sequence[str]] = None, *, observe: bool = False,
            ahead: Optional[Ahead] = None) -> List[Outcome]: ...

    def judge_by(self, spec: OracleSpec) -> None: ...

    def close(self) -> None: ...


@contextmanager
def judged_by(executor: Executor, spec: OracleSpec, back: OracleSpec,
              journal: Optional[Journal] = None) -> Iterator[None]:
    """Test with the oracle ``spec`` describes inside the ``with`` block, with ``back``'s after
    it, whatever happens; with ``journal``, its verdicts are recorded under that oracle's
    identity meanwhile (a matrix's builds: another timeout, another toolchain)."""
    executor.judge_by(spec)
    try:
        if journal is None:
            yield
        else:
            with journal.following(executor.oracle):
                yield
    finally:
        executor.judge_by(back)


#: Makes the session's executor: ``factory(spec, stop)``.
ExecutorFactory = Callable[[OracleSpec, StopCondition], Executor]


def local_pool(workers: int, retry: RetryPolicy = RetryPolicy(), reporter: Reporter = NullReporter(),
               make: OracleFactory = make_oracle) -> ExecutorFactory:
    """The default :data:`ExecutorFactory`: ``workers`` threads on this machine. Every oracle
    it makes is guarded against the tree vanishing (:func:`~ltobisect.oracle.guarded`)."""

    def make_guarded(spec: OracleSpec) -> Oracle:
        return guarded(make(spec), spec)

    def factory(spec: OracleSpec, stop: StopCondition) -> "LocalExecutor":
        return LocalExecutor(make_guarded(spec), workers, retry, reporter, stop=stop, make=make_guarded)

    return factory


class _Cancelled(Exception):
    """Raised inside a worker when its run was abandoned (stop, Ctrl-C, an error elsewhere)."""


def _infra_outcome(detail: str) -> Outcome:
    return Outcome(Verdict.INFRA_ERROR, detail=detail)


class LocalExecutor:
    """W local workers, each with its own slot (sandbox), with infra-error retries.

    ``stop`` is the session's stop condition: a request stops the current and every later
    :meth:`run` (the running builds are killed through ``oracle.close()``). ``make`` builds the
    oracle of a new spec (:meth:`judge_by`).
    """

    def __init__(
        self,
        oracle: Oracle,
        workers: int = 1,
        retry: RetryPolicy = RetryPolicy(),
        reporter: Reporter = NullReporter(),
        *,
        stop: Optional[StopCondition] = None,
        make: OracleFactory = make_oracle,
        poll: float = 0.1,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._oracle = oracle
        self._make = make
        self.workers = workers
        self._retries = Retries(retry)
        self.books = Bookkeeping(reporter)
        self.stop_condition = stop if stop is not None else StopCondition()
        self.stop = self.stop_condition.event
        self._poll = poll
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ltobisect-slot")
        self._slots: "queue.Queue[int]" = queue.Queue()
        for s in range(workers):
            self._slots.put(s)
        self._closed = False
        self._events: "queue.Queue[tuple]" = queue.Queue()  # from the workers, read by run
        self._in_flight = 0  # builds submitted and not yet ended
        self._building: set = set()  # digests building now
        self._ahead: Dict[str, _Task] = {}  # builds started ahead, by digest
        self._seq = itertools.count()

    # -- control -----------------------------------------------------------------------------
    @property
    def oracle(self) -> Oracle:
        return self._oracle

    @property
    def stop_reason(self) -> str:
        return self.stop_condition.reason

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the running and later runs to stop (thread-safe; kills running builds)."""
        self.stop_condition.request(reason)

    def judge_by(self, spec: OracleSpec) -> None:
        """Test with the oracle ``spec`` describes from the next :meth:`run` on.

        Called between runs, so no build of the old oracle is running; it is dropped, not
        closed (an oracle's copies may share what closing kills).
        """
        self._oracle = self._make(spec)

    def close(self) -> None:
        """Kill running tests and release the workers."""
        if self._closed:
            return
        self._closed = True
        try:
            self._oracle.close()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- Runner protocol ---------------------------------------------------------------------
    def run(
        self,
        items: Sequence[Resolved],
        on_done: Callable[[int, Resolved, Outcome], None],
        labels: Optional[Sequence[str]] = None,
        *,
        observe: bool = False,
        ahead: Optional[Ahead] = None,
    ) -> List[Outcome]:
        """Test ``items`` in parallel; see the module docstring for the contract.

        ``observe=True`` calls ``oracle.observe`` (no signature yet: the bad config's first
        build) instead of ``oracle.test``. With ``ahead``, free workers build what it proposes
        (:class:`~ltobisect.problem.Ahead`); those builds outlive the run until a later run
        asks for them, they finish, or they are moot (killed).
        """
        if self._closed:
            raise Stopped(self.stop_reason)
        if self.stop.is_set():
            raise Stopped(self.stop_reason)
        labels = list(labels) if labels is not None else [""] * len(items)
        mine: List[_Task] = []
        try:
            self._take(ahead, None, 0.0)  # builds that ended ahead since the last run
            self._drop_moot(ahead)
            fresh = []
            for i, r in enumerate(items):
                task = self._ahead.pop(r.digest, None)
                if task is None:
                    task = _Task(r, labels[i])
                    fresh.append(task)
                task.index = i
                mine.append(task)
            # The items come first: builds started ahead make room for them, the newest first.
            over = self._in_flight + len(fresh) - self.workers
            for task in sorted(self._ahead.values(), key=lambda t: -t.seq)[:max(0, over)]:
                self._kill(task, ahead)
            for task in fresh:
                self._submit(task, observe)
            outcomes: List[Optional[Outcome]] = [None] * len(items)
            pending = len(items)
            while True:
                self._fill(ahead, observe)
                if not pending:
                    break
                if self.stop.is_set():
                    raise Stopped(self.stop_reason)
                for task, outcome in self._take(ahead, (mine, on_done), self._poll):
                    outcomes[task.index] = outcome
                    pending -= 1
        except BaseException:
            self._abandon(mine)
            raise
        return [o for o in outcomes if o is not None]

    # -- the calling thread's bookkeeping ------------------------------------------------------
    def _submit(self, task: "_Task", observe: bool) -> None:
        self._in_flight += 1
        task.seq = next(self._seq)
        self._pool.submit(self._work, task, observe)

    def _fill(self, ahead: Optional[Ahead], observe: bool) -> None:
        """Free workers build what ``ahead`` proposes."""
        while ahead is not None and self._in_flight < self.workers:
            busy = set(self._ahead) | self._building
            r = ahead.next(busy)
            if r is None or r.digest in busy:
                return
            task = _Task(r, "ahead")
            self._ahead[r.digest] = task
            self._submit(task, observe)

    def _take(self, ahead: Optional[Ahead], run: Optional[Tuple[List["_Task"], Callable]],
              wait: float) -> List[Tuple["_Task", Outcome]]:
        """Handle what the workers said, waiting up to ``wait`` for a first message. Returns
        the finished builds of ``run``'s tasks (``on_done`` called for each); a build started
        ahead that finished goes to ``ahead`` (journaled) at once. After each verdict, builds
        started ahead that are no longer wanted are killed."""
        finished: List[Tuple[_Task, Outcome]] = []
        mine, on_done = run if run is not None else ([], None)
        timeout: Optional[float] = wait
        while True:
            try:
                msg = self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
            except queue.Empty:
                return finished
            timeout = 0.0
            kind, task = msg[0], msg[1]
            if kind == "started":
                self._building.add(task.resolved.digest)
                self.books.started(task.slot, task.resolved, task.label, ahead=task.index is None)
            elif kind == "retry":
                self.books.retrying(task.slot, msg[2], msg[3])
            elif kind == "gone":  # a killed or abandoned build: its worker is free
                self._in_flight -= 1
                self._building.discard(task.resolved.digest)
            elif kind == "done":
                outcome = msg[2]
                self._in_flight -= 1
                self._building.discard(task.resolved.digest)
                if task.index is not None and task.index < len(mine) and mine[task.index] is task:
                    self.books.finished(task.index, task.slot, task.resolved, outcome,
                                        task.attempts, on_done)
                    finished.append((task, outcome))
                elif self._ahead.get(task.resolved.digest) is task:
                    del self._ahead[task.resolved.digest]
                    if ahead is not None and outcome.verdict is not Verdict.INFRA_ERROR:
                        self.books.finished(-1, task.slot, task.resolved, outcome, task.attempts,
                                            lambda _i, r, o: ahead.finished(r, o))
                self._drop_moot(ahead)
            elif kind == "error":
                self._in_flight -= 1
                self._building.discard(task.resolved.digest)
                raise msg[2]

    def _drop_moot(self, ahead: Optional[Ahead]) -> None:
        """Kill the builds started ahead that ``ahead`` no longer wants (all without one)."""
        for task in list(self._ahead.values()):
            if ahead is None or not ahead.wanted(task.resolved.digest):
                self._kill(task, ahead)

    def _kill(self, task: "_Task", ahead: Optional[Ahead]) -> None:
        """A build started ahead that no result needs: its worker is freed, its outcome dropped."""
        self._ahead.pop(task.resolved.digest, None)
        task.cancel.set()
        if task.slot is not None:
            try:
                self._oracle.cancel(task.slot)
            except Exception as exc:  # killing is best effort; the outcome is dropped anyway
                self.books.emit(Message("warning", f"could not stop a build started ahead: {exc}"))
            self.books.dropped(task.slot, task.resolved)
        if ahead is not None:
            ahead.dropped(task.resolved)

    # -- inside a worker thread --------------------------------------------------------------
    def _work(self, task: "_Task", observe: bool) -> None:
        said = False
        slot: Optional[int] = None
        try:
            if task.cancel.is_set():
                return
            slot = self._slots.get()
            if task.cancel.is_set():
                return
            task.slot = slot
            self._events.put(("started", task))
            call = self._oracle.observe if observe else self._oracle.test
            cancel = task.cancel

            def once() -> Outcome:
                if cancel.is_set() or self.stop.is_set():
                    raise _Cancelled()
                task.attempts += 1
                try:
                    return call(task.resolved, slot)
                except InfraError as exc:
                    return _infra_outcome(str(exc))
                except OSError as exc:
                    # Our side (fork failed, disk full in a worker dir...), not the config's.
                    return _infra_outcome(f"{type(exc).__name__}: {exc}")

            def sleep(seconds: float) -> None:
                if cancel.wait(seconds) or self.stop.is_set():
                    raise _Cancelled()

            def before_sleep(state: RetryCallState) -> None:
                o = state.outcome.result() if state.outcome and not state.outcome.failed else None
                detail = o.detail if isinstance(o, Outcome) else "error"
                wait = state.next_action.sleep if state.next_action else 0.0
                self._events.put(("retry", task, detail, wait))

            # Exhausted, the last INFRA_ERROR outcome comes back; the caller decides.
            outcome = self._retries.retrying(sleep, before_sleep)(once)
            if cancel.is_set():
                return
            self._events.put(("done", task, outcome))
            said = True
        except _Cancelled:
            return
        except BaseException as exc:  # a bug in the oracle: surface it in the calling thread
            if not task.cancel.is_set():
                self._events.put(("error", task, exc))
                said = True
        finally:
            if slot is not None:
                self._slots.put(slot)
            if not said:
                self._events.put(("gone", task))

    def _abandon(self, mine: List["_Task"]) -> None:
        """Stop: no more tests start, running ones (this run's and those started ahead) are
        killed, outcomes discarded."""
        tasks = mine + list(self._ahead.values())
        self._ahead.clear()
        running = self._in_flight > 0
        for task in tasks:
            task.cancel.set()
        if running:
            try:
                self._oracle.close()
            except Exception as exc:  # killing is best effort; report and go on
                self.books.emit(Message("warning", f"could not stop running tests: {exc}"))
            self._closed = True
            deadline = time.monotonic() + 30
            while self._in_flight > 0 and time.monotonic() < deadline:
                try:
                    msg = self._events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if msg[0] in ("done", "gone", "error"):
                    self._in_flight -= 1


class _Task:
    """One build the pool runs: for an item of the current run (``index``) or ahead (None)."""

    def __init__(self, resolved: Resolved, label: str) -> None:
        self.resolved = resolved
        self.label = label
        self.index: Optional[int] = None
        self.cancel = threading.Event()
        self.slot: Optional[int] = None
        self.attempts = 0
        self.seq = 0


def reap_orphans(work_dir: Path) -> int:
    """Kill builds an earlier, killed run left running in ``work_dir``; return how many groups.

    Builds run in process groups of their own, so a kill -9 of ltobisect leaves them running,
    and a resumed run would then build in the same worker directory at the same time (which
    corrupts it). Every build has its TMPDIR inside ``work_dir/workers/`` (or
    ``work_dir/lld-reproduce/``): a process with such a TMPDIR while we hold the state
    directory's lock is such an orphan.
    """
    dirs = [Path(work_dir) / "workers", Path(work_dir) / "lld-reproduce"]
    roots = tuple({str(d) + os.sep for d in dirs} | {str(d.resolve()) + os.sep for d in dirs})
    groups = process.groups_with_env("TMPDIR", roots)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    return len(groups)
