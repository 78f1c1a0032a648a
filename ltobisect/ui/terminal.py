"""The terminal the live view draws on: what it asks of the tty while it redraws."""
from __future__ import annotations

import atexit
import os
import sys
from typing import Callable, Optional


def quiet_control_echo() -> Optional[Callable[[], None]]:
    """Stop the terminal from echoing control keys (``^C``) while the view redraws, and return
    what puts it back (also run at exit); None when stdin is not a terminal.

    The echo lands wherever the cursor is: between two lines of a redraw it pushes every later
    frame down a line and leaves a second top border on screen. The view says itself that
    Ctrl-C was pressed ("stopping: ..."), so the echo tells nothing.
    """
    try:
        import termios
    except ImportError:  # not a POSIX system
        return None
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (AttributeError, OSError, ValueError, termios.error):
        return None
    done = []

    def restore() -> None:
        if not done:
            done.append(True)
            try:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
            except (OSError, termios.error):
                pass

    atexit.register(restore)
    return restore
