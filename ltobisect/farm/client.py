"""The client's side of the farm: connect to the cluster, and the executor that submits builds,
streams their outcomes back, cancels and retries them."""
from __future__ import annotations

import queue
import time
import uuid
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import distributed
from distributed import Client, Event, LocalCluster
from distributed.security import Security

from ltobisect.build import toolchain_versions
from ltobisect.config import FarmAccess, RetryPolicy
from ltobisect.errors import InfraError, Stopped, UserError
from ltobisect.events import Message, NullReporter, Reporter
from ltobisect.engines import Bookkeeping, Retries
from ltobisect.executor import ExecutorFactory, OracleFactory
from ltobisect.limits import StopCondition
from ltobisect.model import Outcome, Resolved, Verdict
from ltobisect.problem import Ahead
from ltobisect.oracle import Oracle, OracleSpec, guarded, make_oracle
from ltobisect.oracle.common import new_log
from ltobisect.farm.worker import WorkerRefused, build_task
from ltobisect.oracle.kernel import makefile_hash

#: The resource a build asks for with ``--build-memory`` (bytes), as workers declare it.
MEMORY_RESOURCE = "MEM"
#: How long the client waits for the cluster's first worker before it gives up (seconds).
CONNECT_TIMEOUT = 60.0


def security_for(address: str, access: FarmAccess = FarmAccess()) -> Optional[Security]:
    """What a client of ``address`` presents: for ``tls://``, the CA and the client's certificate
    and key (the options', else Dask's ``distributed.comm.tls`` configuration), encryption
    required; ``None`` for a ``tcp://`` farm (checked by :func:`ltobisect.farmcheck.check_farm`)."""
    if not address.startswith("tls://"):
        return None
    for option, path in zip(("--tls-ca", "--tls-cert", "--tls-key"), access.tls_files):
        if path is not None and not Path(path).is_file():  # moved since the session started
            raise UserError(f"{option} {path}: no such file",
                            f"give {option} again (resume and bisect take it too)")
    if access.tls_ca is not None:
        security = Security(tls_ca_file=str(access.tls_ca), tls_client_cert=str(access.tls_cert),
                            tls_client_key=str(access.tls_key), require_encryption=True)
    else:
        security = Security(require_encryption=True)
    if not (security.tls_ca_file and security.tls_client_cert):
        raise UserError(f"--scheduler {address}: no CA and client certificate for TLS",
                        "give --tls-ca, --tls-cert and --tls-key, or set Dask's "
                        "distributed.comm.tls.ca-file and distributed.comm.tls.client.cert")
    return security


def connect(address: str, access: FarmAccess = FarmAccess(),
            timeout: float = CONNECT_TIMEOUT) -> Tuple[Client, Optional[LocalCluster]]:
    """A client of the cluster at ``address``; ``local:N`` starts N worker processes here. A
    scheduler that does not answer, or refuses our certificate, is a UserError after
    ``timeout`` seconds."""
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            raise UserError(f"--scheduler {address}: give local:N, N worker processes") from None
        if n < 1:
            raise UserError(f"--scheduler {address}: give at least one worker")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        return Client(cluster), cluster
    security = security_for(address, access)
    try:
        client = Client(address, timeout=timeout, security=security)
    except (OSError, TimeoutError, ValueError) as exc:
        tls = " with our certificate" if security is not None else ""
        raise UserError(f"cannot reach the Dask scheduler at {address}{tls}: "
                        f"{' '.join(str(exc).split())[:300]}",
                        hint="start it with `dask scheduler`, or check --scheduler"
                             + (" and the TLS files" if tls else "")) from exc
    return client, None


def farm_pool(address: str, workers: int, retry: RetryPolicy = RetryPolicy(),
              reporter: Reporter = NullReporter(), build_memory: Optional[int] = None,
              log_dir: Optional[Path] = None, make: OracleFactory = make_oracle,
              access: FarmAccess = FarmAccess()) -> ExecutorFactory:
    """An :data:`~ltobisect.executor.ExecutorFactory` whose builds run on the cluster at
    ``address``, ``workers`` at a time; logs come home to ``log_dir`` (default: the spec's
    ``work_dir/logs``)."""

    def factory(spec: OracleSpec, stop: StopCondition) -> "FarmExecutor":
        client, cluster = connect(address, access)
        try:
            return FarmExecutor(spec, client, workers, retry, reporter, stop=stop,
                                build_memory=build_memory, cluster=cluster, make=make,
                                log_dir=log_dir or Path(spec.work_dir) / "logs")
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise

    return factory


class FarmExecutor:
    """The executor contract (see :mod:`ltobisect.executor`) on a Dask cluster."""

    def __init__(self, spec: OracleSpec, client: Client, workers: int = 1,
                 retry: RetryPolicy = RetryPolicy(), reporter: Reporter = NullReporter(), *,
                 stop: Optional[StopCondition] = None, build_memory: Optional[int] = None,
                 cluster: Optional[LocalCluster] = None, make: OracleFactory = make_oracle,
                 log_dir: Path, poll: float = 0.2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._retries = Retries(retry)
        self.books = Bookkeeping(reporter)
        self.stop_condition = stop if stop is not None else StopCondition()
        self._client = client
        self._cluster = cluster
        self._make = make
        self._log_dir = Path(log_dir)
        self._poll = poll
        self._build_memory = build_memory
        self._refused: set = set()  # workers whose tree or toolchain is not ours
        self._free = list(range(workers))  # slot numbers for the live view
        self._running: Dict[str, Any] = {}  # cancel event name -> future
        self._ahead: Dict[Any, Tuple[Resolved, str, int]] = {}  # builds started ahead: future -> (config, event, slot)
        self._closed = False
        self._spec = spec
        self._oracle = guarded(make(spec), spec)  # this machine's copy: identity, judging
        self._expect = self._expectation(spec)
        self._check_memory()

    # -- the contract ------------------------------------------------------------------------
    @property
    def oracle(self) -> Oracle:
        return self._oracle

    def judge_by(self, spec: OracleSpec) -> None:
        self._spec = spec
        self._oracle = guarded(self._make(spec), spec)

    def request_stop(self, reason: str = "stop requested") -> None:
        self.stop_condition.request(reason)

    def close(self) -> None:
        """Kill the running builds on their workers and leave the cluster."""
        if self._closed:
            return
        self._closed = True
        try:
            self._cancel_all()
        finally:
            try:
                self._client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()

    def run(self, items: Sequence[Resolved], on_done: Callable[[int, Resolved, Outcome], None],
            labels: Optional[Sequence[str]] = None, *, observe: bool = False,
            ahead: Optional[Ahead] = None) -> List[Outcome]:
        if self._closed or self.stop_condition.requested:
            raise Stopped(self.stop_condition.reason)
        labels = list(labels) if labels is not None else [""] * len(items)
        outcomes: List[Optional[Outcome]] = [None] * len(items)
        todo: "queue.Queue[Tuple[int, int]]" = queue.Queue()  # (index, attempt)
        waiting: Dict[Any, Tuple[int, int, str, int]] = {}  # future -> (index, attempt, event, slot)
        try:
            self._settle_ahead(ahead, [f for f in self._ahead if f.done()])
            self._drop_moot(ahead)
            for i, r in enumerate(items):
                fut = next((f for f, (rr, _n, _s) in self._ahead.items() if rr.digest == r.digest), None)
                if fut is not None:  # started ahead: this run waits for it
                    _r, name, slot = self._ahead.pop(fut)
                    waiting[fut] = (i, 1, name, slot)
                else:
                    todo.put((i, 1))
            # The items come first: builds started ahead make room for them, the newest first.
            over = len(waiting) + len(self._ahead) + todo.qsize() - self.workers
            for fut in list(self._ahead)[::-1][:max(0, over)]:
                self._drop(fut, ahead)
            not_before: Dict[int, float] = {}
            pending = len(items)
            while True:
                if self.stop_condition.requested:
                    raise Stopped(self.stop_condition.reason)
                self._submit_ready(items, labels, todo, waiting, not_before, observe)
                self._fill(ahead, waiting, observe)
                if not pending:
                    break
                if not waiting:
                    time.sleep(self._poll)
                    continue
                done = self._done(list(waiting) + list(self._ahead))
                self._settle_ahead(ahead, [f for f in done if f in self._ahead])
                for fut in done:
                    if fut not in waiting:
                        continue
                    i, attempt, name, slot = waiting.pop(fut)
                    self._running.pop(name, None)
                    self._free.append(slot)
                    outcome = self._outcome_of(fut, items[i])
                    wait = (self._retries.delay(attempt)
                            if outcome.verdict is Verdict.INFRA_ERROR else None)
                    if wait is not None:
                        self.books.retrying(slot, outcome.detail, wait)
                        not_before[i] = time.monotonic() + wait
                        todo.put((i, attempt + 1))
                        continue
                    outcomes[i] = outcome
                    self.books.finished(i, slot, items[i], outcome, attempt, on_done)
                    pending -= 1
                if done:
                    self._drop_moot(ahead)
        except BaseException:
            self._abandon(waiting)
            raise
        return [o for o in outcomes if o is not None]

    # -- inside run --------------------------------------------------------------------------
    def _fill(self, ahead: Optional[Ahead], waiting: Dict[Any, Tuple[int, int, str, int]],
              observe: bool) -> None:
        """Workers no item needs build what ``ahead`` proposes."""
        while ahead is not None and len(waiting) + len(self._ahead) < self.workers:
            busy = {r.digest for r, _n, _s in self._ahead.values()}
            r = ahead.next(busy)
            if r is None or r.digest in busy:
                return
            fut, name, slot = self._start(r, observe)
            self._ahead[fut] = (r, name, slot)
            self.books.started(slot, r, "ahead", ahead=True)

    def _settle_ahead(self, ahead: Optional[Ahead], done: List[Any]) -> None:
        """Builds started ahead that ended: their verdicts go to ``ahead`` (journaled) at once;
        an infrastructure error is no verdict and is dropped."""
        for fut in done:
            r, name, slot = self._ahead.pop(fut)
            self._running.pop(name, None)
            self._free.append(slot)
            outcome = self._outcome_of(fut, r)
            if ahead is not None and outcome.verdict is not Verdict.INFRA_ERROR:
                self.books.finished(-1, slot, r, outcome, 1, lambda _i, rr, o: ahead.finished(rr, o))

    def _drop_moot(self, ahead: Optional[Ahead]) -> None:
        for fut, (r, _n, _s) in list(self._ahead.items()):
            if ahead is None or not ahead.wanted(r.digest):
                self._drop(fut, ahead)

    def _drop(self, fut: Any, ahead: Optional[Ahead]) -> None:
        """Kill a build started ahead that no result needs (cancel = kill on its worker)."""
        r, name, slot = self._ahead.pop(fut)
        self._cancel(name, fut)
        self._free.append(slot)
        self.books.dropped(slot, r)
        if ahead is not None:
            ahead.dropped(r)

    def _done(self, futures: List[Any]) -> List[Any]:
        """The futures that finished within one poll (none when the poll ran out)."""
        try:
            return list(distributed.wait(futures, timeout=self._poll, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return []

    def _start(self, r: Resolved, observe: bool) -> Tuple[Any, str, int]:
        """Submit one build to the cluster; its future, cancel event name and slot."""
        name = f"ltobisect-cancel-{uuid.uuid4().hex}"
        kw: Dict[str, Any] = {"key": f"ltobisect-build-{r.digest[:12]}-{uuid.uuid4().hex[:8]}",
                              "pure": False}
        if self._build_memory:
            kw["resources"] = {MEMORY_RESOURCE: float(self._build_memory)}
        allowed = self._allowed_workers()
        if allowed is not None:
            kw.update(workers=allowed, allow_other_workers=False)
        fut = self._client.submit(build_task, self._spec, r, observe, name, self._expect, **kw)
        self._free.sort()
        slot = self._free.pop(0)
        self._running[name] = fut
        return fut, name, slot

    def _submit_ready(self, items: Sequence[Resolved], labels: Sequence[str],
                      todo: "queue.Queue[Tuple[int, int]]", waiting: Dict[Any, Tuple[int, int, str, int]],
                      not_before: Dict[int, float], observe: bool) -> None:
        later = []
        while len(waiting) + len(self._ahead) < self.workers and not todo.empty():
            i, attempt = todo.get()
            if not_before.get(i, 0.0) > time.monotonic():
                later.append((i, attempt))
                continue
            fut, name, slot = self._start(items[i], observe)
            waiting[fut] = (i, attempt, name, slot)
            self.books.started(slot, items[i], labels[i])
        for x in later:
            todo.put(x)

    def _outcome_of(self, fut: Any, resolved: Resolved) -> Outcome:
        """The outcome a finished task brought home (an infra error when the task failed)."""
        try:
            outcome, log = fut.result()
        except WorkerRefused as exc:
            self._refused.add(exc.worker)
            self.books.emit(Message("warning", f"{exc}: no more builds go there"))
            return Outcome(Verdict.INFRA_ERROR, detail=str(exc))
        except InfraError as exc:
            return Outcome(Verdict.INFRA_ERROR, detail=str(exc))
        except Exception as exc:  # the worker died (KilledWorker), the task was lost...
            return Outcome(Verdict.INFRA_ERROR, detail=f"{type(exc).__name__}: {exc}")
        if log:
            path = new_log(self._log_dir, resolved.digest)
            path.write_bytes(zlib.decompress(log))
            outcome = replace(outcome, log_path=str(path))
        else:
            outcome = replace(outcome, log_path=None)
        return outcome

    def _abandon(self, waiting: Dict[Any, Tuple[int, int, str, int]]) -> None:
        """No outcome of these (nor of the builds started ahead) is wanted any more: kill
        their builds, forget the tasks."""
        for fut, (_i, _a, name, slot) in list(waiting.items()):
            self._cancel(name, fut)
            self._free.append(slot)
        waiting.clear()
        for fut, (_r, name, slot) in list(self._ahead.items()):
            self._cancel(name, fut)
            self._free.append(slot)
        self._ahead.clear()

    def _cancel(self, name: str, fut: Any) -> None:
        try:
            Event(name, client=self._client).set()
        except Exception:
            pass
        try:
            fut.cancel()
        except Exception:
            pass
        self._running.pop(name, None)

    def _cancel_all(self) -> None:
        for name, fut in list(self._running.items()):
            self._cancel(name, fut)

    # -- setup -------------------------------------------------------------------------------
    def _expectation(self, spec: OracleSpec) -> Dict[str, Any]:
        """What a worker's tree and toolchain must match (the client's)."""
        if spec.build is None:
            return {"script": str(spec.script)}
        return {"makefile": makefile_hash(spec.build.tree), "toolchain": toolchain_versions(spec.build),
                "arch": spec.build.arch, "llvm": spec.build.llvm, "make": list(spec.build.make_vars)}

    def _workers_info(self) -> Dict[str, Any]:
        try:
            return dict(self._client.scheduler_info().get("workers") or {})
        except Exception as exc:
            raise InfraError(f"cannot ask the Dask scheduler for its workers: {exc}") from exc

    def _allowed_workers(self) -> Optional[List[str]]:
        if not self._refused:
            return None
        allowed = [w for w in self._workers_info() if w not in self._refused]
        if not allowed:
            raise InfraError("no worker of the cluster has the client's tree and toolchain "
                             f"(refused: {', '.join(sorted(self._refused))})")
        return allowed

    def _check_memory(self) -> None:
        if not self._build_memory:
            return
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            info = self._workers_info()
            have = [float((w.get("resources") or {}).get(MEMORY_RESOURCE, 0)) for w in info.values()]
            if any(h >= self._build_memory for h in have):
                return
            if info or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        most = max(have, default=0.0)
        raise UserError(f"no worker of the cluster offers {self._build_memory / 2**30:.1f} GiB "
                        f"({self._build_memory:.3g} bytes) of {MEMORY_RESOURCE} for a build (the "
                        f"most is {most:.3g})",
                        hint=f'start workers with --resources "{MEMORY_RESOURCE}=<bytes>", '
                             "or lower --build-memory")
