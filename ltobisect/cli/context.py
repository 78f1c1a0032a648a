"""What main() and every command share: the program name, the Context a command fills in for
main()'s error handling, the one-line messages on stderr (``ltobisect: ...``) and, with
``--json``, the summary line on stdout that every exit path ends with."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ltobisect.ui import JsonReporter, pick_reporter

PROG = "ltobisect"


def wants_json(argv: Sequence[str]) -> bool:
    """``--json`` is among the words (or an abbreviation argparse takes for it, ``--js``)."""
    for word in argv:
        if word == "--":
            return False
        if word == "--json" or (len(word) >= 4 and "--json".startswith(word)):
            return True
    return False


class Context:
    """What a command tells main() for error handling: the state directory, once known, and
    whether the run's summary line is still owed on stdout (``--json``)."""

    def __init__(self, json_lines: bool = False) -> None:
        self.state: Optional[Path] = None
        #: ``--json`` was given: every exit path ends with one summary line on stdout.
        self.json = json_lines
        self._reporter: Any = None

    def reporter(self, json_lines: bool, workers: int, plain: bool = False,
                 title: str = "ltobisect") -> Any:
        """The reporter for this terminal (or pipe)."""
        self.json = self.json or json_lines
        self._reporter = pick_reporter(json_lines, sys.stdout, workers=workers, force_plain=plain,
                                       title=title)
        return self._reporter

    def summary(self, status: str, exit_code: int, message: str, hint: str = "") -> None:
        """With ``--json``, the summary line of an exit path that ended before the session's
        own (bad input, a state directory in use, an error, Ctrl-C); nothing when the session
        wrote its summary already, or without ``--json``."""
        if not self.json or getattr(self._reporter, "finished", False):
            return
        state = str(self.state) if self.state is not None else None
        try:
            JsonReporter(sys.stdout).finish(status, exit_code, message=message, hint=hint,
                                            state_dir=state)
        except Exception:  # stdout is gone: the exit code and the line on stderr remain
            pass


#: A command: its parsed options and the Context in, the exit code out.
Command = Callable[[argparse.Namespace, Context], int]


def note(message: str) -> None:
    """One line on stderr: ``ltobisect: <message>``."""
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def fail(message: str) -> None:
    """The one line of an error: ``ltobisect: error: <what> (<what to do>)``."""
    note(f"error: {message}")
