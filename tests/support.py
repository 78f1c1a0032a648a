"""What every test file may share: waiting for a condition, and a requirement that is missing.

- :func:`wait_until`: a test that must wait for something (a process to start, a file to be
  written, a build to be killed) polls for that very condition with a deadline and fails at the
  deadline saying what never happened. A fixed ``time.sleep`` is never a way to wait: it is
  too short on a loaded machine and wasted time on a fast one.
- :class:`Lines`: the lines a subprocess writes, read by a thread, so that a test can wait for
  one of them with a deadline (iterating over ``proc.stdout`` blocks without one).
- :func:`missing`: a program, module or capability a test needs is not there: skipped when run
  by hand, failed under CI (``LTOBISECT_REQUIRE_KERNEL=1``, set by ``scripts/bootstrap test``,
  which installs everything), where a silent skip would hide a broken setup.
  ``@pytest.mark.needs("prog", ...)`` (tests/conftest.py) is the same for programs on PATH.
"""
from __future__ import annotations

import os
import threading
import time
from typing import IO, Callable, List, Optional, TypeVar

import pytest

T = TypeVar("T")

#: Seconds between two looks at a condition.
POLL = 0.05


def wait_until(predicate: Callable[[], T], timeout: float, what: str,
               interval: float = POLL) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns something true, and
    return that; fail the test after ``timeout`` seconds with "waited N s for WHAT".

    ``timeout`` is a guard against a hang, never a measure of speed: make it generous. The
    predicate may itself fail the test (an assertion) when waiting became pointless, such as
    the process that should get there having ended.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            pytest.fail(f"waited {timeout:g} s for {what}, in vain")
        time.sleep(interval)


class Lines:
    """Every line of ``stream`` (a subprocess's text stdout or stderr), read by a daemon thread
    until the end of the stream; :meth:`wait_for` waits for a line containing a text."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: List[str] = []
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                with self._lock:
                    self.lines.append(line)
        finally:
            self._ended.set()

    def text(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def find(self, needle: str) -> Optional[str]:
        with self._lock:
            return next((line for line in self.lines if needle in line), None)

    def wait_for(self, needle: str, timeout: float) -> str:
        """The first line containing ``needle``, once written; fail the test if the stream
        ends without it, or after ``timeout`` seconds."""
        def seen() -> Optional[str]:
            line = self.find(needle)
            if line is None and self._ended.is_set():
                pytest.fail(f"the output ended without {needle!r}:\n{self.text()[-3000:]}")
            return line
        return wait_until(seen, timeout, f"a line with {needle!r}")

    def rest(self, timeout: float) -> str:
        """Everything, once the stream has ended (the process closed it)."""
        if not self._ended.wait(timeout):
            pytest.fail(f"the output did not end in {timeout:g} s")
        self._thread.join(timeout)
        return self.text()


def missing(reason: str, *, module: bool = False) -> None:
    """A requirement is missing: skip by hand, fail under CI (see the module docstring).
    ``module=True`` at a test module's top level (pytest skips a whole module only when told)."""
    if os.environ.get("LTOBISECT_REQUIRE_KERNEL") == "1":
        pytest.fail(reason + " (LTOBISECT_REQUIRE_KERNEL=1: run scripts/bootstrap test)")
    pytest.skip(reason, allow_module_level=module)
