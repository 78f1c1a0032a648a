"""What both reductions share: their state on disk, the tools they need, a watched run.

:class:`ReduceState` is the reduction's part of the state directory, ``reduce/``: ``reduce.json``
says which steps are done and what they found (rewritten atomically after each step), and
``tests.jsonl`` keeps every finished test of the inputs' delta debugging (one fsync'd line per
test, before its verdict is used), so that a killed reduction continues where it stopped and
runs no finished test again. The attachments a maintainer gets are in ``reduced/`` beside it.

:func:`require` checks the programs a reduction needs before anything runs (one line naming the
Debian package). :func:`watched` runs a reducer (C-Vise, llvm-reduce) in its own process group,
killed on stop or at the deadline, while a thread reports the size of the file it shrinks.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence

from ltobisect import process
from ltobisect.errors import InfraError, UserError
from ltobisect.store.journal import fsync_dir, write_atomic
from ltobisect.store.state import REDUCED_DIR, StateDir

#: The reduction's own directory in the state directory, and its documents.
REDUCE_DIR = "reduce"
REDUCE_FILE = "reduce.json"
TESTS_FILE = "tests.jsonl"
#: The attachment that reruns the failure: one compile or one or two links, judged.
REPRO = "repro.sh"
#: The Debian package of each program a reduction runs (``{N}``: the LLVM release).
PACKAGES = {"cvise": "cvise", "clang": "clang-{N}", "ld.lld": "lld-{N}", "llvm-link": "llvm-{N}",
            "llvm-reduce": "llvm-{N}", "llvm-dis": "llvm-{N}", "llvm-ar": "llvm-{N}",
            "opt": "llvm-{N}", "llc": "llvm-{N}", "llvm-bcanalyzer": "llvm-{N}"}


def package_of(program: str) -> str:
    """The Debian package that installs ``program`` (``llvm-reduce-16`` -> ``llvm-16``)."""
    m = re.fullmatch(r"(.+?)-(\d+)", Path(program).name)
    name, major = (m.group(1), m.group(2)) if m else (Path(program).name, "")
    pattern = PACKAGES.get(name)
    if pattern is None:
        return name
    return pattern.format(N=major) if major else pattern.replace("-{N}", "")


def require(programs: Iterable[str], why: str) -> None:
    """Raise one UserError naming every missing program and the apt command that installs it."""
    missing = [p for p in dict.fromkeys(programs) if shutil.which(p) is None]
    if not missing:
        return
    packages = " ".join(dict.fromkeys(package_of(p) for p in missing))
    raise UserError(f"{why} needs {', '.join(missing)}, not found on PATH",
                    f"apt-get install {packages}")


class ReduceState:
    """``<work>/reduce/``: the steps done (reduce.json) and the finished tests (tests.jsonl);
    ``<state>/reduced/``: the attachments. The work directory is the state directory unless
    the session has its own (a hook's ``--out`` holds only what a CI job uploads)."""

    def __init__(self, state: Path, work: Path) -> None:
        self.state = Path(state)
        self.dir = Path(work) / REDUCE_DIR
        self.attach_dir = self.state / REDUCED_DIR
        self.doc: Dict[str, Any] = {}
        self._tests: Dict[str, bool] = {}
        self._lock = threading.Lock()

    def file(self, name: str) -> Path:
        return self.dir / name

    def load(self) -> "ReduceState":
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.file(REDUCE_FILE)
        if path.is_file():
            try:
                self.doc = json.loads(path.read_text())
            except (OSError, ValueError):
                self.doc = {}  # torn by nothing (written atomically); unreadable: start over
        tests = self.file(TESTS_FILE)
        if tests.is_file():
            for line in tests.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self._tests[str(rec["key"])] = bool(rec["shows"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by kill -9
        return self

    def save(self) -> None:
        write_atomic(self.file(REDUCE_FILE), json.dumps(self.doc, indent=2, sort_keys=True) + "\n")

    def step(self, name: str) -> Dict[str, Any]:
        """What step ``name`` recorded (empty: not done)."""
        return dict(self.doc.get("steps", {}).get(name) or {})

    def done(self, name: str, **info: Any) -> Dict[str, Any]:
        """Record step ``name`` as done with ``info`` (durable before the next step runs)."""
        info = dict(info, done=time.time())
        self.doc.setdefault("steps", {})[name] = info
        self.save()
        return info

    def forget(self, *names: str) -> None:
        for name in names:
            self.doc.get("steps", {}).pop(name, None)
        self.save()

    # -- the delta debugging's tests -------------------------------------------------------
    def known(self, key: str) -> Optional[bool]:
        with self._lock:
            return self._tests.get(key)

    def record(self, key: str, shows: bool, **info: Any) -> None:
        line = json.dumps(dict(info, key=key, shows=shows), sort_keys=True) + "\n"
        with self._lock:
            path = self.file(TESTS_FILE)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise InfraError(f"cannot write {path}: {exc.strerror or exc}") from exc
            self._tests[key] = shows

    def tests(self) -> int:
        with self._lock:
            return len(self._tests)

    def reset(self) -> None:
        """Forget everything (the session's result changed since the reduction ran)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.attach_dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        fsync_dir(self.dir.parent)
        self.doc, self._tests = {}, {}


def watched(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path,
            deadline: Optional[float], stop: threading.Event, watch: Optional[Path],
            progress: Callable[[int], None], every: float = 2.0) -> process.Finished:
    """Run ``argv`` (its own process group, killed at ``deadline`` (monotonic) or on ``stop``)
    with its output in ``log``; meanwhile call ``progress(size)`` whenever the file ``watch``
    changes size (C-Vise rewrites its test case in place; llvm-reduce's test keeps its best)."""
    done = threading.Event()

    def poll() -> None:
        last = -1
        while not done.wait(every):
            try:
                size = watch.stat().st_size if watch is not None else -1
            except OSError:
                continue
            if size != last and size >= 0:
                last = size
                progress(size)

    thread = threading.Thread(target=poll, name="reduce-progress", daemon=True)
    thread.start()
    timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
    try:
        with open(log, "ab") as sink:
            return process.run(list(argv), cwd=cwd, env=env, stdout=sink, timeout=timeout,
                               stop=stop)
    finally:
        done.set()
        thread.join(timeout=5)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def duration_of(store: StateDir) -> float:
    try:
        doc = store.read_doc()
    except Exception:
        return 0.0
    return float(doc.bad_outcome.duration) if doc.bad_outcome is not None else 0.0


