"""Module fixtures that start with the session and run in the background.

The real-kernel minimizations (tests/test_e2e_kernel*.py) are most of the default run's wall
time, and much of that is one core waiting on another: make walking the tree, lld linking,
while the rest of the suite is mostly one Python process. So a module fixture marked
``@background.fixture`` starts when the session does, in a thread of its own, and the commands
it runs through :func:`run` go at a lower CPU priority than the tests in the foreground. Its
module's tests are moved to the end of the run, where they wait for its result.

- Its arguments must be session fixtures (a kernel tree, the ccache, ``tmp_path_factory``,
  ``pytestconfig``): they are resolved in the main thread when the session starts. When one of
  them skips or fails (no kernel tree), nothing starts early: the fixture runs the ordinary way
  when its module's first test asks for it, and the skip or failure lands on its tests.
- What it shows through :func:`later` is shown when its module's first test takes the result,
  in the main thread (pytest's capture, which such an action may step past, is not
  thread-safe).
- A command still running when the session ends (Ctrl-C, ``-x``) has its process group killed.
- Its commands' timeouts are guards against a hang, not measures: in the background they share
  the machine with the whole suite, so give them room (the e2e runs: 75 minutes).
- Without a session start (the fixture asked for by a test run alone, or the module imported
  elsewhere), it is an ordinary module fixture.
"""
from __future__ import annotations

import inspect
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import pytest

NICENESS = 10  # below the foreground's tests, above nothing: the background gets the idle CPU

Key = Tuple[str, str]  # (module, fixture name)


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: Optional[BaseException] = None
    deferred: List[Callable[[], None]] = field(default_factory=list)


_REGISTRY: Dict[Key, Tuple[Callable[..., Any], List[str]]] = {}
_JOBS: Dict[Key, _Job] = {}
_RUNNING: Set[subprocess.Popen] = set()
_LOCK = threading.Lock()
_HERE = threading.local()


def fixture(fn: Callable[..., Any]):
    """A module-scoped fixture that the session starts early, in the background."""
    key = (fn.__module__, fn.__name__)
    params = list(inspect.signature(fn).parameters)
    _REGISTRY[key] = (fn, params)

    @pytest.fixture(scope="module", name=fn.__name__)
    def wrapper(request):
        job = _JOBS.get(key)
        if job is None:
            return fn(**_inputs(request, params))
        job.done.wait()  # the job's commands carry their own timeouts
        for action in job.deferred:
            action()
        job.deferred.clear()
        if job.error is not None:
            raise job.error
        return job.result

    wrapper.__doc__ = fn.__doc__
    return wrapper


def in_background() -> bool:
    return getattr(_HERE, "job", None) is not None


def later(action: Callable[[], None]) -> None:
    """Do ``action`` now in the foreground; in the background, when the result is taken."""
    job = getattr(_HERE, "job", None)
    if job is None:
        action()
    else:
        job.deferred.append(action)


def run(cmd: Sequence[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)``; in the background at a lower CPU
    priority, in a process group of its own that the session's end kills if still running."""
    if not in_background():
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kwargs)
    proc = subprocess.Popen(["nice", "-n", str(NICENESS), *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)
    with _LOCK:
        _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise
    finally:
        with _LOCK:
            _RUNNING.discard(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def order_last(items: list) -> None:
    """Move the tests that wait on a background fixture to the end (stable otherwise)."""
    items.sort(key=lambda item: bool(_wanted_by(item)))


def start(request) -> None:
    """Start every registered fixture that a selected test asks for (the session's start)."""
    wanted: List[Key] = []
    for item in request.session.items:
        for key in _wanted_by(item):
            if key not in wanted:
                wanted.append(key)
    for key in wanted:
        fn, params = _REGISTRY[key]
        try:
            kwargs = _inputs(request, params)
        except (Exception, pytest.skip.Exception, pytest.fail.Exception):
            continue  # the ordinary way: the module's tests see the skip or failure
        job = _Job()
        _JOBS[key] = job
        threading.Thread(target=_work, args=(job, fn, kwargs), name=f"background {key[1]}",
                         daemon=True).start()


def stop() -> None:
    """The session's end: kill what the background still runs."""
    with _LOCK:
        running = list(_RUNNING)
    for proc in running:
        _kill(proc)
    _JOBS.clear()


def _inputs(request, params: Sequence[str]) -> Dict[str, Any]:
    return {p: request.getfixturevalue(p) for p in params}


def _wanted_by(item) -> List[Key]:
    module = getattr(getattr(item, "module", None), "__name__", None)
    return [(module, name) for name in getattr(item, "fixturenames", ())
            if (module, name) in _REGISTRY]


def _work(job: _Job, fn: Callable[..., Any], kwargs: Dict[str, Any]) -> None:
    _HERE.job = job
    try:
        job.result = fn(**kwargs)
    except BaseException as exc:  # handed to the tests that take the result
        job.error = exc
    finally:
        _HERE.job = None
        job.done.set()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
