"""What the command line accepts: the argparse parser of every command, its help texts and the
option types whose errors say what was expected. Checking what was given is :mod:`.options`."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

from ltobisect import __version__
from ltobisect.cli.context import PROG
from ltobisect.cli.helptexts import (BISECT_HELP, CHANGES_HELP, DEMO_HELP, FAILURES_HELP, HOOK_HELP,
                                     MAIN_HELP, MINIMIZE_HELP, REDUCE_HELP, RESOLVE_HELP)
from ltobisect.errors import UserError
from ltobisect.inputs import (
    MAX_DURATION,
    MAX_DURATION_TEXT,
    MAX_SIZE,
    MAX_SIZE_TEXT,
    check_strategy,
    parse_duration,
    parse_size,
)

#: `hook` never runs past this budget unless told (seconds).
HOOK_BUDGET = 3600.0


class ValueType:
    """An argparse type for a kind of value (a duration, a size, a number) whose every refusal is
    one line naming the option, what was wrong and an example that works: a
    :class:`~ltobisect.errors.UserError`, which argparse lets through to main() (it rewords only
    ArgumentTypeError, ValueError and TypeError, as ``argument --x: ...``).

    ``most``: the largest value that can work, written ``most_text`` and refused above it with
    ``beyond`` (why: see :data:`~ltobisect.inputs.MAX_DURATION`). ``signed``: a leading ``-`` is
    refused as "must be more than 0" rather than as not a value at all.
    """

    def __init__(self, kind: str, parse: Callable[[str], Any], examples: str, *,
                 most: Optional[float] = None, most_text: str = "", beyond: str = "",
                 signed: bool = False) -> None:
        self.kind, self.parse, self.examples = kind, parse, examples
        self.most, self.most_text, self.beyond, self.signed = most, most_text, beyond, signed

    def option(self, name: str, example: str) -> Callable[[str], Any]:
        """The type of option ``name``; ``example`` is a value that works for it (``2h``)."""

        def convert(text: str) -> Any:
            if self.signed and text.strip().startswith("-"):
                raise UserError(f"{name} must be more than 0, not {text}",
                                f"for example {name} {example}")
            try:
                value = self.parse(text)
            except ValueError:
                raise UserError(f"{name} {text!r} is not a {self.kind}",
                                f"for example {name} {example}"
                                + (f"; a {self.kind} is {self.examples}" if self.examples else "")
                                ) from None
            if self.most is not None and value > self.most:
                raise UserError(f"{name} {text} is {self.beyond}",
                                f"{self.kind}s go up to {self.most_text}; "
                                f"for example {name} {example}")
            return value

        convert.__name__ = self.kind
        return convert


def _int(text: str) -> int:
    return int(text, 10)


duration_arg = ValueType("duration", parse_duration, "30s, 20m, 2h or 1h30m", most=MAX_DURATION,
                         most_text=MAX_DURATION_TEXT, beyond="longer than a year", signed=True)
size_arg = ValueType("size", parse_size, "512M, 20G or 1.5GiB", most=MAX_SIZE,
                     most_text=MAX_SIZE_TEXT, beyond="more memory than any machine has",
                     signed=True)
int_arg = ValueType("number", _int, "")

#: The options whose value may be written with a leading ``-`` by mistake (``--budget -1h``):
#: argparse would take ``-1h`` for an option and say only "expected one argument", so
#: :meth:`Parser.parse_known_args` hands it to the option's type, which says what is wrong.
SIGNED_OPTIONS = frozenset({"--budget", "--timeout", "--time-above", "--mem-above",
                            "--mem-limit", "--build-memory",
                            "--llvm-matrix"})  # -14,-16: releases, not options
_NEGATIVE = re.compile(r"-[\d.]")


def _valued(group: Any, name: str, value_type: ValueType, example: str, **kw: Any) -> None:
    """Add option ``name`` of ``value_type``, whose errors name it and show ``example``."""
    group.add_argument(name, type=value_type.option(name, example), **kw)


def strategy_arg(name: str) -> str:
    """A search strategy's name, checked while parsing: every command that takes one (`demo`
    too) refuses a wrong name before anything is copied or built."""
    if name != "default":
        check_strategy(name)
    return name


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as a UserError (one line, exit 1), not exit 2; with
    ``--json`` among the words, main() ends it with the summary line on stdout as well."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message, f"see `{self.prog} --help`")

    def parse_known_args(self, args: Optional[Sequence[str]] = None,  # type: ignore[override]
                         namespace: Optional[argparse.Namespace] = None) -> Any:
        """Parse as argparse does, with ``--budget -1h`` read as ``--budget=-1h`` (see
        :data:`SIGNED_OPTIONS`), so that its refusal says the value must be positive."""
        words = list(sys.argv[1:] if args is None else args)
        joined: List[str] = []
        for i, word in enumerate(words):
            if word == "--":
                joined += words[i:]
                break
            if joined and joined[-1] in SIGNED_OPTIONS and _NEGATIVE.match(word):
                joined[-1] = f"{joined[-1]}={word}"
            else:
                joined.append(word)
        return super().parse_known_args(joined, namespace)


#: The widest help text: an 80-column terminal shows every line whole.
HELP_COLUMNS = 80


def _fmt(prog: str) -> argparse.HelpFormatter:
    """Help as wide as the terminal but never wider than :data:`HELP_COLUMNS` (argparse wraps at
    ``width`` and leaves two columns of margin, as its own default does)."""
    columns = max(40, min(shutil.get_terminal_size().columns, HELP_COLUMNS))
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30, width=columns - 2)


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
    _valued(g, "--jobs", int_arg, "4", metavar="N", help="make -j per worker (default: cores/workers)")
    g.add_argument("--ccache-dir", type=Path, metavar="DIR",
                   help="ccache directory shared across sessions (default: $LTOBISECT_CCACHE_DIR, "
                        "else one inside the state directory)")
    g = p.add_argument_group("what counts as the failure")
    g.add_argument("--signature", metavar="REGEX",
                   help="a regex the failing build's log must match (default: from --log or "
                        "from building the bad config)")
    g.add_argument("--log", type=Path, metavar="FILE", help="the original failure's build log")
    _valued(g, "--failure", int_arg, "2", metavar="N",
            help="minimize the N-th distinct failure of the log (`ltobisect failures LOG` "
                 "numbers them; default: the primary one)")
    g.add_argument("--each-failure", action="store_true",
                   help="minimize every distinct failure of the bad config, one after another, "
                        "sharing builds; each gets its own report under STATE/failures/N/")
    g.add_argument("--test", type=Path, metavar="SCRIPT",
                   help="an interestingness script instead of a build: gets the .config path, "
                        "exit 0 = reproduces, 125 = cannot test")
    _valued(g, "--mem-above", size_arg, "20G", metavar="SIZE",
            help="the failure is a build needing more than SIZE of memory (20G)")
    _valued(g, "--time-above", duration_arg, "30m", metavar="DURATION",
            help="the failure is a build taking longer than DURATION (30m)")
    g = p.add_argument_group("search")
    _valued(g, "--workers", int_arg, "2", metavar="N", default=None,
            help="builds in parallel, each in its own O= dir (default: 1)")
    _add_farm_options(g)
    _valued(g, "--timeout", duration_arg, "30m", metavar="DURATION",
            help="per build (default: 3x the bad config's build, at least 30s)")
    _valued(g, "--mem-limit", size_arg, "8G", metavar="SIZE", help="memory limit per build (8G)")
    g.add_argument("--strategy", type=strategy_arg, metavar="NAME", default="default",
                   help="search strategy (default: the benchmarked pipeline)")
    _valued(g, "--max-builds", int_arg, "200", metavar="N", help="stop after N builds (partial)")
    _valued(g, "--budget", duration_arg, "2h", metavar="DURATION",
            help="stop after DURATION of wall time with the best so far (partial)")
    _valued(g, "--seed", int_arg, "1", metavar="N", default=0, help="random seed (default: 0)")
    _valued(g, "--verify", int_arg, "2", metavar="N", default=None,
            help="rebuilds of the result to confirm it (default: 2)")
    g.add_argument("--no-log-priors", dest="log_priors", action="store_false",
                   help="do not try first the options the failure's log points at (the files, "
                        "symbols and flags it names, read in the tree's Makefiles)")
    g.add_argument("--no-lto-matrix", dest="lto_matrix", action="store_false",
                   help="with Clang LTO, do not build the result without LTO and with the other "
                        "LTO mode (two builds, run only when the budget affords them)")
    g.add_argument("--llvm-matrix", metavar="RELEASES", default=None,
                   help="build the result with these LLVM releases too (e.g. -14,-16,-19, or "
                        "'installed': every clang-N with its ld.lld-N), each resolved by Kconfig "
                        "for its compiler; one build each, run only when the budget affords them")
    g = p.add_argument_group("after the search")
    g.add_argument("--reduce", action="store_true",
                   help="once the config is minimal and verified, reduce the failure's "
                        "reproducer too (as `ltobisect reduce`), within the budget")
    _add_reduce_budget(g)
    g = p.add_argument_group("output")
    g.add_argument("--summary-json", type=Path, metavar="FILE",
                   help="also copy summary.json to FILE")
    g.add_argument("--json", action="store_true",
                   help="JSON lines on stdout instead of the view (schema 1): every event, "
                        "then the summary, also when the run ends in an error")


def _add_reduce_budget(g: argparse._ActionsContainer) -> None:
    _valued(g, "--reduce-budget", duration_arg, "30m", metavar="DURATION", default=None,
            help="wall time for the reduction of the reproducer (default: 1h; within --budget)")


def _add_scheduler(g: argparse._ActionsContainer, help: str) -> None:
    g.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("LTOBISECT_SCHEDULER"),
                   help=help)
    g.add_argument("--tls-ca", type=Path, metavar="FILE",
                   help="for a tls:// scheduler: the CA that signed its certificate (default: "
                        "Dask's distributed.comm.tls configuration, as --tls-cert and --tls-key)")
    g.add_argument("--tls-cert", type=Path, metavar="FILE", help="this client's certificate (PEM)")
    g.add_argument("--tls-key", type=Path, metavar="FILE", help="this client's private key (PEM)")
    g.add_argument("--insecure-farm", action="store_true",
                   help="allow a plain tcp:// scheduler off this machine: anyone who reaches it "
                        "can run code on every worker")


def _add_farm_options(g: argparse._ActionsContainer) -> None:
    """Where the builds run: the local pool, or a Dask cluster (the build farm)."""
    _add_scheduler(g, "run every build on the Dask cluster at ADDRESS (tls://host:8786), "
                      "--workers at a time; local:N starts N worker processes here "
                      "(default: $LTOBISECT_SCHEDULER, else this machine's pool)")
    _valued(g, "--build-memory", size_arg, "40G", metavar="SIZE",
            help="on a farm, run each build only on a worker started with at least SIZE "
                 "of the MEM resource (dask worker --resources \"MEM=64e9\")")


def _add_tree_options(p: argparse.ArgumentParser) -> None:
    """The tree and what Kconfig sees of the build, for the commands that only read Kconfig."""
    p.add_argument("--tree", type=Path, required=True, metavar="DIR",
                   help="the kernel source tree (or any Kconfig project); never written")
    _add_kconfig_options(p)


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
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="where the journal, build directories and logs go "
                        "(default: the state directory)")
    _add_search_options(p)

    p = sub.add_parser("hook", help="post-failure hook for build farms", description=HOOK_HELP,
                       formatter_class=_fmt)
    p.add_argument("--build-dir", type=Path, required=True, metavar="O",
                   help="the O= directory of the failed build (holds .config)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where the artifacts go, and nothing else: what a CI job uploads "
                        "(default: ./ltobisect-hook, numbered if taken)")
    p.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="where the journal, build directories and logs go (default: "
                        "~/.cache/ltobisect/work/<out>-<hash>, found again by resume)")
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
    _add_scheduler(p, "run the remaining builds on this Dask cluster (default: "
                      "$LTOBISECT_SCHEDULER, else where the session ran)")
    _valued(p, "--workers", int_arg, "2", metavar="N",
            help="builds in parallel from now on (default: as the session ran)")
    p.add_argument("--llvm-matrix", metavar="RELEASES", default=None,
                   help="build the result with these LLVM releases too (as `minimize` does); "
                        "on a minimized session only those builds run")
    _valued(p, "--budget", duration_arg, "2h", metavar="DURATION",
            help="a new budget for this run (default: the session's own, counted afresh)")
    _valued(p, "--max-builds", int_arg, "200", metavar="N",
            help="a new build limit for this run (default: the session's own)")

    p = sub.add_parser("reduce", help="reduce a minimized failure to a small source or link",
                       description=REDUCE_HELP, formatter_class=_fmt)
    p.add_argument("state_dir", type=Path, metavar="STATE_DIR")
    _add_reduce_budget(p)
    _valued(p, "--workers", int_arg, "2", metavar="N", default=None,
            help="tests in parallel (C-Vise's --n, llvm-reduce's -j; default: the session's)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the view")

    p = sub.add_parser("bisect", help="find the first bad commit of a minimized failure",
                       description=BISECT_HELP, formatter_class=_fmt)
    p.add_argument("state_dir", type=Path, metavar="STATE_DIR")
    p.add_argument("--good", metavar="REV", default=None,
                   help="a revision that builds the minimal config cleanly (needed the first time)")
    p.add_argument("--bad", metavar="REV", default=None,
                   help="a revision that fails the same way (default: the repository's HEAD)")
    p.add_argument("--repo", type=Path, metavar="DIR", default=None,
                   help="the kernel's git checkout (default: the session's tree); only read")
    _valued(p, "--budget", duration_arg, "2h", metavar="DURATION", default=None,
            help="stop after DURATION of wall time; the same command continues")
    _valued(p, "--verify", int_arg, "1", metavar="N", default=None,
            help="builds again of the first bad commit and its parent (default: the session's)")
    _add_scheduler(p, "run the builds on the Dask cluster at ADDRESS (the work directory must "
                      "be on storage its workers share)")
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
    _valued(p, "--workers", int_arg, "2", default=2, metavar="N", help="default: 2")
    p.add_argument("--strategy", type=strategy_arg, metavar="NAME", default="default",
                   help="search strategy (default: the benchmarked pipeline)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the view")

    p = sub.add_parser("bench", help="run the benchmarks under benchmarks/",
                       description="Run the benchmark scripts of the checkout "
                                   "(benchmarks/*.py)\nand print what they measure.\n\n"
                                   "examples:\n"
                                   "  ltobisect bench --list\n  ltobisect bench strategies",
                       formatter_class=_fmt)
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("name", nargs="?", help="one benchmark (file name without .py); default: all")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    return top

