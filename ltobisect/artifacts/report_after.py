"""report.txt's sections of the steps after the search: what ``ltobisect reduce`` made (the
reduced reproducer) and what ``ltobisect bisect`` found (the first bad commit)."""
from __future__ import annotations

from typing import List

from ltobisect.artifacts.facts import bisect_lines, reduced_line
from ltobisect.store.state import REDUCED_DIR, ResultDoc
from ltobisect.textfit import clock, wrap


def first_bad_section(res: ResultDoc) -> List[str]:
    """What `ltobisect bisect` found: the first bad commit, its Fixes: line, how sure."""
    lines = bisect_lines(res.bisect)
    if not lines:
        return []
    L = wrap(lines[0])
    for line in lines[1:]:
        L += wrap(line.strip(), "  ")
    return L + [""]


def reduced_section(res: ResultDoc) -> List[str]:
    """What `ltobisect reduce` made: sizes, the command, whether it reruns alone."""
    red = res.reduced or {}
    if not red:
        return []
    L = ["Reduced reproducer:"]
    L += wrap(reduced_line(red), "  ")
    if red.get("kind") == "link" and "relinks" in red:
        L += wrap("the ld.lld --reproduce tarball relinks alone with the same failure"
                  if red.get("relinks") else
                  f"the ld.lld --reproduce tarball does not relink alone with the same failure: "
                  f"{red.get('relink_said', '')}", "  ")
    if red.get("reruns"):
        what = ("one compile" if red.get("kind") == "source" else
                "two links" if red.get("first_link") else "one link")
        L += wrap(f"reruns alone ({what}, from {REDUCED_DIR}/ only): sh {REDUCED_DIR}/repro.sh", "  ")
        if red.get("kind") == "source":
            L += wrap(f"needs {red.get('compiler')}; the kernel's command was: "
                      f"{red.get('command', '')}", "  ")
        else:
            files = red.get("module_files") or ([red["module_file"]] if red.get("module_file")
                                                else [])
            L += wrap(f"needs {red.get('linker')}: {red.get('command', '')}"
                      + (f"; the module{'s' if len(files) > 1 else ''}: "
                         + ", ".join(f"{REDUCED_DIR}/{f}" for f in files) if files else ""), "  ")
    if red.get("stage_line"):
        L += wrap(red["stage_line"], "  ")
    elif red.get("attached"):
        L += wrap(f"does NOT rerun alone: {red.get('rerun_said', '')}", "  ")
    if red.get("clang_crash_files"):
        L += wrap(f"clang's own crash reproducer: {REDUCED_DIR}/clang-crash/ "
                  f"({', '.join(red['clang_crash_files'][:4])})", "  ")
    took = f"{clock(float(red.get('seconds') or 0))}"
    tests = f", {red['tests']} tests" if red.get("tests") else ""
    L += wrap(f"took {took}{tests}" + ("" if red.get("complete") else
                                      "; not finished: `ltobisect reduce` continues it"), "  ")
    L.append("")
    return L
