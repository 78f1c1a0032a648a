"""What main() and every command share: the program name, the Context a command fills in for
main()'s error handling, and the one-line messages on stderr (``ltobisect: ...``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from ltobisect.ui import pick_reporter

PROG = "ltobisect"


class Context:
    """What a command tells main() for error handling: the state directory, once known."""

    def __init__(self) -> None:
        self.state: Optional[Path] = None

    def reporter(self, json_lines: bool, workers: int, plain: bool = False,
                 title: str = "ltobisect") -> Any:
        """The reporter for this terminal (or pipe)."""
        return pick_reporter(json_lines, sys.stdout, workers=workers, force_plain=plain,
                             title=title)


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
