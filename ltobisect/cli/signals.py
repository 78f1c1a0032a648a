"""Ctrl-C, SIGTERM and the budget's timers while a session runs: the first Ctrl-C asks the session
to stop cleanly, a second one kills it. The session stops itself before its budget runs out (its
stop condition); if it has not returned at the budget it is interrupted, and at last the process
exits. Nothing here knows what a session is: it is handed
a ``stop(reason)`` and told what to show on the first press."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, List, Optional

from ltobisect.cli.context import PROG
from ltobisect.errors import ExitCode


#: The signals that stop a session like Ctrl-C (a closed terminal, a job killed politely), and
#: how the stop reason names them.
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Interrupts:
    """Ctrl-C once: ask the session to stop cleanly. Twice: raise KeyboardInterrupt (kill).
    SIGTERM and SIGHUP count as Ctrl-C, and the stop reason names the signal.

    A budget watchdog uses the same path: a session that has not returned at its budget (it asks
    itself to stop a little before) is interrupted in the main thread, so a hook never runs past
    its budget.
    """

    def __init__(self, stop: Callable[[str], None], on_first: Callable[[], None],
                 state: str = "the state directory",
                 last_words: Optional[Callable[[str, int, str], None]] = None) -> None:
        """``last_words(status, exit_code, message)`` is called just before the process exits
        here without returning (the --json summary line); it must not take locks."""
        self.stop = stop
        self._last_words = last_words
        self.on_first = on_first
        self.presses = 0
        self.hard = False  # the budget ran out: the outcome is partial, not killed
        self.killed = False  # Ctrl-C pressed twice
        self._old: dict = {}
        self._signal = "Ctrl-C"
        self._timers: List[threading.Timer] = []
        self._state = state

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self._timers:
            t.cancel()
        if not self._old:
            return
        if self.presses and not self.hard:
            # The clean stop may finish before the user's second press lands: from here on a
            # second Ctrl-C still means "killed", never Python's default traceback.
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._late)
            return
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _late(self, signum: int, frame: object) -> None:
        self._exit("killed", ExitCode.INTERRUPTED,
                   f"killed by a second Ctrl-C; the journal is intact: `ltobisect resume {self._state}`")

    def _exit(self, status: str, code: int, message: str) -> None:
        """The one-line error, the summary line when asked for, and the exit, right now."""
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.stderr.flush()
        if self._last_words is not None:
            try:
                self._last_words(status, int(code), message)
            except Exception:
                pass
        os._exit(code)

    def _handle(self, signum: int, frame: object) -> None:
        self.presses += 1
        if self.presses == 1:
            self._signal = STOP_SIGNALS.get(signal.Signals(signum), "a signal")
        if self.presses == 1 and not self.hard:
            # Not here: the handler runs in the main thread between two bytecodes, possibly while
            # that thread holds the executor's or the reporter's lock.
            threading.Thread(target=self._first, name="ltobisect-stop", daemon=True).start()
            return
        if not self.hard:
            self.killed = True
        raise KeyboardInterrupt

    def _first(self) -> None:
        self.on_first()
        self.stop(f"interrupted ({self._signal})")

    def watchdog(self, budget: float) -> None:
        """The last resort at ``budget`` seconds from now, whatever the session is doing.

        The session stops itself a little before its deadline (its
        :class:`~ltobisect.limits.StopCondition`); this only acts on a session that did not:
        at the budget it interrupts the main thread, ten seconds later it exits the process.
        """
        if budget + 10.0 >= threading.TIMEOUT_MAX:
            return  # no timer waits that long (the command line takes at most a year)
        hard = threading.Timer(budget, self._expire)
        last = threading.Timer(budget + 10.0, self._die)
        for t in (hard, last):
            t.daemon = True
            t.start()
            self._timers.append(t)

    def _expire(self) -> None:
        self.hard = True
        self.presses = max(self.presses, 1)
        # A real signal to the main thread, so a blocking wait there returns (EINTR) and the
        # handler runs; _thread.interrupt_main() would wait for that thread to wake up by itself.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def _die(self) -> None:
        self._exit("partial", ExitCode.PARTIAL, "budget exceeded and the session did not stop; "
                   f"exiting (the best result so far is in {self._state})")
