"""The commands that answer without a build: `changes` (the changes a search toggles), `resolve`
(the .config of a baseline plus a fragment, as the search settles it) and `failures` (the
distinct failures of a build log). The answer goes to stdout, counts and warnings to stderr."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ltobisect.logs import signature as sg
from ltobisect.cli.context import Context, note
from ltobisect.cli.options import config_text, kconfig_build
from ltobisect.errors import ExitCode
from ltobisect.inputs import check_baseline, read_text_file
from ltobisect.conductor.preview import explanation, loaded_tree, read_fragment
from ltobisect.config import BASELINES, is_kernel_tree
from ltobisect.textfit import plural
from ltobisect.events import SCHEMA


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join("CONFIG_" + n for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def cmd_changes(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect changes`: the changes a search toggles, as fragment lines; the count on stderr."""
    build = kconfig_build(args)
    baseline = check_baseline(args.baseline, build.tree, is_kernel_tree(build.tree), "baseline")
    bad_text = config_text(args.bad_config, "bad config")
    with loaded_tree(build) as kt:
        changes = kt.diff(kt.baseline(baseline), bad_text)
        text = kt.fragment(changes)
    sys.stdout.write(text)
    sys.stdout.flush()
    note(f"{_count(len(changes), 'change')} between {args.baseline} and {args.bad_config}")
    return 0


def cmd_failures(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect failures LOG`: the distinct failures of a log, numbered as --failure takes them."""
    text = read_text_file(args.log, "log")
    listed = sg.failures(text)
    if args.json:
        json.dump({"schema": SCHEMA, "log": str(args.log), "failures": [f.to_json() for f in listed]},
                  sys.stdout, indent=2)
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
    if n == 1:
        out.append("1 distinct failure")
    else:  # two lines, each within 80 columns (a terminal's, a mail's)
        out.append(f"{n} distinct failures; minimize one with `ltobisect minimize ... --failure N`,")
        out.append("or each of them, one after another, with --each-failure")
    sys.stdout.write("\n".join(out) + "\n")
    return ExitCode.MINIMIZED


def cmd_resolve(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect resolve`: the .config of the baseline with the fragment appended, settled."""
    build = kconfig_build(args)
    baseline = check_baseline(args.baseline, build.tree, is_kernel_tree(build.tree), "baseline")
    fragment_text = config_text(args.fragment, "fragment",
                                "give CONFIG_ lines, such as fragment.config or the output of "
                                "`ltobisect changes`")
    with loaded_tree(build) as kt:
        # A baseline file is taken as it is, not settled first: the output is what conf makes
        # of `cat BASELINE FRAGMENT`, line order included (it decides 6.11+ choices).
        baseline_text = (kt.baseline(baseline) if baseline in BASELINES
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
        note(f"warning: {name}: {plural(len(fragment.unknown), 'symbol')} unknown to this tree, ignored: "
             f"{_names(fragment.unknown)}")
    if fragment.repeated:
        note(f"warning: {name} sets {_names(fragment.repeated)} on more than one line; "
             "the last line counts")
    if fragment.reordered:
        note(f"warning: {name} sets the choice members {_names(fragment.reordered)} out of name "
             "order: printed as conf reads the file, but a session writes fragments in name "
             "order, which may select another member")
    if args.explain:
        for line in explanation(resolved, tree_warnings):
            note(line)
    dropped = len(resolved.ineffective)
    outcome = f"{dropped} not applied" if dropped else "all applied"
    if dropped and not args.explain:
        outcome += " (--explain says why)"
    note(f"{name} on {args.baseline}: {_count(len(fragment.changes), 'change')}"
         + (f", {outcome}" if fragment.changes else ""))
    return 0
