"""The LLVM axis: which LLVM releases the minimal config fails with.

"Does it reproduce with LLVM 14?" is the first question of every toolchain thread. With
``--llvm-matrix`` (``-14,-16,-19``, or ``installed``: every ``clang-N`` with its ``ld.lld-N`` on
PATH) the session builds its minimal config once more with each release it names:

- the session's toolchain is *retargeted* (:func:`retarget`): ``LLVM=-16`` becomes ``LLVM=-19``,
  ``CC=clang-16`` becomes ``CC=clang-19``, ``/usr/lib/llvm-16/`` ``/usr/lib/llvm-19/``; a
  toolchain that names no LLVM program cannot be retargeted (bad input, said before any build);
- the fragment is resolved by Kconfig *for that compiler* (options depend on the compiler's
  version: ``CC_HAS_*``, ``HAS_LTO_CLANG``...); the lines it does not hold there are said
  (``meaning``), since the build then tests another config than the one reported;
- each build is judged by the session's signature and journaled under that toolchain's oracle
  fingerprint, so a resumed session builds none of them again;
- the release the session ran with is the result itself (``as reported``): never built again.

Builds are extra builds of a small config: they run only when the budget and the build limit leave
room (otherwise ``skipped``). A release whose programs are not installed is ``unavailable``.
The outcome, kept in result.json as ``llvm_matrix``::

    {"reported": "16",
     "releases": [{"llvm": "16", "outcome": "reproduces", "detail": "as reported", "meaning": []},
                  {"llvm": "19", "outcome": "builds", "detail": "", "meaning": []}],
     "note": ""}

and said in one line (:func:`describe`): ``fails with 16; builds with 19; ...``.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ltobisect.config import BuildSpec, split_make_var
from ltobisect.errors import InfraError, Stopped, UserError
from ltobisect.model import Outcome, Resolved
from ltobisect.matrix.lto import OUTCOMES, outcome_of

__all__ = ["OUTCOMES", "parse", "installed", "major_of", "retarget", "retarget_text", "missing",
           "affordable", "describe", "boundary", "outcome_of", "row", "run_matrix"]

#: An LLVM release as the matrix names it: its major version.
_MAJOR = re.compile(r"-?(\d{1,3})")
#: Versioned LLVM programs in a command (``clang-16``, ``ld.lld-16``, ``llvm-ar-16``) and
#: Debian's per-release directory (``/usr/lib/llvm-16/``).
_VERSIONED = re.compile(r"(?<![\w.+-])((?:clang(?:\+\+)?|ld\.lld|llvm-[a-z][a-z0-9-]*?|opt|llc)-)(\d+)(?![\w.])")
_LLVM_DIR = re.compile(r"(/llvm-)(\d+)(/)")
#: Unversioned programs a make variable may name (``CC=clang``): they get the release's suffix.
_PLAIN = re.compile(r"(?<![\w./+-])(clang(?:\+\+)?|ld\.lld)(?![\w.+-])")
#: The make variables whose programs are the toolchain's.
_TOOL_VARS = ("CC", "LD", "HOSTCC", "HOSTCXX", "AR", "NM", "OBJCOPY", "OBJDUMP", "READELF", "STRIP")
#: Seconds kept for writing the artifacts after the matrix builds.
RESERVE = 30.0
#: A build with another compiler recompiles every object (and ccache holds none of them).
CLEAN_BUILD_FACTOR = 4.0


def parse(text: str) -> Tuple[str, ...]:
    """``--llvm-matrix``: ``"-14,-16,19"`` -> ``("14", "16", "19")``, ``"installed"`` -> every
    installed release. A word that is not a release is bad input."""
    text = (text or "").strip()
    if text == "installed":
        found = installed()
        if not found:
            raise UserError("--llvm-matrix installed: no clang-N with its ld.lld-N is installed",
                            hint="install some, e.g. apt-get install clang-16 lld-16")
        return found
    majors: List[str] = []
    for word in text.split(","):
        m = _MAJOR.fullmatch(word.strip())
        if not m:
            raise UserError(f"--llvm-matrix: {word.strip()!r} is not an LLVM release",
                            hint="give releases such as -14,-16,-19, or installed")
        if m.group(1) not in majors:
            majors.append(m.group(1))
    return tuple(sorted(majors, key=int))


def installed(path: Optional[str] = None) -> Tuple[str, ...]:
    """The releases whose ``clang-N`` and ``ld.lld-N`` are both on PATH, oldest first."""
    found = set()
    for d in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        try:
            names = os.listdir(d or ".")
        except OSError:
            continue
        for name in names:
            m = re.fullmatch(r"clang-(\d+)", name)
            if m and shutil.which(f"ld.lld-{m.group(1)}", path=path):
                found.add(m.group(1))
    return tuple(sorted(found, key=int))


def missing(major: str) -> str:
    """Which of the release's programs is not installed ("" when both are)."""
    gone = [p for p in (f"clang-{major}", f"ld.lld-{major}") if shutil.which(p) is None]
    return " and ".join(gone)


def major_of(spec: Optional[BuildSpec], versions: Optional[Dict[str, str]] = None) -> Optional[str]:
    """The LLVM release a toolchain builds with: from what it names (``LLVM=-16``,
    ``CC=clang-16``, ``/usr/lib/llvm-16/``), else from ``clang --version`` in ``versions``
    (``toolchain_versions``); None for a toolchain that is not LLVM's."""
    if spec is not None:
        texts = [spec.llvm or ""] + [w.split("=", 1)[1] for w in spec.make_vars
                                     if split_make_var(w)[0] in _TOOL_VARS]
        for text in texts:
            m = re.fullmatch(r"-(\d+)", text)
            if m:
                return m.group(1)
            m = _VERSIONED.search(text) or _LLVM_DIR.search(text)
            if m:
                return m.group(2)
    for said in (versions or {}).values():
        m = re.search(r"clang version (\d+)\.", said or "")
        if m:
            return m.group(1)
    return None


def retarget_text(text: str, major: str) -> str:
    """``text`` (a command, a script) with every versioned LLVM program and directory moved to
    ``major``: ``clang-16 ... ld.lld-16`` -> ``clang-19 ... ld.lld-19``."""
    text = _VERSIONED.sub(lambda m: f"{m.group(1)}{major}", text)
    return _LLVM_DIR.sub(lambda m: f"{m.group(1)}{major}{m.group(3)}", text)


def retarget(spec: BuildSpec, major: str) -> BuildSpec:
    """The session's toolchain with LLVM ``major`` instead of its own. Raises
    :class:`UserError` when it names no LLVM program (GCC, or a plain ``cc``)."""
    llvm = spec.llvm
    changed = False
    if llvm is not None:
        if llvm.endswith("/"):
            moved = retarget_text(llvm, major)
            llvm = moved if moved != llvm else f"-{major}"
        else:  # LLVM=1 or LLVM=-16
            llvm = f"-{major}"
        changed = True
    words = []
    for word in spec.make_vars:
        name, value = split_make_var(word)
        if name in _TOOL_VARS:
            if _VERSIONED.search(value) or _LLVM_DIR.search(value):
                value, changed = retarget_text(value, major), True
            elif _PLAIN.search(value):
                value, changed = _PLAIN.sub(lambda m: f"{m.group(1)}-{major}", value), True
        words.append(f"{name}={value}")
    if not changed:
        raise UserError("--llvm-matrix needs an LLVM toolchain to move to other releases",
                        hint="give --llvm -16 (or CC=clang-16 in --make)")
    return replace(spec, llvm=llvm, make_vars=tuple(words))


def affordable(time_left: Optional[float], builds_left: Optional[int], build_seconds: float,
               count: int) -> str:
    """Why ``count`` more clean builds of ``build_seconds`` each (one after another) cannot be
    afforded ("" when they can)."""
    if builds_left is not None and builds_left < count:
        return f"the build limit leaves no room for {count} more builds"
    if time_left is None:
        return ""
    needed = count * build_seconds * CLEAN_BUILD_FACTOR + RESERVE
    if time_left < needed:
        return (f"the budget left ({time_left:.0f}s) cannot afford {count} more clean builds of "
                f"about {build_seconds * CLEAN_BUILD_FACTOR:.0f}s each")
    return ""


def boundary(releases: Sequence[Dict[str, Any]]) -> str:
    """Where the failure starts or ends along the releases that decided (reproduced or built):
    ``first failing release: 16`` when every older one builds and every newer one fails and the
    two sides are neighbours; ``first release that builds: 17`` the other way round; with
    releases in between untested, the range. "" when the outcomes do not split that way."""
    decided = sorted(((int(r["llvm"]), r["outcome"]) for r in releases
                      if r.get("outcome") in ("reproduces", "builds")), key=lambda x: x[0])
    flips = [i for i in range(1, len(decided)) if decided[i][1] != decided[i - 1][1]]
    if len(flips) != 1:
        return ""
    (lo, low_out), (hi, _) = decided[flips[0] - 1], decided[flips[0]]
    failing_newer = low_out == "builds"
    if hi == lo + 1:
        return f"first failing release: {hi}" if failing_newer else f"first release that builds: {hi}"
    what = "started failing" if failing_newer else "was fixed"
    return f"it {what} between {lo} and {hi} (releases in between not tested)"


def describe(matrix: Optional[Dict[str, Any]]) -> str:
    """The matrix in one line: ``fails with 16, 19; builds with 14; first failing release: 16``
    ("" when there is none)."""
    if not matrix or not matrix.get("releases"):
        return (f"not built ({matrix['note']})" if matrix and matrix.get("note") else "")
    groups: Dict[str, List[str]] = {}
    notes: List[str] = []
    for r in sorted(matrix["releases"], key=lambda r: int(r["llvm"])):
        groups.setdefault(r.get("outcome") or "error", []).append(r["llvm"])
        if r.get("meaning"):
            lines = r["meaning"]
            notes.append(f"under {r['llvm']} the fragment does not hold "
                         f"{', '.join(lines[:3])}{' ...' if len(lines) > 3 else ''}")
        if r.get("outcome") == "fails-otherwise" and r.get("detail"):
            notes.append(f"{r['llvm']}: {r['detail']}")
    said = {"reproduces": "fails with", "builds": "builds with",
            "fails-otherwise": "fails otherwise with", "timeout": "did not finish in time with",
            "out-of-memory": "runs out of memory with", "unavailable": "not installed:",
            "skipped": "not built with", "error": "could not be built with"}
    parts = [f"{said.get(k, k)} {', '.join(v)}" for k, v in groups.items()]
    edge = boundary(matrix["releases"])
    if edge:
        parts.append(edge)
    line = "; ".join(parts)
    extra = notes + ([matrix["note"]] if matrix.get("note") else [])
    if extra:
        line += f" ({'; '.join(extra)})"
    return line


def row(major: str, outcome: str, detail: str = "", meaning: Sequence[str] = ()) -> Dict[str, Any]:
    """One release's entry of the matrix."""
    assert outcome in OUTCOMES, outcome
    return {"llvm": major, "outcome": outcome, "detail": detail, "meaning": list(meaning)}



def run_matrix(majors: Sequence[str], reported: Optional[str], build: BuildSpec,
               resolve_for: Callable[[BuildSpec], Resolved],
               test: Callable[[BuildSpec, Resolved], Outcome],
               why_not: Callable[[int], str]) -> Dict[str, Any]:
    """Build the minimal config with each release of ``majors``; the matrix dict.

    ``resolve_for(build)`` resolves the minimal config for a retargeted toolchain (its Kconfig
    loaded for that compiler); ``test(build, resolved)`` builds and judges it by the session's
    signature (journaled); ``why_not(n)`` says why ``n`` more builds cannot be afforded ("").
    The session's own release is the result itself. A stop or an infrastructure error leaves
    the releases not built yet ``skipped`` and says why in ``note``.
    """
    releases: Dict[str, Dict[str, Any]] = {}
    wanted: List[Tuple[str, BuildSpec, Resolved]] = []
    if reported is not None and reported not in majors:  # the line always says the result's own
        majors = tuple(sorted(set(majors) | {reported}, key=int))
    for major in majors:
        if major == reported:
            releases[major] = row(major, "reproduces", "as reported")
            continue
        gone = missing(major)
        if gone:
            releases[major] = row(major, "unavailable", f"{gone} not installed")
            continue
        other = retarget(build, major)
        resolved = resolve_for(other)
        meaning = [f"{i.change.line()} ({i.reason})" for i in resolved.ineffective]
        releases[major] = row(major, "skipped", "", meaning)
        wanted.append((major, other, resolved))
    note = why_not(len(wanted)) if wanted else ""
    if not note:
        for major, other, resolved in wanted:
            try:
                word, detail = outcome_of(test(other, resolved))
            except (Stopped, InfraError) as exc:
                note = f"not built: {exc.line() if isinstance(exc, InfraError) else exc}"
                break
            releases[major].update(outcome=word, detail=detail)
    return {"reported": reported, "releases": [releases[m] for m in majors], "note": note}
