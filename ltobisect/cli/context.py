"""What main() and every command share: the program name, the Context a command fills in for
main()'s error handling, the one-line messages on stderr (``ltobisect: ...``) and, with
``--json``, the summary line on stdout that every exit path ends with."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from ltobisect.ui.live import JsonReporter, pick_reporter

PROG = "ltobisect"

#: Options that a command calls by another name than `minimize` does. The session's own
#: messages (a state directory in use, not empty, damaged) name `minimize`'s ``--state``; the
#: hook's state directory is its ``--out``, and its user must read that.
RENAMED_OPTIONS: Dict[str, Dict[str, str]] = {"hook": {"--state": "--out"}}

#: The renames of the command being run (set through :attr:`Context.command`); every line on
#: stderr and the summary's message and hint go through :func:`own_words`.
_renamed: Dict[str, str] = {}


def own_words(text: str) -> str:
    """``text`` with the options named as the running command calls them (a whole word only:
    a path such as ``/tmp/my--state`` is left alone)."""
    for old, new in _renamed.items():
        text = re.sub(rf"(?<![\w./-]){re.escape(old)}(?![\w-])", new, text)
    return text


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
        self._command: Optional[str] = None
        _renamed.clear()

    @property
    def command(self) -> Optional[str]:
        """The command being run (``hook``...), once the command line is parsed."""
        return self._command

    @command.setter
    def command(self, name: Optional[str]) -> None:
        self._command = name
        _renamed.clear()
        _renamed.update(RENAMED_OPTIONS.get(name or "", {}))

    def reporter(self, json_lines: bool, workers: int, plain: bool = False,
                 title: str = "ltobisect") -> Any:
        """The reporter for this terminal (or pipe)."""
        self.json = self.json or json_lines
        self._reporter = pick_reporter(json_lines, sys.stdout, workers=workers, force_plain=plain,
                                       title=title, wording=own_words)
        return self._reporter

    def summary(self, status: str, exit_code: int, message: str, hint: str = "") -> None:
        """With ``--json``, the summary line of an exit path that ended before the session's
        own (bad input, a state directory in use, an error, Ctrl-C); nothing when the session
        wrote its summary already, or without ``--json``."""
        if not self.json or getattr(self._reporter, "finished", False):
            return
        state = str(self.state) if self.state is not None else None
        try:
            JsonReporter(sys.stdout, wording=own_words).finish(
                status, exit_code, message=message, hint=hint, state_dir=state)
        except Exception:  # stdout is gone: the exit code and the line on stderr remain
            pass


#: A command: its parsed options and the Context in, the exit code out.
Command = Callable[[argparse.Namespace, Context], int]


def note(message: str) -> None:
    """One line on stderr: ``ltobisect: <message>``."""
    try:
        sys.stderr.write(f"{PROG}: {own_words(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def fail(message: str) -> None:
    """The one line of an error: ``ltobisect: error: <what> (<what to do>)``."""
    note(f"error: {message}")
