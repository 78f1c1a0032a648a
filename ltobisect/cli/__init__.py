"""The command line: parse, check the input, build a SessionConfig, pick a reporter, map the outcome.

Nothing here searches or builds. Every check that can be made before the first build is made here,
so bad input costs a second, not a kernel build: each one ends in a single line
``ltobisect: error: <what is wrong> (<what to do>)`` on stderr and a documented exit code
(:class:`~ltobisect.errors.ExitCode`), never a traceback. An unexpected exception still ends in
one line (exit 2) and the traceback goes to ``error.log`` in the state directory.

With ``--json`` every exit path ends with the same last line on stdout, the summary of schema 1
(:func:`ltobisect.events.summary_document`): the session writes it when it ran, :func:`main`
writes it for everything that ended the run before or after (a usage error argparse found, bad
input, a state directory in use, an internal error, Ctrl-C or SIGTERM outside the session).

This module is :func:`main`: it runs the command and maps every error to its exit code. The rest:

- :mod:`.parser`: what the command line accepts (argparse, help texts);
- :mod:`.options`: the given options checked and turned into a SessionConfig or BuildSpec;
- :mod:`.run`: a session run under the reporter, Ctrl-C and the budget, and its outcome shown;
- :mod:`.signals`: Ctrl-C, SIGTERM and the budget's timers;
- :mod:`.commands`: minimize, hook, resume, report, demo, bench;
- :mod:`.reduce`: reduce, and --reduce after a search;
- :mod:`.queries`: changes, resolve, failures (no build);
- :mod:`.context`: what main() and the commands share (Context, the lines on stderr).
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

from ltobisect import __version__
from ltobisect.cli.commands import (
    cmd_bench,
    cmd_demo,
    cmd_hook,
    cmd_minimize,
    cmd_report,
    cmd_resume,
)
from ltobisect.cli.context import PROG, Command, Context, fail, wants_json
from ltobisect.cli.options import session_config
from ltobisect.cli.parser import Parser, build_parser
from ltobisect.cli.bisect import cmd_bisect
from ltobisect.cli.reduce import cmd_reduce
from ltobisect.cli.queries import cmd_changes, cmd_failures, cmd_resolve
from ltobisect.cli.run import run_session
from ltobisect.cli.signals import Interrupts
from ltobisect.errors import ExitCode, InfraError, NotReproduced, Stopped, UserError
from ltobisect.events import KILLED
from ltobisect.model import SessionStatus

__all__ = ["COMMANDS", "PROG", "Context", "Interrupts", "Parser", "build_parser", "main",
           "run_session", "session_config"]

COMMANDS: Dict[str, Command] = {
    "minimize": cmd_minimize,
    "hook": cmd_hook,
    "resume": cmd_resume,
    "reduce": cmd_reduce,
    "bisect": cmd_bisect,
    "report": cmd_report,
    "changes": cmd_changes,
    "resolve": cmd_resolve,
    "failures": cmd_failures,
    "demo": cmd_demo,
    "bench": cmd_bench,
}


def _crash_log(ctx: Context) -> str:
    """Write the traceback where the user can find it; return that place."""
    text = traceback.format_exc()
    places = []
    if ctx.state is not None:
        places.append(ctx.state / "error.log")
    places.append(Path(tempfile.gettempdir()) / f"ltobisect-error-{os.getpid()}.log")
    for place in places:
        try:
            with open(place, "a") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"ltobisect {__version__}\n{text}\n")
            return str(place)
        except OSError:
            continue
    return "stderr"


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP while no session runs (checking the input, loading a tree) end the run
    as Ctrl-C does: one line, the summary with --json, exit 130. (While a session runs,
    :class:`~ltobisect.cli.signals.Interrupts` makes them a clean stop instead.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `ltobisect` command; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    ctx = Context(json_lines=wants_json(words))
    with _signals_interrupt():
        return _run(words, ctx)


def _ended(ctx: Context, code: int, status: str, message: str, hint: str = "") -> int:
    """The line on stderr, the summary on stdout with --json; returns the exit code."""
    fail(f"{message} ({hint})" if hint else message)
    ctx.summary(status, int(code), message, hint)
    return int(code)


def _run(argv: Sequence[str], ctx: Context) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        ctx.command = args.command
        if args.command is None:
            parser.print_help()
            return ExitCode.BAD_INPUT
        return int(COMMANDS[args.command](args, ctx))
    except NotReproduced as exc:
        return _ended(ctx, ExitCode.NOT_REPRODUCED, SessionStatus.NOT_REPRODUCED, str(exc),
                      exc.hint)
    except UserError as exc:  # argparse's usage errors too (Parser.error)
        return _ended(ctx, exc.exit_code, SessionStatus.BAD_INPUT, str(exc), exc.hint)
    except Stopped as exc:
        return _ended(ctx, ExitCode.PARTIAL, SessionStatus.PARTIAL, exc.line())
    except InfraError as exc:
        hint = f"the journal is intact: `ltobisect resume {ctx.state}`" if ctx.state else ""
        return _ended(ctx, ExitCode.INFRA, SessionStatus.INFRA_ERROR, exc.line(), hint)
    except KeyboardInterrupt:
        return _ended(ctx, ExitCode.INTERRUPTED, KILLED, "interrupted")
    except BrokenPipeError:
        return ExitCode.INFRA
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            where = exc.filename or ctx.state or "the state directory"
            hint = f"free some space, then `ltobisect resume {ctx.state}`" if ctx.state else \
                "free some space"
            return _ended(ctx, ExitCode.INFRA, SessionStatus.INFRA_ERROR,
                          f"disk full while writing {where}", hint)
        log = _crash_log(ctx)
        where = f": {exc.filename}" if exc.filename else ""
        return _ended(ctx, ExitCode.INFRA, SessionStatus.INFRA_ERROR,
                      f"{exc.strerror or exc}{where}", f"details in {log}")
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 1
    except Exception as exc:  # the promise: one line, never a traceback
        log = _crash_log(ctx)
        return _ended(ctx, ExitCode.INFRA, SessionStatus.INFRA_ERROR,
                      f"internal error: {type(exc).__name__}: {exc}",
                      f"details in {log}; please report it")
