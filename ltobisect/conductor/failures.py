"""Which failure of a build log a session minimizes, what that costs to build, and when the
user's limits leave nothing to minimize.

A randconfig often breaks in several places at once (``make -k`` goes on past each error). The
session takes one of them, named by the user (``--signature REGEX`` points at a log line,
``--failure N`` at the N-th distinct failure as ``ltobisect failures LOG`` numbers them) or the
primary one (:func:`ltobisect.logs.signature.primary`). Whatever picked it, the failure's own kind and
file choose the make target (:func:`ltobisect.oracle.targets_for`): a compile error builds its
directory in seconds, not the whole kernel.

Everything here is a pure function of the session's settings and the logs; the session calls
it and emits the messages.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import List, Optional, Sequence

from ltobisect.logs import signature as sg
from ltobisect.config import SessionConfig
from ltobisect.errors import UserError
from ltobisect.logs.logscan import LogFailure
from ltobisect.model import Outcome, Signature, SignatureKind, Verdict
from ltobisect.oracle import targets_for

#: make's own word that it cannot build a goal (not a missing prerequisite: that says "needed by").
#: With -k make leaves out the "Stop.".
_NO_RULE = re.compile(r"No rule to make target '(?P<target>[^']+)'\.(?:\s+Stop\.?)?\s*$", re.MULTILINE)


def judged_by_log(config: SessionConfig) -> bool:
    """Whether the signature comes from a log (not a script, nor a memory or time threshold)."""
    return (config.test_script is None and config.memory_threshold is None
            and config.duration_threshold is None)


def numbered(listed: Sequence[LogFailure], number: int, log_name: str) -> LogFailure:
    """The ``number``-th failure (``--failure N``), or a one-line error naming how many there are."""
    if not listed:
        raise UserError(f"--failure {number}: no failure found in {log_name}",
                        hint="give the log of the failing build")
    if not 1 <= number <= len(listed):
        raise UserError(f"--failure {number}: {log_name} holds {len(listed)} distinct "
                        f"failure{'s' if len(listed) != 1 else ''}",
                        hint=f"`ltobisect failures {log_name}` lists them, numbered")
    return listed[number - 1]


def regex_signature(pattern: str, log_text: str, roots: Sequence[str]) -> Signature:
    """``--signature REGEX`` as a signature that also knows the failure of the line it picked.

    The regex alone decides whether a log reproduces; the picked line's failure (its ``basis``)
    chooses the target, and the line itself is the report's headline.
    """
    sig = sg.from_regex(pattern)
    picked = sg.regex_failure(log_text, pattern, roots=roots)
    if picked is not None:
        return replace(sig, basis=picked.signature, line=picked.text)
    m = re.search(pattern, log_text, re.MULTILINE)
    if m is None:
        return sig
    start = log_text.rfind("\n", 0, m.start()) + 1
    end = log_text.find("\n", m.end())
    line = log_text[start:end if end >= 0 else len(log_text)].strip()
    return replace(sig, line=sg.normalize_text(line, roots)[:240])


def pick(config: SessionConfig, log_text: str, listed: Sequence[LogFailure],
         roots: Sequence[str], log_name: str) -> Optional[Signature]:
    """The failure the user means in a log (``listed`` are its failures): the regex's line, the
    ``--failure N``-th, else the primary one. ``None`` when a threshold or a script decides, or
    the log shows no failure."""
    if not judged_by_log(config):
        return None
    if config.signature_regex is not None:
        return regex_signature(config.signature_regex, log_text, roots)
    if config.failure is not None:
        return numbered(listed, config.failure, log_name).signature
    return sg.extract(log_text, roots=roots)


def union_targets(config: SessionConfig, listed: Sequence[LogFailure]) -> Optional[List[str]]:
    """The targets one build needs to answer every failure of ``listed`` (``--each-failure``).

    ``None`` when the user gave ``--target`` (it wins), ``[]`` (make's default goal) when one
    failure needs it.
    """
    spec = config.build
    if spec is None or spec.target:
        return None
    out: List[str] = []
    for f in listed:
        wanted = targets_for(spec, f.signature)
        if not wanted:
            return []
        out.extend(t for t in wanted if t not in out)
    return out


def check_limits(config: SessionConfig, bad: Outcome, log_text: str, targets: Sequence[str]) -> None:
    """Bad input when the bad config's own build shows the search cannot work.

    Its build ended by the user's ``--timeout`` or ``--mem-limit`` (limits, unlike
    ``--time-above``/``--mem-above``, which ask for exactly that), or make has no rule for a
    target it was asked to build: every test would end the same way, whatever the config.
    """
    if bad.verdict is Verdict.TIMEOUT and config.timeout is not None and config.duration_threshold is None:
        raise UserError(
            f"the bad config's build did not finish within --timeout {config.timeout:.0f} s, so no "
            "test could show the failure",
            hint="raise --timeout above the bad config's build time, or minimize the slowness "
                 "itself with --time-above")
    if (bad.verdict is Verdict.OUT_OF_MEMORY and config.mem_limit is not None
            and config.memory_threshold is None and bad.signature is not None
            and bad.signature.kind == SignatureKind.MEMORY):
        raise UserError(
            f"the bad config's build was stopped at --mem-limit {config.mem_limit / 2**20:.0f} MiB, "
            "so no test could show the failure",
            hint="raise --mem-limit above the bad config's peak, or minimize the memory use "
                 "itself with --mem-above")
    for m in _NO_RULE.finditer(log_text):
        goal = m.group("target")
        if goal in targets or goal.rstrip("/") in (t.rstrip("/") for t in targets):
            raise UserError(f"make has no rule to make the target {goal!r}",
                            hint="check --target: a directory target ends with a slash, as "
                                 "drivers/gpu/ does; paths are relative to the tree")


def number_of(sig: Signature, listed: Sequence[LogFailure]) -> Optional[int]:
    """Which of ``listed`` the signature is (a regex: the failure of the line it picked)."""
    target = sig.basis if sig.kind == SignatureKind.REGEX else sig
    if target is None:
        return None
    for f in listed:
        if sg.same(f.signature, target):
            return f.number
    return None


def choice_notes(config: SessionConfig, sig: Signature, listed: Sequence[LogFailure],
                 targets: Sequence[str], log_name: str) -> List[str]:
    """One line each: which failure the session took when the log holds several, and a target
    slower than the failure needs."""
    notes: List[str] = []
    if not judged_by_log(config):
        return notes
    if len(listed) > 1 and not config.each_failure:
        n = number_of(sig, listed)
        which = f"#{n}: {listed[n - 1].text}" if n else sig.describe()
        notes.append(f"the log holds {len(listed)} distinct failures; this search minimizes {which} "
                     f"(`ltobisect failures {log_name}` lists them; --failure N takes another, "
                     "--each-failure minimizes each)")
    spec = config.build
    if spec is None:
        return notes
    own = targets_for(replace(spec, target=None), sig)
    if spec.target and own and own != list(targets) and own != ["vmlinux"]:
        notes.append(f"--target {spec.target} builds more than this failure needs: "
                     f"--target {' '.join(own)} would test it in a fraction of the time")
    elif sig.kind == SignatureKind.REGEX and sig.basis is None and not targets:
        notes.append(f"/{sig.message}/ points at no error line ltobisect recognizes, so every test "
                     "builds make's default goal; --target DIR/ builds less")
    return notes
