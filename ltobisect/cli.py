"""The command line: parse, check the input, build a SessionConfig, pick a reporter, map the outcome.

Nothing here searches or builds. Every check that can be made before the first build is made here,
so bad input costs a second, not a kernel build: each one ends in a single line
``ltobisect: error: <what is wrong> (<what to do>)`` on stderr and a documented exit code
(:class:`~ltobisect.errors.ExitCode`), never a traceback. An unexpected exception still ends in
one line (exit 2) and the traceback goes to ``error.log`` in the state directory.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ltobisect import __version__
from ltobisect.config import BuildSpec, Limits, SessionConfig
from ltobisect.errors import ExitCode, InfraError, NotReproduced, Stopped, UserError
from ltobisect.inputs import (
    NAMED_BASELINES,
    arch_from_config,
    check_arch,
    check_baseline,
    check_config_text,
    check_llvm,
    check_output_file,
    check_script,
    check_signature,
    check_state_dir,
    check_state_path,
    check_strategy,
    check_toolchain,
    check_tree,
    check_writable_dir,
    find_source_tree,
    free_dir,
    llvm_from_config,
    parse_duration,
    parse_make_vars,
    parse_size,
    read_config,
    read_text_file,
)
from ltobisect.session import is_kernel_tree

PROG = "ltobisect"
REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCE = REPO / "examples" / "demo"
BENCH_DIR = REPO / "benchmarks"
HOOK_BUDGET = 3600.0


def _duration_text(seconds: float) -> str:
    """``2h``, ``20m``, ``45s``: a budget as the user wrote it, roughly."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _typed(kind: str, fn: Callable[[str], object], example: str) -> Callable[[str], object]:
    """An argparse type whose error says what was expected."""

    def convert(text: str) -> object:
        try:
            return fn(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind} (for example {example})")

    convert.__name__ = kind
    return convert


def _int(text: str) -> int:
    return int(text, 10)


duration_arg = _typed("duration", parse_duration, "30s, 20m, 2h")
size_arg = _typed("size", parse_size, "512M, 20G")
int_arg = _typed("number", _int, "4")


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as a UserError (one line, exit 1), not exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message, f"see `{self.prog} --help`")


def _fmt(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=100)


MAIN_HELP = """\
Minimize a failing kernel config (clang, lld, LTO) to the few options that
still fail the same way.

examples:
  ltobisect demo                      minimize the embedded demo (no kernel needed)
  ltobisect minimize bad.config --tree linux --arch x86_64 --llvm -16
  ltobisect hook --build-dir out --log build.log --budget 2h
  ltobisect resume ltobisect-state    continue a stopped or killed session
  ltobisect changes tinyconfig bad.config --tree linux --llvm -16 > all.config
  ltobisect resolve tinyconfig all.config --tree linux --llvm -16 --explain

exit codes: 0 minimized, 1 bad input, 2 infrastructure error, 3 partial
(budget, limit or Ctrl-C; best so far written), 4 the failure does not
reproduce, 130 killed by a second Ctrl-C.
"""

MINIMIZE_HELP = """\
Build BAD_CONFIG, take the failure's signature, and search for the smallest
set of its changes against the baseline that still fails with it.

examples:
  ltobisect minimize bad.config --tree linux --arch x86_64 --llvm -16
  ltobisect minimize .config --tree linux --arch arm64 --llvm 1 \\
      --baseline defconfig --log build.log --workers 2 --budget 4h
  ltobisect minimize bad.config --tree linux --llvm -16 \\
      --signature 'undefined symbol: __stack_chk_guard' --make W=1
  ltobisect minimize bad.config --tree linux --test ./still-fails.sh

Artifacts (report.txt, fragment.config, minimal.config, reproduce.sh,
summary.json) are written to the state directory.
"""

HOOK_HELP = """\
For a build farm, after a failed build: take .config and the source tree
from the O= directory, minimize within the budget, write every artifact to
--out. Never prompts and never runs past --budget (default 1h); exits
0 minimized, 3 partial (best so far written), 4 not reproduced, 1 bad input,
2 infrastructure error.

examples:
  set -o pipefail
  make O=out LLVM=-16 -j8 2>&1 | tee build.log || \\
      ltobisect hook --build-dir out --log build.log --budget 2h --out artifacts
"""

DEMO_HELP = """\
Copy the embedded demo (a small Kconfig project with C sources under
examples/demo) to DIR (a new temporary directory by default) and minimize
its randconfig with real builds by the machine's cc. Takes under a minute.

examples:
  ltobisect demo
  ltobisect demo /tmp/demo --workers 1 --json
"""

CHANGES_HELP = """\
List the changes a search toggles between BASELINE and BAD_CONFIG, one per
line as fragment.config writes them (in name order); the count goes to
stderr, so stdout can go straight into a fragment file. Runs the search's own
Kconfig code on the tree, without a build.

BASELINE is tinyconfig, defconfig, allnoconfig or a config file.

examples:
  ltobisect changes tinyconfig bad.config --tree linux --arch x86_64 --llvm -16
  ltobisect changes defconfig out/.config --tree linux --arch arm64 > all.config
"""

FAILURES_HELP = """\
List the distinct failures of a build log, numbered in log order, each with its
kind, tool, file, how many times it shows and the log line it first shows on.
A `make -k` log of a randconfig often holds several unrelated failures: each is
a report for another maintainer. `minimize --failure N` minimizes one of them,
`--each-failure` every one in a single session (builds are shared). The one
marked "(the default)" is what a session takes when not told.

  ltobisect failures build.log
  ltobisect minimize bad.config --tree linux --log build.log --failure 2
"""

RESOLVE_HELP = """\
Print the .config ltobisect builds for BASELINE plus FRAGMENT: the fragment's
lines are APPENDED to the baseline, in the file's order (fragment.config and
`ltobisect changes` write them in name order), and settled as make
olddefconfig would, without a build. The kernel's own tool gives the same
.config, with baseline.config the baseline's (for tinyconfig: the .config
`make tinyconfig` writes; a BASELINE file is taken as it is):

  cat baseline.config FRAGMENT > out/.config
  make O=out ARCH=x86_64 LLVM=-16 olddefconfig

BASELINE is tinyconfig, defconfig, allnoconfig or a config file. Lines of
FRAGMENT that are not assignments are skipped; a symbol the tree does not
define is a warning. --explain says, on stderr, which lines did not take
effect, the value each got and why, and prints the tree's Kconfig warnings.

examples:
  ltobisect resolve tinyconfig min-x86/fragment.config --tree linux \\
      --arch x86_64 --llvm -16 > resolved.config
  ltobisect resolve defconfig extra.config --tree linux --arch arm64 --explain
"""


def _add_kconfig_options(g: Any) -> None:
    """What Kconfig sees of the build: ARCH, LLVM and the extra make variables."""
    g.add_argument("--arch", metavar="ARCH", help="the kernel's ARCH (x86_64, arm64, ...)")
    g.add_argument("--llvm", metavar="LLVM",
                   help="LLVM= for make: 1, a version suffix like -16, or a dir ending in /")
    g.add_argument("--make", metavar="VAR=VALUE", action="append", default=[],
                   help="extra make variable for every build, repeatable (W=1, KCFLAGS=...)")


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `minimize` and `hook`."""
    g = p.add_argument_group("build")
    _add_kconfig_options(g)
    g.add_argument("--baseline", metavar="BASE",
                   help="a config that builds: defconfig, tinyconfig, allnoconfig or a file "
                        "(default: tinyconfig on a kernel tree, allnoconfig otherwise)")
    g.add_argument("--target", metavar="TARGET",
                   help="make target of each test (default: chosen from the failure)")
    g.add_argument("--jobs", type=int_arg, metavar="N", help="make -j per worker (default: cores/workers)")
    g.add_argument("--ccache-dir", type=Path, metavar="DIR",
                   help="ccache directory shared across sessions (default: $LTOBISECT_CCACHE_DIR, "
                        "else one inside the state directory)")
    g = p.add_argument_group("what counts as the failure")
    g.add_argument("--signature", metavar="REGEX",
                   help="a regex the failing build's log must match (default: from --log or "
                        "from building the bad config)")
    g.add_argument("--log", type=Path, metavar="FILE", help="the original failure's build log")
    g.add_argument("--failure", type=int_arg, metavar="N",
                   help="minimize the N-th distinct failure of the log (`ltobisect failures LOG` "
                        "numbers them; default: the primary one)")
    g.add_argument("--each-failure", action="store_true",
                   help="minimize every distinct failure of the bad config, one after another, "
                        "sharing builds; each gets its own report under STATE/failures/N/")
    g.add_argument("--test", type=Path, metavar="SCRIPT",
                   help="an interestingness script instead of a build: gets the .config path, "
                        "exit 0 = reproduces, 125 = cannot test")
    g.add_argument("--mem-above", type=size_arg, metavar="SIZE",
                   help="the failure is a build needing more than SIZE of memory (20G)")
    g.add_argument("--time-above", type=duration_arg, metavar="DURATION",
                   help="the failure is a build taking longer than DURATION (30m)")
    g = p.add_argument_group("search")
    g.add_argument("--workers", type=int_arg, metavar="N", default=None,
                   help="builds in parallel, each in its own O= dir (default: 1)")
    g.add_argument("--timeout", type=duration_arg, metavar="DURATION",
                   help="per build (default: 3x the bad config's build, at least 30s)")
    g.add_argument("--mem-limit", type=size_arg, metavar="SIZE", help="memory limit per build (8G)")
    g.add_argument("--strategy", metavar="NAME", default="default",
                   help="search strategy (default: the benchmarked pipeline)")
    g.add_argument("--max-builds", type=int_arg, metavar="N", help="stop after N builds (partial)")
    g.add_argument("--budget", type=duration_arg, metavar="DURATION",
                   help="stop after DURATION of wall time with the best so far (partial)")
    g.add_argument("--seed", type=int_arg, metavar="N", default=0, help="random seed (default: 0)")
    g.add_argument("--verify", type=int_arg, metavar="N", default=None,
                   help="rebuilds of the result to confirm it (default: 2)")
    g = p.add_argument_group("output")
    g.add_argument("--summary-json", type=Path, metavar="FILE",
                   help="also copy summary.json to FILE")
    g.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the view")


def build_parser() -> Parser:
    """The whole command line."""
    top = Parser(prog=PROG, description=MAIN_HELP, formatter_class=_fmt)
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("minimize", help="minimize a failing config", description=MINIMIZE_HELP,
                       formatter_class=_fmt)
    p.add_argument("bad_config", type=Path, metavar="BAD_CONFIG", help="the failing .config")
    p.add_argument("--tree", type=Path, required=True, metavar="DIR",
                   help="the kernel source tree (or any Kconfig project); never written")
    p.add_argument("--state", type=Path, metavar="DIR",
                   help="state directory for the journal and artifacts "
                        "(default: ./ltobisect-state, numbered if taken)")
    _add_search_options(p)

    p = sub.add_parser("hook", help="post-failure hook for build farms", description=HOOK_HELP,
                       formatter_class=_fmt)
    p.add_argument("--build-dir", type=Path, required=True, metavar="O",
                   help="the O= directory of the failed build (holds .config)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where the artifacts go (default: ./ltobisect-hook, numbered if taken)")
    p.add_argument("--tree", type=Path, metavar="DIR",
                   help="the source tree (default: O's `source` link or Makefile)")
    _add_search_options(p)
    p.set_defaults(budget_default=HOOK_BUDGET)

    p = sub.add_parser("resume", help="continue a stopped or killed session",
                       description="Continue a session from its journal; no finished build is "
                                   "run again.\n\nexample:\n  ltobisect resume ltobisect-state",
                       formatter_class=_fmt)
    p.add_argument("state_dir", type=Path, metavar="STATE_DIR")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the view")

    p = sub.add_parser("report", help="render the report of a session again",
                       description="Render report.txt of a session again and print it.\n\n"
                                   "example:\n  ltobisect report ltobisect-state | mail ...",
                       formatter_class=_fmt)
    p.add_argument("state_dir", type=Path, metavar="STATE_DIR")

    p = sub.add_parser("changes", help="list the changes a search toggles (no build)",
                       description=CHANGES_HELP, formatter_class=_fmt)
    p.add_argument("baseline", metavar="BASELINE",
                   help="tinyconfig, defconfig, allnoconfig or a config file")
    p.add_argument("bad_config", type=Path, metavar="BAD_CONFIG", help="the failing .config")
    _add_tree_options(p)

    p = sub.add_parser("resolve", help="print the .config of a baseline plus a fragment (no build)",
                       description=RESOLVE_HELP, formatter_class=_fmt)
    p.add_argument("baseline", metavar="BASELINE",
                   help="tinyconfig, defconfig, allnoconfig or a config file")
    p.add_argument("fragment", type=Path, metavar="FRAGMENT",
                   help="CONFIG_ lines to append to the baseline (fragment.config)")
    _add_tree_options(p)
    p.add_argument("--explain", action="store_true",
                   help="say on stderr which lines did not take effect and why, and print the "
                        "Kconfig warnings")

    p = sub.add_parser("failures", help="list the distinct failures of a build log (no build)",
                       description=FAILURES_HELP, formatter_class=_fmt)
    p.add_argument("log", type=Path, metavar="LOG", help="a build log (make -k output)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")

    p = sub.add_parser("demo", help="minimize the embedded demo (no kernel needed)",
                       description=DEMO_HELP, formatter_class=_fmt)
    p.add_argument("dir", type=Path, nargs="?", metavar="DIR",
                   help="where to copy the demo (default: a new temporary directory)")
    p.add_argument("--workers", type=int_arg, default=2, metavar="N", help="default: 2")
    p.add_argument("--strategy", metavar="NAME", default="default")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the view")

    p = sub.add_parser("bench", help="run the benchmarks under benchmarks/",
                       description="Run the benchmark scripts of the checkout (benchmarks/*.py) "
                                   "and print what they measure.\n\nexamples:\n"
                                   "  ltobisect bench --list\n  ltobisect bench strategies",
                       formatter_class=_fmt)
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("name", nargs="?", help="one benchmark (file name without .py); default: all")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    return top


def _add_tree_options(p: argparse.ArgumentParser) -> None:
    """The tree and what Kconfig sees of the build, for the commands that only read Kconfig."""
    p.add_argument("--tree", type=Path, required=True, metavar="DIR",
                   help="the kernel source tree (or any Kconfig project); never written")
    _add_kconfig_options(p)


def _check_positive(args: argparse.Namespace, name: str, minimum: int = 1) -> None:
    value = getattr(args, name, None)
    if value is not None and value < minimum:
        option = "--" + name.replace("_", "-")
        raise UserError(f"{option} must be at least {minimum}, not {value}",
                        f"for example {option} {max(minimum, 2)}")


def _check_conflicts(args: argparse.Namespace) -> None:
    pairs = [("test", "signature"), ("test", "log"), ("test", "target"), ("test", "mem_above"),
             ("test", "time_above"), ("signature", "mem_above"), ("signature", "time_above"),
             ("mem_above", "time_above")]
    pairs += [("failure", other) for other in ("test", "signature", "mem_above", "time_above")]
    pairs += [("each_failure", other) for other in ("failure", "test", "signature", "mem_above",
                                                     "time_above")]
    for a, b in pairs:
        if getattr(args, a, None) not in (None, False) and getattr(args, b, None) not in (None, False):
            raise UserError(f"--{a.replace('_', '-')} and --{b.replace('_', '-')} cannot be "
                            "used together", "each says what the failure is: choose one")


def session_config(args: argparse.Namespace, *, bad: Path, tree: Path, state: Path,
                   budget: Optional[float]) -> SessionConfig:
    """Check every option and turn them into the SessionConfig the session runs."""
    _check_conflicts(args)
    for name in ("workers", "jobs", "max_builds", "failure"):
        _check_positive(args, name)
    _check_positive(args, "verify", 0)
    _check_positive(args, "seed", 0)
    for name, option in (("timeout", "--timeout"), ("budget", "--budget"),
                         ("time_above", "--time-above")):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise UserError(f"{option} must be more than 0", f"for example {option} 30m")
    for name, option in (("mem_limit", "--mem-limit"), ("mem_above", "--mem-above")):
        value = getattr(args, name, None)
        if value is not None and value < 2**20:
            raise UserError(f"{option} {value} bytes is too small", f"for example {option} 8G")

    bad_settings = read_config(bad, "bad config")
    kernel = is_kernel_tree(tree)
    arch = check_arch(tree, args.arch)
    llvm = check_llvm(args.llvm)
    make_vars = parse_make_vars(args.make)
    given = args.baseline or ("tinyconfig" if kernel else "allnoconfig")
    baseline = check_baseline(given, tree, kernel)
    if baseline not in NAMED_BASELINES and read_config(Path(baseline), "baseline") == bad_settings:
        raise UserError(f"baseline {given} is the same config as {bad}",
                        "give a baseline that builds, such as tinyconfig or defconfig")
    test_script = check_script(args.test) if args.test is not None else None
    if test_script is None or llvm is not None:
        check_toolchain(llvm, make_vars, kernel)
    check_signature(args.signature, args.log)
    if args.strategy != "default":
        check_strategy(args.strategy)

    workers = args.workers or 1
    jobs = args.jobs or 0
    cores = os.cpu_count() or 1
    if workers > 4 * cores:
        raise UserError(f"--workers {workers} is more than 4x the {cores} cores here",
                        f"use --workers {cores} or fewer; each worker runs its own make -j")
    limits = Limits(deadline=budget, max_tests=args.max_builds)
    ccache_dir = args.ccache_dir or (Path(os.environ["LTOBISECT_CCACHE_DIR"])
                                     if os.environ.get("LTOBISECT_CCACHE_DIR") else None)
    if ccache_dir is not None:
        ccache_dir = check_writable_dir(ccache_dir, "--ccache-dir")
    build = BuildSpec(tree=tree, arch=arch, llvm=llvm, make_vars=make_vars, target=args.target,
                      jobs=jobs, ccache_dir=ccache_dir)
    extra = {}
    if args.verify is not None:
        extra["verify_repeats"] = args.verify
    return SessionConfig(
        bad_config=bad.resolve(),
        state_dir=state,
        build=build,
        baseline=baseline,
        test_script=test_script,
        signature_regex=args.signature,
        failure_log=args.log.resolve() if args.log is not None else None,
        memory_threshold=args.mem_above,
        duration_threshold=args.time_above,
        workers=workers,
        timeout=args.timeout,
        mem_limit=args.mem_limit,
        strategy=args.strategy,
        seed=args.seed,
        limits=limits,
        failure=getattr(args, "failure", None),
        each_failure=bool(getattr(args, "each_failure", False)),
        **extra,
    )


# --------------------------------------------------------------------------------------------
# Running a session
# --------------------------------------------------------------------------------------------
class Interrupts:
    """Ctrl-C once: ask the session to stop cleanly. Twice: raise KeyboardInterrupt (kill).

    A budget watchdog uses the same path: at the deadline it asks the session to stop, and if the
    session has not returned ``grace`` seconds later it interrupts the main thread, so a hook
    never runs past its budget.
    """

    def __init__(self, stop: Callable[[str], None], on_first: Callable[[], None],
                 state: str = "the state directory") -> None:
        self.stop = stop
        self.on_first = on_first
        self.presses = 0
        self.hard = False  # the budget ran out: the outcome is partial, not killed
        self.killed = False  # Ctrl-C pressed twice
        self._old = None
        self._old_term = None
        self._timers: List[threading.Timer] = []
        self._state = state

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._old_term = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self._timers:
            t.cancel()
        if self._old is None:
            return
        if self.presses and not self.hard:
            # The clean stop may finish before the user's second press lands: from here on a
            # second Ctrl-C still means "killed", never Python's default traceback.
            signal.signal(signal.SIGINT, self._late)
            signal.signal(signal.SIGTERM, self._late)
            return
        signal.signal(signal.SIGINT, self._old)
        signal.signal(signal.SIGTERM, self._old_term)

    def _late(self, signum: int, frame: object) -> None:
        sys.stderr.write(f"{PROG}: error: killed by a second Ctrl-C; the journal is intact: "
                         f"`ltobisect resume {self._state}`\n")
        sys.stderr.flush()
        os._exit(ExitCode.INTERRUPTED)

    def _handle(self, signum: int, frame: object) -> None:
        self.presses += 1
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
        self.stop("interrupted (Ctrl-C)")

    def watchdog(self, budget: float) -> None:
        """Stop at ``budget`` seconds from now, whatever the session is doing."""
        grace = min(30.0, max(2.0, budget * 0.05))
        soft = threading.Timer(max(0.0, budget - grace), self.stop,
                               args=(f"the budget of {_duration_text(budget)} ran out",))
        hard = threading.Timer(budget, self._expire)
        last = threading.Timer(budget + 10.0, self._die)
        for t in (soft, hard, last):
            t.daemon = True
            t.start()
            self._timers.append(t)

    def _expire(self) -> None:
        self.hard = True
        self.presses = max(self.presses, 1)
        # A real signal to the main thread, so a blocking wait there returns (EINTR) and the
        # handler runs; _thread.interrupt_main() would wait for that thread to wake up by itself.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    @staticmethod
    def _die() -> None:
        sys.stderr.write(f"{PROG}: error: budget exceeded and the session did not stop; "
                         "exiting (best result so far is in the state directory)\n")
        sys.stderr.flush()
        os._exit(ExitCode.PARTIAL)


def run_session(start: Callable[[object, Callable[[object], None]], object], state: Path,
                reporter, budget: Optional[float], summary_json: Optional[Path] = None) -> int:
    """Run a session under the reporter, Ctrl-C and the budget; show and return its outcome.

    ``start(reporter, register)`` runs the session and returns its SessionResult; it calls
    ``register(session)`` first, so that Ctrl-C and the budget can ask that session to stop.
    """
    from ltobisect.events import Message
    from ltobisect.ui import read_text

    holder: Dict[str, object] = {}

    def stop(reason: str) -> None:
        session = holder.get("session")
        if session is not None:
            session.request_stop(reason)

    def first_press() -> None:
        if hasattr(reporter, "stopping"):
            reporter.stopping()
        reporter.event(Message("warning", "stopping: killing the running builds and saving the "
                                          "best result so far; press Ctrl-C again to kill"))

    interrupts = Interrupts(stop, first_press, str(state))
    with reporter:
        with interrupts:
            if budget is not None:
                interrupts.watchdog(budget)
            try:
                result = start(reporter, lambda s: holder.__setitem__("session", s))
            except KeyboardInterrupt:
                # The session killed its builds, wrote the partial result (``session.result``)
                # and re-raised: a second Ctrl-C, or the budget's hard stop.
                result = getattr(holder.get("session"), "result", None)
    if interrupts.killed:
        reporter.finish("killed", ExitCode.INTERRUPTED)
        _fail(f"killed by a second Ctrl-C; the journal is intact: `ltobisect resume {state}`")
        return ExitCode.INTERRUPTED
    if result is None:
        reporter.finish("partial", ExitCode.PARTIAL)
        _note(f"partial: stopped at the budget; the best so far is in {state}")
        return ExitCode.PARTIAL
    code = int(result.exit_code)
    if interrupts.hard:
        code = ExitCode.PARTIAL  # the budget ran out: what was written is the best so far
    report = result.artifacts.get("report")
    summary = result.artifacts.get("summary")
    summary_data = None
    if summary is not None:
        try:
            summary_data = json.loads(Path(summary).read_text())
        except (OSError, ValueError):
            summary_data = None
    if summary_data is None:
        summary_data = result.to_json()
    if summary_json is not None:
        try:
            summary_json.write_text(json.dumps(summary_data, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise InfraError(f"cannot write --summary-json {summary_json}: {exc.strerror or exc}")
    reporter.finish(result.status, code, read_text(report), summary_data)
    if code in (ExitCode.BAD_INPUT, ExitCode.INFRA, ExitCode.NOT_REPRODUCED):
        _fail(result.line())
    elif code == ExitCode.PARTIAL:
        _note(f"partial: {result.line()}; the best so far is in {state}")
    return code


def _start(config: SessionConfig) -> Callable[[object, Callable[[object], None]], object]:
    """A starter for :func:`run_session` that runs a new session (or continues the same one)."""

    def start(reporter: object, register: Callable[[object], None]) -> object:
        from ltobisect import each_failure

        session = each_failure.start(config, reporter)
        register(session)
        return session.run()

    return start


def _start_resume(state: Path) -> Callable[[object, Callable[[object], None]], object]:
    """A starter that continues the session stored in ``state``."""

    def start(reporter: object, register: Callable[[object], None]) -> object:
        from ltobisect import each_failure

        session = each_failure.stored(state, reporter)
        register(session)
        return session.run()

    return start


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------
def cmd_minimize(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect minimize`."""
    tree = check_tree(args.tree)
    bad = args.bad_config
    read_config(bad, "bad config")
    summary_json = check_output_file(args.summary_json, "--summary-json")
    state_path = args.state if args.state is not None else free_dir("ltobisect-state")
    state = check_state_path(state_path, "--state")
    # Everything that can be checked is checked before the session creates its state directory.
    config = session_config(args, bad=bad, tree=tree, state=state, budget=args.budget)
    ctx.state = state
    reporter = ctx.reporter(args.json, config.workers)
    return run_session(_start(config), state, reporter, args.budget, summary_json)


def cmd_hook(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect hook`: minimize after a failed build, within a budget, without questions."""
    build_dir = args.build_dir
    if not build_dir.is_dir():
        raise UserError(f"--build-dir {build_dir} is not a directory",
                        "give the O= directory of the failed build")
    bad = build_dir / ".config"
    if not bad.exists():
        raise UserError(f"{build_dir} has no .config",
                        "give the O= directory of the failed build (where .config is)")
    settings = read_config(bad, "bad config")
    tree = check_tree(args.tree if args.tree is not None else find_source_tree(build_dir))
    if args.arch is None and is_kernel_tree(tree):
        args.arch = arch_from_config(settings, read_text_file(bad, "bad config")[:400])
    if args.llvm is None:
        args.llvm = llvm_from_config(settings)
    budget = args.budget if args.budget is not None else args.budget_default
    summary_json = check_output_file(args.summary_json, "--summary-json")
    out = check_state_path(args.out if args.out is not None else free_dir("ltobisect-hook"), "--out")
    config = session_config(args, bad=bad, tree=tree, state=out, budget=budget)
    ctx.state = out
    # A build farm's log is not a terminal: plain lines unless --json, even under a TTY.
    reporter = ctx.reporter(args.json, config.workers, plain=True)
    return run_session(_start(config), out, reporter, budget, summary_json)


def cmd_resume(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect resume`."""
    state = check_state_dir(args.state_dir)
    ctx.state = state
    from ltobisect import each_failure

    workers = each_failure.stored(state).config.workers  # UserError if the session is damaged
    reporter = ctx.reporter(args.json, workers)
    return run_session(_start_resume(state), state, reporter, None)


def cmd_report(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect report`: render report.txt again and print it."""
    state = check_state_dir(args.state_dir)
    ctx.state = state
    from ltobisect.each_failure import REPORT_FILE, is_each_failure
    from ltobisect.report import render

    path = state / REPORT_FILE if is_each_failure(state) else Path(render(state))
    sys.stdout.write(path.read_text(errors="replace"))
    sys.stdout.flush()
    return ExitCode.MINIMIZED


def _kconfig_build(args: argparse.Namespace) -> BuildSpec:
    """--tree, --arch, --llvm and --make, checked as `minimize` checks them (no Makefile needed)."""
    tree = check_tree(args.tree, build=False)
    return BuildSpec(tree=tree, arch=check_arch(tree, args.arch), llvm=check_llvm(args.llvm),
                     make_vars=parse_make_vars(args.make))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join("CONFIG_" + n for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _config_text(path: Path, what: str, *hint: str) -> str:
    """A config file's text, checked, read once: it may be a pipe (`<(...)`), which a second
    read finds empty."""
    text = read_text_file(path, what)
    check_config_text(text, path, what, *hint)
    return text


def cmd_changes(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect changes`: the changes a search toggles, as fragment lines; the count on stderr."""
    build = _kconfig_build(args)
    baseline = check_baseline(args.baseline, build.tree, is_kernel_tree(build.tree), "baseline")
    bad_text = _config_text(args.bad_config, "bad config")
    from ltobisect.preview import loaded_tree

    with loaded_tree(build) as kt:
        changes = kt.diff(kt.baseline(baseline), bad_text)
        text = kt.fragment(changes)
    sys.stdout.write(text)
    sys.stdout.flush()
    _note(f"{_count(len(changes), 'change')} between {args.baseline} and {args.bad_config}")
    return 0


def cmd_failures(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect failures LOG`: the distinct failures of a log, numbered as --failure takes them."""
    from ltobisect import signature as sg

    text = read_text_file(args.log, "log")
    listed = sg.failures(text)
    if args.json:
        json.dump({"log": str(args.log), "failures": [f.to_json() for f in listed]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitCode.MINIMIZED
    if not listed:
        sys.stdout.write(f"no failure found in {args.log}\n")
        return ExitCode.MINIMIZED
    out = []
    for f in listed:
        sig = f.signature
        where = sig.location or "-"
        times = f", {f.count} times" if f.count > 1 else ""
        mark = "  (the default)" if f.primary else ""
        out.append(f"{f.number:>3}  {sig.kind} ({sig.tool or '-'}) in {where}{times}{mark}")
        out.append(f"     {f.text}")
    n = len(listed)
    out.append("")
    out.append(f"{n} distinct failure{'s' if n != 1 else ''}; `ltobisect minimize ... --failure N` "
               "minimizes one, --each-failure each of them")
    sys.stdout.write("\n".join(out) + "\n")
    return ExitCode.MINIMIZED


def cmd_resolve(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect resolve`: the .config of the baseline with the fragment appended, settled."""
    build = _kconfig_build(args)
    baseline = check_baseline(args.baseline, build.tree, is_kernel_tree(build.tree), "baseline")
    fragment_text = _config_text(args.fragment, "fragment",
                                 "give CONFIG_ lines, such as fragment.config or the output of "
                                 "`ltobisect changes`")
    from ltobisect.preview import explanation, loaded_tree, read_fragment

    with loaded_tree(build) as kt:
        # A baseline file is taken as it is, not settled first: the output is what conf makes
        # of `cat BASELINE FRAGMENT`, line order included (it decides 6.11+ choices).
        baseline_text = (kt.baseline(baseline) if baseline in NAMED_BASELINES
                         else kt.read_config(Path(baseline)))
        if not baseline_text.endswith("\n"):
            baseline_text += "\n"
        fragment = read_fragment(kt, baseline_text, fragment_text)
        resolved = kt.resolve(baseline_text, fragment.changes)  # what --explain explains
        settled = kt.normalize(baseline_text + fragment_text)
        tree_warnings = list(kt.warnings)
    sys.stdout.write(settled)
    sys.stdout.flush()
    name = args.fragment
    if fragment.unknown:
        _note(f"warning: {name}: {len(fragment.unknown)} symbol(s) unknown to this tree, ignored: "
              f"{_names(fragment.unknown)}")
    if fragment.repeated:
        _note(f"warning: {name} sets {_names(fragment.repeated)} on more than one line; "
              "the last line counts")
    if fragment.reordered:
        _note(f"warning: {name} sets the choice members {_names(fragment.reordered)} out of name "
              "order: printed as conf reads the file, but a session writes fragments in name "
              "order, which may select another member")
    if args.explain:
        for line in explanation(resolved, tree_warnings):
            _note(line)
    dropped = len(resolved.ineffective)
    outcome = f"{dropped} not applied" if dropped else "all applied"
    if dropped and not args.explain:
        outcome += " (--explain says why)"
    _note(f"{name} on {args.baseline}: {_count(len(fragment.changes), 'change')}"
          + (f", {outcome}" if fragment.changes else ""))
    return 0


def cmd_demo(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect demo`: copy the embedded demo and minimize its randconfig for real."""
    if not (DEMO_SOURCE / "Kconfig").is_file():
        raise UserError(f"the demo sources are missing ({DEMO_SOURCE})",
                        "run from a checkout of ltobisect: scripts/bootstrap demo")
    for tool in ("make", "cc"):
        if shutil.which(tool) is None:
            raise UserError(f"the demo needs {tool}, which is not installed",
                            "apt-get install make gcc libc6-dev")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, not {args.workers}", "for example --workers 2")
    if args.dir is not None:
        top = args.dir.expanduser()
        if top.exists() and (not top.is_dir() or any(top.iterdir())):
            raise UserError(f"{top} already exists and is not empty", "give a new directory")
        top.mkdir(parents=True, exist_ok=True)
    else:
        top = Path(tempfile.mkdtemp(prefix="ltobisect-demo-"))
    top = top.resolve()
    tree = top / "tree"
    shutil.copytree(DEMO_SOURCE, tree, ignore=shutil.ignore_patterns("__pycache__", "*.o", "out*"))
    _read_only(tree)
    state = top / "state"
    ctx.state = state
    config = SessionConfig(
        bad_config=tree / "configs" / "randconfig.config",
        state_dir=state,
        build=BuildSpec(tree=tree, jobs=1),
        baseline=str(tree / "configs" / "baseline.config"),
        workers=args.workers,
        strategy=args.strategy,
    )
    if not args.json:
        sys.stderr.write(f"{PROG}: demo tree copied to {tree}; artifacts go to {state}\n")
    reporter = ctx.reporter(args.json, config.workers, title="ltobisect demo")
    code = run_session(_start(config), state, reporter, None)
    if not args.json:
        sys.stderr.write(f"{PROG}: demo artifacts: {state} (report.txt, fragment.config, "
                         "reproduce.sh)\n")
    return code


def _read_only(tree: Path) -> None:
    """Make a copied tree read-only, as the source tree of a real run is treated."""
    for root, dirs, files in os.walk(tree):
        for name in files:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode & ~0o222)


def cmd_bench(args: argparse.Namespace, ctx: "Context") -> int:
    """`ltobisect bench`: run benchmarks/*.py of the checkout."""
    if not BENCH_DIR.is_dir():
        raise UserError(f"no benchmarks in this installation ({BENCH_DIR} does not exist)",
                        "run from a checkout of ltobisect")
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
    if args.list:
        for p in scripts:
            print(p.stem)
        return 0
    if args.name:
        wanted = [p for p in scripts if p.stem == args.name or p.name == args.name]
        if not wanted:
            raise UserError(f"no benchmark named {args.name!r}",
                            "one of " + ", ".join(p.stem for p in scripts))
        scripts = wanted
    if not scripts:
        raise UserError(f"{BENCH_DIR} has no benchmark scripts", "see `ltobisect bench --list`")
    worst = 0
    for p in scripts:
        print(f"== {p.stem}", flush=True)
        rc = subprocess.call([sys.executable, str(p), *args.args], cwd=str(REPO))
        worst = worst or rc
    return ExitCode.INFRA if worst else 0


COMMANDS: Dict[str, Callable[[argparse.Namespace, "Context"], int]] = {
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


class Context:
    """What a command tells main() for error handling: the state directory, once known."""

    def __init__(self) -> None:
        self.state: Optional[Path] = None

    def reporter(self, json_lines: bool, workers: int, plain: bool = False,
                 title: str = "ltobisect"):
        """The reporter for this terminal (or pipe)."""
        from ltobisect.ui import pick_reporter

        return pick_reporter(json_lines, sys.stdout, workers=workers, force_plain=plain,
                             title=title)


def _note(message: str) -> None:
    """One line on stderr: ``ltobisect: <message>``."""
    try:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _fail(message: str) -> None:
    """The one line of an error: ``ltobisect: error: <what> (<what to do>)``."""
    _note(f"error: {message}")


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
        _fail(exc.line())
        return ExitCode.NOT_REPRODUCED
    except UserError as exc:
        _fail(exc.line())
        return int(exc.exit_code)
    except Stopped as exc:
        _fail(exc.line())
        return ExitCode.PARTIAL
    except InfraError as exc:
        where = f" (the journal is intact: `ltobisect resume {ctx.state}`)" if ctx.state else ""
        _fail(f"{exc.line()}{where}")
        return ExitCode.INFRA
    except KeyboardInterrupt:
        _fail("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.INFRA
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            where = exc.filename or ctx.state or "the state directory"
            resume = f", then `ltobisect resume {ctx.state}`" if ctx.state else ""
            _fail(f"disk full while writing {where} (free some space{resume})")
        else:
            log = _crash_log(ctx)
            where = f": {exc.filename}" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where} (details in {log})")
        return ExitCode.INFRA
    except SystemExit as exc:  # argparse --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 1
    except Exception as exc:  # the promise: one line, never a traceback
        log = _crash_log(ctx)
        _fail(f"internal error: {type(exc).__name__}: {exc} (details in {log}; please report it)")
        return ExitCode.INFRA


if __name__ == "__main__":
    sys.exit(main())
