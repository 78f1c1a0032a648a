"""The worker's side of a farm build: check the tree and toolchain, claim a warm build
directory, build while watching the cancel event, send the outcome and the log back."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Tuple

from distributed import Event, get_worker

from ltobisect.build import toolchain_versions
from ltobisect.errors import InfraError
from ltobisect.model import Outcome, Resolved, Verdict
from ltobisect.oracle import Oracle, OracleSpec, make_oracle
from ltobisect.oracle.kernel import makefile_hash

#: How often a running build looks at its cancel event (seconds).
CANCEL_POLL = 0.5


class WorkerRefused(InfraError):
    """A worker whose tree or toolchain is not the client's; ``worker`` is its address."""

    def __init__(self, worker: str, reason: str) -> None:
        super().__init__(f"worker {worker}: {reason}")
        self.worker = worker
        self.reason = reason

    def __reduce__(self) -> Any:  # travels back from the worker with its fields
        return (WorkerRefused, (self.worker, self.reason))


def farm_root() -> Path:
    """Where a worker keeps its build directories (outside Dask's purged local directory)."""
    root = os.environ.get("LTOBISECT_FARM_DIR")
    return Path(root) if root else Path.home() / ".cache" / "ltobisect" / "farm"


def tree_on_worker(tree: Path) -> Path:
    """The worker's copy of the client's ``tree`` (``$LTOBISECT_TREE_MAP``, else the same path)."""
    for pair in filter(None, os.environ.get("LTOBISECT_TREE_MAP", "").split(":")):
        client_path, _, worker_path = pair.partition("=")
        if worker_path and Path(client_path) == Path(tree):
            return Path(worker_path)
    return Path(tree)


def _claim(base: Path) -> Tuple[Path, int]:
    """The first build directory under ``base`` no other build holds (flock), and its lock."""
    base.mkdir(parents=True, exist_ok=True)
    k = 0
    while True:
        d = base / f"slot-{k}"
        d.mkdir(exist_ok=True)
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return d, fd
        except OSError:
            os.close(fd)
            k += 1


def _release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def build_task(spec: OracleSpec, resolved: Resolved, observe: bool, cancel: str,
               expect: Dict[str, Any]) -> Tuple[Outcome, bytes]:
    """One build on a Dask worker: the outcome and the compressed log. Raises
    :class:`WorkerRefused` when this worker's tree or toolchain is not the client's."""
    worker = get_worker()
    local = _on_this_worker(spec, expect, worker.address)
    # One set of build directories per tree (where it is on this worker: an O= directory's
    # dependency files name the tree's path) and toolchain.
    tree = str(Path(local.build.tree).resolve()) if local.build is not None else ""
    key = hashlib.sha256(json.dumps([expect, tree], sort_keys=True).encode()).hexdigest()[:16]
    work, lock = _claim(farm_root() / key)
    try:
        oracle = make_oracle(replace(local, work_dir=work, workers=max(1, worker.state.nthreads)))
        outcome = _watched(oracle, resolved, observe, Event(cancel))
        log = b""
        if outcome.log_path:
            try:
                log = zlib.compress(Path(outcome.log_path).read_bytes(), 6)
            except OSError:
                log = b""
        if outcome.verdict is Verdict.INFRA_ERROR:
            outcome = replace(outcome, detail=f"worker {worker.address}: {outcome.detail}")
        return outcome, log
    finally:
        _release(lock)


def _on_this_worker(spec: OracleSpec, expect: Dict[str, Any], worker: str) -> OracleSpec:
    """``spec`` with this worker's tree and ccache, once its tree and toolchain are checked."""
    if spec.build is None:
        return spec
    tree = tree_on_worker(spec.build.tree)
    if not (tree / spec.build.kconfig_file).is_file():
        raise WorkerRefused(worker, f"no tree at {tree} (set LTOBISECT_TREE_MAP there)")
    if makefile_hash(tree) != expect.get("makefile"):
        raise WorkerRefused(worker, f"the tree at {tree} is another version than the client's")
    build = replace(spec.build, tree=tree,
                    ccache_dir=Path(os.environ.get("CCACHE_DIR") or farm_root() / "ccache"))
    here = toolchain_versions(build)
    if here != expect.get("toolchain"):
        raise WorkerRefused(worker, f"its compiler or linker is not the client's ({here})")
    return replace(spec, build=build)


def _watched(oracle: Oracle, resolved: Resolved, observe: bool, flag: Any) -> Outcome:
    """Build while the task's own thread watches the cancel event (a Dask Event works only in
    the task's context); a set event kills the build's process group."""
    result: List[Any] = []

    def build() -> None:
        try:
            result.append(oracle.observe(resolved, 0) if observe else oracle.test(resolved, 0))
        except BaseException as exc:  # handed to the task's thread, raised there
            result.append(exc)

    builder = threading.Thread(target=build, name="ltobisect-build", daemon=True)
    builder.start()
    while builder.is_alive():
        try:
            cancelled = flag.wait(CANCEL_POLL)
        except Exception:
            cancelled = False  # the scheduler is gone: Dask forgets the task anyway
            builder.join(CANCEL_POLL)
        if cancelled:
            oracle.close()  # kills the build's process group
            builder.join()
    builder.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]
