"""What the kernel and the script oracles share: slot locks, log files, running groups."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Dict, Optional

from ..build import BuildResult
from ..errors import InfraError
from ..model import Outcome, Verdict
from ..process import ProcessGroups


class Shared:
    """State shared by an oracle and its ``with_*`` copies: running groups, slot locks, log names."""

    def __init__(self) -> None:
        self.groups = ProcessGroups()
        self.lock = threading.Lock()
        self.slots: Dict[int, threading.Lock] = {}

    def slot_lock(self, slot: int) -> threading.Lock:
        with self.lock:
            return self.slots.setdefault(slot, threading.Lock())


def new_log(log_dir: Path, digest: str) -> Path:
    """A fresh ``<digest>-<n>.log`` (reserved with O_EXCL, so parallel slots never share one)."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(f"cannot create {log_dir}: {exc}") from exc
    n = 0
    while True:
        path = log_dir / f"{digest}-{n}.log"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise InfraError(f"cannot create {path}: {exc}") from exc
        os.close(fd)
        return path


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps kbuild from re-running syncconfig)."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    try:
        tmp = path.with_name(path.name + ".ltobisect-tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InfraError(f"cannot write {path}: {exc}") from exc


def infra_outcome(detail: str, result: Optional[BuildResult] = None) -> Outcome:
    return Outcome(
        verdict=Verdict.INFRA_ERROR,
        duration=result.duration if result else 0.0,
        peak_rss=result.peak_rss if result else None,
        log_path=str(result.log_path) if result else None,
        detail=detail,
        exit_code=result.exit_code if result else None,
    )
