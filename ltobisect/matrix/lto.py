"""The LTO matrix: how the minimal config behaves without LTO and with the other LTO mode.

The first questions LLVM and kernel maintainers ask about a failure found with Clang LTO are
"does it fail without LTO?" and "with ThinLTO (or full LTO) instead?". When the minimal config
selects an LTO mode, the session builds it twice more with the kernel's LTO choice set to each
other mode (``CONFIG_LTO_NONE``, ``CONFIG_LTO_CLANG_THIN``, ``CONFIG_LTO_CLANG_FULL``), settled
by Kconfig like every candidate, judged by the same signature and journaled like every build (a
resumed session does not build them again). A mode the arch does not offer is reported as such,
not built. Both builds go in one batch, so with two workers they run side by side.

They are extra builds of a small config, never worth the result: they run only when the budget
and the build limit leave room for them after the ld.lld reproducer, and are reported as
skipped otherwise. The outcome is a plain dict kept in result.json (``lto_matrix``)::

    {"reported": "thin",
     "modes": [{"lto": "none", "outcome": "builds", "detail": ""},
               {"lto": "full", "outcome": "reproduces", "detail": ""}],
     "note": ""}

``outcome`` is one of OUTCOMES; ``lto`` one of MODES.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ltobisect import dotconfig
from ltobisect.model import Candidate, Change, Outcome, Verdict

#: The kernel's LTO choice (arch/Kconfig, since 5.12): our name for each mode -> its symbol.
MODES = {"none": "LTO_NONE", "thin": "LTO_CLANG_THIN", "full": "LTO_CLANG_FULL"}
CHOICE = frozenset(MODES.values())
#: What a mode's build gave, as the report and summary.json spell it.
OUTCOMES = ("reproduces", "builds", "fails-otherwise", "timeout", "out-of-memory",
            "unavailable", "skipped", "error")
#: Seconds kept for writing the artifacts after the matrix builds.
RESERVE = 30.0
#: A matrix build changes the LTO flags of every object, so it recompiles them all, where the
#: search's builds recompile what a few options touch: it gets this many times the search's
#: derived timeout, and the budget check counts it as this many bad-config builds.
CLEAN_BUILD_FACTOR = 4.0

_FROM_VERDICT = {
    Verdict.REPRODUCES: "reproduces",
    Verdict.PASSES: "builds",
    Verdict.OTHER_FAILURE: "fails-otherwise",
    Verdict.TIMEOUT: "timeout",
    Verdict.OUT_OF_MEMORY: "out-of-memory",
    Verdict.INFRA_ERROR: "error",
}


def lto_mode(config_text: str) -> Optional[str]:
    """The LTO mode a resolved .config builds with ("thin", "full"), None without Clang LTO."""
    settings = dotconfig.parse(config_text)
    for mode in ("thin", "full"):
        if settings.get(MODES[mode]) == "y":
            return mode
    return None


def with_mode(best: Candidate, mode: str) -> Candidate:
    """``best`` with the LTO choice set to ``mode`` instead of what it sets."""
    kept = frozenset(c for c in best if c.name not in CHOICE)
    return kept | {Change(MODES[mode], "y", "bool", "n")}


def affordable(time_left: Optional[float], builds_left: Optional[int], build_seconds: float,
               parallel: int, reserved: float) -> str:
    """Why two more builds cannot be afforded ("" when they can).

    ``build_seconds`` is what an incremental build took (the bad config's); ``parallel`` how many of
    the two run at once; ``reserved`` the seconds already promised to later steps (the ld.lld
    reproducer).
    """
    if builds_left is not None and builds_left < 2:
        return "the build limit leaves no room for two more builds"
    if time_left is None:
        return ""
    rounds = 1 if parallel >= 2 else 2
    needed = rounds * build_seconds * CLEAN_BUILD_FACTOR + reserved + RESERVE
    if time_left < needed:
        return (f"the budget left ({time_left:.0f}s) cannot afford two more clean builds of "
                f"about {build_seconds * CLEAN_BUILD_FACTOR:.0f}s each")
    return ""


def run_matrix(best: Candidate, best_config: str, resolve: Callable[[Candidate], Any],
               test: Callable[[Sequence[Candidate]], List[Outcome]],
               why_not: Callable[[], str]) -> Optional[Dict[str, Any]]:
    """Build ``best`` in the other LTO modes; the matrix dict, None when it does not apply.

    ``resolve`` settles a candidate (``Problem.resolve``), ``test`` builds and judges a batch
    without adopting anything, ``why_not`` says why the builds cannot be afforded ("" if they
    can); it is asked only when there is something to build.
    """
    reported = lto_mode(best_config)
    if reported is None:
        return None
    modes: List[Dict[str, Any]] = []
    wanted: List[Candidate] = []
    for mode in ("none", "thin", "full"):
        if mode == reported:
            continue
        cand = with_mode(best, mode)
        got = dotconfig.parse(resolve(cand).config_text)
        if got.get(MODES[mode]) != "y":
            modes.append({"lto": mode, "outcome": "unavailable",
                          "detail": "Kconfig does not offer it for this arch and config"})
            continue
        modes.append({"lto": mode, "outcome": "", "detail": ""})
        wanted.append(cand)
    matrix: Dict[str, Any] = {"reported": reported, "modes": modes, "note": ""}
    if not wanted:
        return matrix
    reason = why_not()
    if reason:
        for m in modes:
            if not m["outcome"]:
                m.update(outcome="skipped", detail=reason)
        matrix["note"] = reason
        return matrix
    outcomes = iter(test(wanted))
    for m in modes:
        if not m["outcome"]:
            word, detail = outcome_of(next(outcomes))
            m.update(outcome=word, detail=detail)
    return matrix


def outcome_of(o: Outcome) -> Tuple[str, str]:
    """A build's outcome as the matrices spell it (one of OUTCOMES) and its detail."""
    return _FROM_VERDICT.get(o.verdict, "error"), _detail(o)


def _detail(o: Outcome) -> str:
    if o.verdict in (Verdict.REPRODUCES, Verdict.PASSES):
        return ""
    if o.signature is not None:
        return o.signature.describe()
    return (o.detail or "")[:200]


def describe(matrix: Optional[Dict[str, Any]]) -> str:
    """The matrix in one line, e.g. "fails with ThinLTO (as reported); builds without LTO;
    fails the same way with full LTO" ("" when there is none)."""
    if not matrix or not matrix.get("reported"):
        return ""
    names = {"none": "without LTO", "thin": "with ThinLTO", "full": "with full LTO"}
    parts = [f"fails {names[matrix['reported']]} (as reported)"]
    said = {"reproduces": "fails the same way", "builds": "builds",
            "fails-otherwise": "fails otherwise", "timeout": "did not finish in time",
            "out-of-memory": "runs out of memory", "unavailable": "not offered",
            "skipped": "not built", "error": "could not be built"}
    for m in matrix.get("modes") or []:
        what = said.get(m.get("outcome"), m.get("outcome") or "?")
        detail = m.get("detail") or ""
        if m.get("outcome") == "fails-otherwise" and detail:
            what += f" ({detail})"
        parts.append(f"{what} {names.get(m.get('lto'), m.get('lto'))}")
    line = "; ".join(parts)
    if matrix.get("note"):
        line += f" ({matrix['note']})"
    return line
