"""The command line: parse, check the input, build a SessionConfig, pick a reporter, map the outcome.

Nothing here searches or builds. Every check that can be made before the first build is made here,
so bad input costs a second, not a kernel build: each one ends in a single line
``ltobisect: error: <what is wrong> (<what to do>)`` on stderr and a documented exit code
(:class:`~ltobisect.errors.ExitCode`), never a traceback. An unexpected exception still ends in
one line (exit 2) and the traceback goes to ``error.log`` in the state directory.

This module is :func:`main`: it runs the command and maps every error to its exit code. The rest:

- :mod:`.parser`: what the command line accepts (argparse, help texts);
- :mod:`.options`: the given options checked and turned into a SessionConfig or BuildSpec;
- :mod:`.run`: a session run under the reporter, Ctrl-C and the budget, and its outcome shown;
- :mod:`.signals`: Ctrl-C, SIGTERM and the budget's timers;
- :mod:`.commands`: minimize, hook, resume, report, demo, bench;
- :mod:`.queries`: changes, resolve, failures (no build);
- :mod:`.context`: what main() and the commands share (Context, the lines on stderr).
"""
from __future__ import annotations

import errno
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Dict, Optional, Sequence

from ltobisect import __version__
from ltobisect.cli.commands import (
    cmd_bench,
    cmd_demo,
    cmd_hook,
    cmd_minimize,
    cmd_report,
    cmd_resume,
)
from ltobisect.cli.context import PROG, Command, Context, fail
from ltobisect.cli.options import session_config
from ltobisect.cli.parser import Parser, build_parser
from ltobisect.cli.queries import cmd_changes, cmd_failures, cmd_resolve
from ltobisect.cli.run import run_session
from ltobisect.cli.signals import Interrupts
from ltobisect.errors import ExitCode, InfraError, NotReproduced, Stopped, UserError

__all__ = ["COMMANDS", "PROG", "Context", "Interrupts", "Parser", "build_parser", "main",
           "run_session", "session_config"]

COMMANDS: Dict[str, Command] = {
    "minimize": cmd_minimize,
    "hook": cmd_hook,
    "resume": cmd_resume,
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `ltobisect` command; returns the exit code."""
    ctx = Context()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return ExitCode.BAD_INPUT
        return int(COMMANDS[args.command](args, ctx))
    except NotReproduced as exc:
        fail(exc.line())
        return ExitCode.NOT_REPRODUCED
    except UserError as exc:
        fail(exc.line())
        return int(exc.exit_code)
    except Stopped as exc:
        fail(exc.line())
        return ExitCode.PARTIAL
    except InfraError as exc:
        where = f" (the journal is intact: `ltobisect resume {ctx.state}`)" if ctx.state else ""
        fail(f"{exc.line()}{where}")
        return ExitCode.INFRA
    except KeyboardInterrupt:
        fail("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.INFRA
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            where = exc.filename or ctx.state or "the state directory"
            resume = f", then `ltobisect resume {ctx.state}`" if ctx.state else ""
            fail(f"disk full while writing {where} (free some space{resume})")
        else:
            log = _crash_log(ctx)
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where} (details in {log})")
        return ExitCode.INFRA
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 1
    except Exception as exc:  # the promise: one line, never a traceback
        log = _crash_log(ctx)
        fail(f"internal error: {type(exc).__name__}: {exc} (details in {log}; please report it)")
        return ExitCode.INFRA
