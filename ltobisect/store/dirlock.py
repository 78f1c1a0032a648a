"""A directory a run writes into and holds: the write probe and the lock.

The state directory and the work directory (:class:`ltobisect.store.state.StateDir`) are each held by
one run at a time, with ``flock`` on a ``.lock`` file inside them; the holder removes the file
when it lets go, so no empty ``.lock`` is left among the artifacts a CI job uploads. The probe
writes and fsyncs a file, because permission bits do not tell (root, a read-only mount, a full
disk).
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Optional

from ltobisect.errors import UserError

LOCK_FILE = ".lock"


def write_problem(path: Path) -> Optional[OSError]:
    """Why a file cannot be written in ``path`` (created if missing), or None when it can."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe{os.getpid()}"
        with open(probe, "w") as f:
            f.write("ok")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return exc
    return None


def check_writable(path: Path, what: str, hint: str) -> None:
    """UserError naming ``what`` when ``path`` cannot be written (see :func:`write_problem`)."""
    exc = write_problem(path)
    if exc is not None:
        reason = "disk full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise UserError(f"cannot write to {what} {path}: {reason}", hint=hint) from exc


def lock(path: Path, what: str, option: str) -> int:
    """flock ``path/.lock`` without waiting; its descriptor, or UserError naming the holder.

    The holder removes the file when it lets go (:func:`unlock`), so no empty ``.lock`` is left
    among the artifacts a CI job uploads. A run that opened the file just before it was removed
    holds a lock on a file no one else can see: it checks that the file it locked is still the
    one at the path, and tries again otherwise.
    """
    for _ in range(100):
        try:
            fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot lock {what} {path}: {exc.strerror}",
                            hint=f"choose another {option}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise UserError(f"another ltobisect is running on {path}",
                            hint=f"wait for it, or choose another {option}") from exc
        try:
            same = os.stat(path / LOCK_FILE).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # removed by the run that held it: lock the new file
    raise UserError(f"cannot lock {what} {path}: its lock file keeps changing",
                    hint=f"choose another {option}")


def unlock(path: Path, fd: int) -> None:
    """Remove ``path/.lock`` (still holding it), then let go of it."""
    try:
        os.unlink(path / LOCK_FILE)
    except OSError:
        pass  # a read-only or vanished directory: the lock still ends with the descriptor
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
