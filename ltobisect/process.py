"""Run a command in its own process group, measure its peak memory, kill the whole group.

``make -j`` forks compilers that outlive a plain kill of make, so every command runs in a new
session (process group) and a kill is always of the whole group: SIGTERM, then SIGKILL after a
grace period. :data:`ALL` holds every group started here; they are killed at interpreter exit.

Peak memory: a sampler polls ``/proc`` every :data:`SAMPLE_INTERVAL` seconds and sums the
resident set of every process in the group; the peak of that sum is the footprint (``make -j2``
runs two compilers at once). ``resource.getrusage(RUSAGE_CHILDREN)`` is no use: it is cumulative
over every child this process ever reaped and its ``ru_maxrss`` is the largest single process.
``os.wait4``'s ``ru_maxrss`` of the command (the largest single process of its tree, exact even
for a spike shorter than the poll interval, e.g. a linker) is taken too, and the larger of the
two reported, but only above this process's own high-water mark: the command starts as a
(v)fork of this process, and Linux keeps that mark in the child's ``ru_maxrss`` across exec, so
a value at or below it may be ours, not the command's (ltobisect with a kernel's Kconfig loaded
holds hundreds of MB). A memory limit is enforced by the same sampler (no cgroups needed).
"""
from __future__ import annotations

import atexit
import os
import resource
import select
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

#: Seconds between SIGTERM and SIGKILL when a group is killed; the whole kill takes < 5 s.
TERM_GRACE = 1.5
#: Seconds between two samples of the process group's memory.
SAMPLE_INTERVAL = 0.2
#: The first pause of the sampling loop (it doubles up to SAMPLE_INTERVAL).
FIRST_SAMPLE = 0.005


def _proc(pid: str, what: str) -> Optional[bytes]:
    """``/proc/<pid>/<what>``, or ``None`` when the process is gone or not ours to read."""
    try:
        with open(f"/proc/{pid}/{what}", "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _pids() -> List[str]:
    try:
        return [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def group_members(pgid: int) -> Dict[int, int]:
    """pid -> resident bytes of every live process whose process group is ``pgid``."""
    page = os.sysconf("SC_PAGE_SIZE")
    out: Dict[int, int] = {}
    for name in _pids():
        raw = _proc(name, "stat")
        if raw is None:
            continue
        stat = raw.decode("ascii", "replace")
        rest = stat[stat.rfind(")") + 2:].split()
        # fields after "(comm)": state ppid pgrp session ... rss is field 24 overall = rest[21]
        if len(rest) > 21 and rest[2] == str(pgid) and rest[0] != "Z":
            out[int(name)] = int(rest[21]) * page
    return out


def groups_with_env(name: str, prefixes: Sequence[str]) -> Set[int]:
    """The process groups, other than ours, of the processes whose environment variable
    ``name`` is one of the directories ``prefixes`` (each ending in ``/``) or lies under one
    (the builds or reducers a killed run left behind)."""
    key = name.encode() + b"="
    groups: Set[int] = set()
    for pid in _pids():
        if int(pid) == os.getpid():
            continue
        raw = _proc(pid, "environ")
        value = next((kv[len(key):] for kv in (raw or b"").split(b"\0") if kv.startswith(key)), None)
        if value is None or not (value.decode(errors="replace") + os.sep).startswith(tuple(prefixes)):
            continue
        try:
            pgid = os.getpgid(int(pid))
        except OSError:
            continue
        if pgid != os.getpgrp():
            groups.add(pgid)
    return groups


def kill_left_in(directory: Path) -> int:
    """Kill every process group a killed run left working with ``directory`` as its TMPDIR
    (or below it); how many there were. A kill -9 of ltobisect cannot take the commands it
    started with it: each runs in a group of its own."""
    groups = groups_with_env("TMPDIR", {str(directory) + os.sep, str(Path(directory).resolve()) + os.sep})
    for pgid in groups:
        kill_group(pgid, grace=0.5)
    return len(groups)


def kill_group(pgid: int, grace: float = TERM_GRACE) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not group_members(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessGroups:
    """The process groups running now, so that they can all be killed from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: Set[int] = set()
        self._killed: Set[int] = set()
        self._tags: Dict[int, int] = {}  # group -> the slot that started it
        self._closed = False

    def add(self, pgid: int, tag: Optional[int] = None) -> None:
        """A group started (for ``tag``: a slot, see :meth:`tagged`); after :meth:`kill_all`
        with ``close`` it is killed at once."""
        with self._lock:
            self._groups.add(pgid)
            if tag is not None:
                self._tags[pgid] = tag
            if self._closed:
                self._killed.add(pgid)
        if self._closed:
            kill_group(pgid)

    def discard(self, pgid: int) -> None:
        """Forget a finished group (its id may be reused by a later process)."""
        with self._lock:
            self._groups.discard(pgid)
            self._killed.discard(pgid)
            self._tags.pop(pgid, None)

    def tagged(self, tag: int) -> "TaggedGroups":
        """These groups as seen by one slot: what it starts carries ``tag``, so that
        :meth:`kill_tagged` stops that slot's build and no other."""
        return TaggedGroups(self, tag)

    def kill_tagged(self, tag: int) -> None:
        """Kill the running groups started with ``tag`` (TERM, then KILL); later ones run."""
        with self._lock:
            groups = [g for g, t in self._tags.items() if t == tag and g in self._groups]
            self._killed.update(groups)
        _kill_each(groups)

    def was_killed(self, pgid: int) -> bool:
        """Whether :meth:`kill_all` killed the group."""
        with self._lock:
            return pgid in self._killed

    @property
    def closed(self) -> bool:
        return self._closed

    def kill_all(self, close: bool = True) -> None:
        """Kill every running group (TERM, then KILL); with ``close`` later ones die at start."""
        with self._lock:
            if close:
                self._closed = True
            groups = list(self._groups)
            self._killed.update(groups)
        _kill_each(groups)


class TaggedGroups:
    """One slot's view of :class:`ProcessGroups` (what :func:`run` takes as ``groups``)."""

    def __init__(self, groups: ProcessGroups, tag: int) -> None:
        self._groups = groups
        self._tag = tag

    def add(self, pgid: int) -> None:
        self._groups.add(pgid, self._tag)

    def discard(self, pgid: int) -> None:
        self._groups.discard(pgid)

    def was_killed(self, pgid: int) -> bool:
        return self._groups.was_killed(pgid)

    @property
    def closed(self) -> bool:
        return self._groups.closed


#: What :func:`run` registers a group with: all of them, or one slot's view.
Groups = Union[ProcessGroups, TaggedGroups]


def _kill_each(groups: Sequence[int]) -> None:
    """Kill the groups at once, each TERM then KILL, and wait for them."""
    threads = [threading.Thread(target=kill_group, args=(g,), daemon=True) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TERM_GRACE + 3)


#: Every group started by :func:`run`, killed at interpreter exit.
ALL = ProcessGroups()
atexit.register(ALL.kill_all)


@dataclass(frozen=True)
class Finished:
    """How a command run by :func:`run` ended.

    ``pgid`` is the process group (the first process's pid). ``status`` is the wait status.
    ``timed_out`` and ``oom``: we killed it for the wall-clock or
    the memory limit; ``killed_by_us`` is true for those, for ``stop`` and for
    :meth:`ProcessGroups.kill_all`. ``peak_rss`` in bytes, None when nothing was measured.
    """

    pgid: int
    status: int
    duration: float
    peak_rss: Optional[int]
    timed_out: bool = False
    oom: bool = False
    killed_by_us: bool = False

    @property
    def exit_code(self) -> Optional[int]:
        """The exit status; None when a signal ended it."""
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> Optional[int]:
        """The signal that ended it, or None."""
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None


class _Watch:
    """The sampling loop of :func:`run` and what it saw."""

    def __init__(self) -> None:
        self.status: Optional[int] = None
        self.rusage = None
        self.peak = 0
        self.timed_out = self.oom = self.stopped = False

    def until_exit(self, pid: int, deadline: Optional[float], mem_limit: Optional[int],
                   stop: Optional[threading.Event]) -> None:
        """Sample the group (its pgid is ``pid``) until the leader exits or a limit is hit.

        The first samples come quickly and the interval doubles up to :data:`SAMPLE_INTERVAL`;
        between samples it waits on the leader's pidfd, so a short command (a Kconfig probe,
        git, a config target) returns the moment it ends, not at the next sample."""
        pause = FIRST_SAMPLE
        try:
            exited = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here: sleep between samples
            exited = None
        try:
            self._until_exit(pid, deadline, mem_limit, stop, pause, exited)
        finally:
            if exited is not None:
                os.close(exited)

    def _until_exit(self, pid: int, deadline: Optional[float], mem_limit: Optional[int],
                    stop: Optional[threading.Event], pause: float, exited: Optional[int]) -> None:
        if exited is not None:  # most commands of a Kconfig load end before a first sample
            select.select([exited], [], [], pause)
        while True:
            got, status, rusage = os.wait4(pid, os.WNOHANG)
            if got == pid:
                self.status, self.rusage = status, rusage
                return
            total = sum(group_members(pid).values())
            self.peak = max(self.peak, total)
            if deadline is not None and time.monotonic() >= deadline:
                self.timed_out = True
                return
            if mem_limit is not None and total > mem_limit:
                self.oom = True
                return
            if stop is not None and stop.is_set():
                self.stopped = True
                return
            if exited is None:
                time.sleep(pause)
            else:
                select.select([exited], [], [], pause)
            pause = min(SAMPLE_INTERVAL, pause * 2)


def run(argv: Sequence[str], *, cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
        stdout: Optional[IO[bytes]] = None, timeout: Optional[float] = None,
        mem_limit: Optional[int] = None, groups: Optional[Groups] = None,
        stop: Optional[threading.Event] = None, stderr: Optional[IO[bytes]] = None) -> Finished:
    """Run ``argv`` in a new process group until it exits; measure and bound it.

    Its stdin is empty; stdout and stderr go to ``stdout`` (inherited when None), stderr to
    ``stderr`` instead when given. The whole
    group is killed when ``timeout`` seconds pass, when the group's memory exceeds
    ``mem_limit`` bytes, when ``stop`` is set, or by ``groups`` / :data:`ALL`; a group left
    behind by a leader that exited is killed too. Raises :class:`OSError` when it cannot start.
    """
    start = time.monotonic()
    ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # see the module docstring
    proc = subprocess.Popen(
        list(argv), cwd=None if cwd is None else str(cwd), env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL, stdout=stdout,
        stderr=stderr if stderr is not None else None if stdout is None else subprocess.STDOUT,
        start_new_session=True,
    )
    pgid = proc.pid
    ALL.add(pgid)
    if groups is not None:
        groups.add(pgid)
    watch = _Watch()
    try:
        watch.until_exit(proc.pid, None if timeout is None else start + timeout, mem_limit, stop)
    finally:
        if watch.status is None:
            kill_group(pgid)
            _, watch.status, watch.rusage = os.wait4(proc.pid, 0)
        elif group_members(pgid):
            # The leader exited; children that ignored it (rare) must not outlive it.
            kill_group(pgid, grace=0.5)
        proc.returncode = os.waitstatus_to_exitcode(watch.status)
        killed = (watch.timed_out or watch.oom or watch.stopped
                  or (groups is not None and groups.was_killed(pgid)) or ALL.was_killed(pgid))
        ALL.discard(pgid)
        if groups is not None:
            groups.discard(pgid)
    rusage, sampled_peak, status = watch.rusage, watch.peak, watch.status
    exact = rusage.ru_maxrss * 1024 if rusage is not None else 0
    peak = max(sampled_peak, exact if exact > ours else 0) or None
    return Finished(pgid=pgid, status=status, duration=time.monotonic() - start, peak_rss=peak,
                    timed_out=watch.timed_out, oom=watch.oom, killed_by_us=killed)


def capture(argv: Sequence[str], *, cwd: Optional[Path] = None,
            env: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None,
            stop: Optional[threading.Event] = None) -> Tuple[int, str]:
    """Run ``argv`` as :func:`run` does (its own process group, bounded by ``timeout``, killed on
    ``stop`` or at exit) and return its exit status and output (stdout and stderr together).
    The status is -1 when we killed it (the timeout, a stop) or a signal ended it. Raises
    :class:`OSError` when it cannot start."""
    with tempfile.TemporaryFile() as out:
        done = run(argv, cwd=cwd, env=env, stdout=out, timeout=timeout, stop=stop)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return _status(done), text


def outputs(argv: Sequence[str], *, cwd: Optional[Path] = None,
            env: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None,
            stop: Optional[threading.Event] = None) -> Tuple[int, str, str]:
    """:func:`capture` with stdout and stderr apart: the exit status (-1 when we killed it or a
    signal ended it), stdout, stderr. Raises :class:`OSError` when it cannot start."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = run(argv, cwd=cwd, env=env, stdout=out, stderr=err, timeout=timeout, stop=stop)
        out.seek(0)
        err.seek(0)
        texts = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return _status(done), texts[0], texts[1]


def _status(done: Finished) -> int:
    """The exit status :func:`capture` and :func:`outputs` give: -1 when we killed the command
    (a timeout, a stop) or a signal ended it."""
    code = done.exit_code
    return code if code is not None and not done.killed_by_us else -1
