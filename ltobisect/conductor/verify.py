"""Verification: the result must reproduce when rebuilt, and every line of it must be needed.

:class:`Verifier` runs the strategy, rebuilds the best ``repeats`` times, and when a rebuild does
not reproduce, names it flaky and backtracks to the latest earlier best that still reproduces,
then searches again. A result that survives is re-checked for 1-minimality: best minus each
change is rebuilt once more, judged by the majority of all its verdicts (a flaky "passes" during
the search would otherwise leave an unneeded line in the result).

Every rebuild goes through :meth:`ltobisect.problem.Problem.retest`, so it is journaled like any
test, and a resumed session counts the verification builds it already has.

Also here: :func:`check_with_make` (the kernel's own olddefconfig against our resolution).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

from ltobisect import dotconfig, process
from ltobisect.config import BuildSpec
from ltobisect.errors import InfraError, NotReproduced, UserError
from ltobisect.events import Message
from ltobisect.store.journal import Journal
from ltobisect.kconfig import make_olddefconfig
from ltobisect.model import Candidate, Change, Label, Phase, Resolved, Verdict, ordered
from ltobisect.problem import Problem
from ltobisect.speculate import search
from ltobisect.strategies.base import Pipeline

#: Search, verify and backtrack at most this many times before calling the failure flaky.
MAX_ROUNDS = 12
#: Most verdicts of one config :meth:`Verifier._second_opinion` gathers to settle a
#: disagreement (odd, so that the majority decides).
SETTLE_MAX = 7
#: Re-check 1-minimality (one rebuild per remaining change) only for results this small.
RECHECK_MAX = 12
#: Seconds merge_config.sh may take (a second or two; it runs no build).
MERGE_TIMEOUT = 300.0


@dataclass
class Verification:
    """What the verification of a result established; result.json's ``verification``.

    ``verdicts``: the rebuilds' verdicts (``repeats`` of them); ``minimality_checked``: each
    line's removal was re-checked; ``rounds``: searches it took (a failed verification
    backtracks and searches again); ``olddefconfig``: the kernel's own olddefconfig compared
    with our resolution (:func:`check_with_make`, or why it was not); ``unverified``: what was
    asked for and did not pass, in words (:meth:`judge`; empty: verified).
    """

    repeats: int
    verdicts: List[str]
    minimality_checked: bool
    rounds: int
    olddefconfig: Dict[str, Any] = field(default_factory=dict)
    unverified: List[str] = field(default_factory=list)

    def judge(self, asked: int, size: int) -> List[str]:
        """Fill and return :attr:`unverified` for ``asked`` rebuilds of a ``size``-line result."""
        out: List[str] = []
        if asked == 0:
            out.append("no rebuilds (--verify 0)")
        elif len(self.verdicts) < asked or any(v != Verdict.REPRODUCES for v in self.verdicts):
            out.append(f"reproduced in {self.verdicts.count(Verdict.REPRODUCES)} of {asked} rebuilds")
        if not self.minimality_checked:
            out.append(f"1-minimality not re-checked (more than {RECHECK_MAX} changes)"
                       if size > RECHECK_MAX and asked else "1-minimality not re-checked")
        mk = self.olddefconfig
        if mk.get("checked") and not mk.get("equal"):
            out.append("make olddefconfig reads the fragment differently")
        self.unverified = out
        return out

    @property
    def verified(self) -> bool:
        return not self.unverified

    def to_json(self) -> Dict[str, Any]:
        return {"repeats": self.repeats, "verdicts": list(self.verdicts),
                "minimality_checked": self.minimality_checked, "rounds": self.rounds,
                "olddefconfig": dict(self.olddefconfig), "unverified": list(self.unverified)}


class Verifier:
    """Search until the best result is verified (see the module docstring)."""

    def __init__(self, problem: Problem, journal: Journal, changes: Sequence[Change], repeats: int,
                 *, on_best: Callable[[Candidate, Resolved], None],
                 emit: Callable[[Any], None], phase: Callable[[str, str], None]) -> None:
        self.problem = problem
        self.journal = journal
        self.changes = tuple(changes)
        self.repeats = repeats
        self.on_best = on_best
        self.emit = emit
        self.phase = phase

    def minimize(self, strategy: Any) -> Tuple[Candidate, Verification]:
        """Search, verify, backtrack when verification fails, re-check 1-minimality."""
        failed: set = set()
        for _round in range(MAX_ROUNDS):
            self.phase(Phase.SEARCHING, getattr(strategy, "name", ""))
            if not isinstance(strategy, Pipeline):  # a pipeline tells of each of its steps
                self.problem.begin(getattr(strategy, "name", ""))
            search(self.problem, strategy)  # idle workers build ahead (ltobisect.speculate)
            best = self.problem.best
            self.phase(Phase.VERIFYING, f"{len(best)} changes")
            digest = self.problem.resolve(best).digest
            verdicts = self.verify(best)
            if not all(v is Verdict.REPRODUCES for v in verdicts):
                failed.add(digest)
                got = sum(v is Verdict.REPRODUCES for v in verdicts)
                self.emit(Message("warning", f"the result ({len(best)} changes) reproduced in "
                                              f"{got} of {len(verdicts)} rebuilds: backtracking"))
                if len(best) == len(self.changes):
                    raise NotReproduced(
                        f"the bad config reproduced in {got} of {len(verdicts)} rebuilds: "
                        "the failure is flaky", hint="see the flaky configs in report.txt")
                prev = self._backtrack(best, failed)
                self.problem.set_best(prev)
                self.on_best(prev, self.problem.resolve(prev))
                continue
            if self.recheck(best):
                continue
            return best, Verification(len(verdicts), [v.value for v in verdicts],
                                      len(best) <= RECHECK_MAX and self.repeats > 0, _round + 1)
        raise NotReproduced(f"no result survived verification in {MAX_ROUNDS} rounds: the failure "
                            "is flaky", hint="see the flaky configs in report.txt")

    def _backtrack(self, best: Candidate, failed: set) -> Candidate:
        """The latest earlier best that reproduces when rebuilt (the bad config at worst).

        A result adopted on a flaky verdict may itself descend from an earlier flaky result, so
        each earlier best is rebuilt once, newest first, until one reproduces again; those that
        do not are marked failed too.
        """
        full = frozenset(self.changes)
        self.problem.label = Label.VERIFY
        for cand in reversed(self.problem.history):
            if len(cand) <= len(best) or self.problem.resolve(cand).digest in failed:
                continue
            if cand == full:
                return full
            if self._second_opinion(cand):
                return cand
            failed.add(self.problem.resolve(cand).digest)
        return full

    def _second_opinion(self, cand: Candidate, rebuild: bool = True) -> bool:
        """Rebuild ``cand`` and judge it by the majority of all its verdicts so far.

        Used where one verdict has already been contradicted (backtracking, the 1-minimality
        re-check). Verdicts that disagree are settled by further rebuilds until one side leads
        by two (or ``SETTLE_MAX`` verdicts are in): a single flip then never decides, and two
        in a row are needed to. Verdicts that agree cost no more rebuilds than before.
        """
        r = self.problem.resolve(cand)
        before = self.problem.best
        if rebuild:
            self.problem.retest(cand)

        def tally() -> Tuple[int, int]:
            verdicts = [rec.outcome.verdict for rec in self.journal.history(r.digest)
                        if rec.outcome.verdict.is_final]
            yes = sum(v is Verdict.REPRODUCES for v in verdicts)
            return yes, len(verdicts) - yes

        yes, no = tally()
        for _ in range(SETTLE_MAX):  # rebuilds that end in an infra error count here too
            if yes != no and (yes == 0 or no == 0 or abs(yes - no) >= 2 or yes + no >= SETTLE_MAX):
                break
            self.problem.retest(cand)
            yes, no = tally()
        if yes > no and len(cand) < len(self.problem.best):
            self.problem.set_best(cand)
            self.on_best(cand, r)
        elif yes <= no and self.problem.best != before:
            # A rebuild that reproduced by chance was adopted by the gate: undo that.
            self.problem.set_best(before)
            self.on_best(before, self.problem.resolve(before))
        return yes > no

    def verify(self, best: Candidate) -> List[Verdict]:
        """Rebuild ``best`` verify_repeats times (reusing verification builds already journaled)."""
        want = self.repeats
        r = self.problem.resolve(best)
        # Rebuilds already journaled (a run killed while verifying) count: the trailing run of
        # reproducing verification records of this config. An earlier failed verification does
        # not: the config was searched again since, and is judged afresh.
        done: List[Verdict] = []
        for rec in reversed(self.journal.history(r.digest)):
            if rec.label != Label.VERIFY or rec.outcome.verdict is not Verdict.REPRODUCES:
                break
            done.append(rec.outcome.verdict)
        verdicts = done[:want]
        self.problem.label = Label.VERIFY
        while len(verdicts) < want and all(v is Verdict.REPRODUCES for v in verdicts):
            verdicts.append(self.problem.retest(best).verdict)
        return verdicts

    def recheck(self, best: Candidate) -> bool:
        """Rebuild best minus each change once more; True when a smaller result reproduced.

        The search proved 1-minimality with one verdict per candidate; a flaky "passes" there
        would leave an unneeded change in the result, so each is confirmed by a second build.
        """
        if len(best) > RECHECK_MAX or self.repeats == 0:
            return False
        best_digest = self.problem.resolve(best).digest
        self.problem.label = Label.RECHECK
        for c in ordered(best):
            sub = best - {c}
            r = self.problem.resolve(sub)
            if r.digest == best_digest:
                continue
            rechecked = any(rec.label == Label.RECHECK for rec in self.journal.history(r.digest))
            if self._second_opinion(sub, rebuild=not rechecked):
                return True
        return False


def check_with_make(tree: Any, build: BuildSpec, baseline_text: str, best: Candidate,
                    best_res: Resolved, work: Path) -> Dict[str, Any]:
    """Settle baseline + fragment with the kernel's own tools, both ways a user does, and compare.

    ``appended``: ``cat baseline fragment.config > .config; make olddefconfig``, the reading the
    search resolved every candidate with. ``merge_config``: the kernel's ``merge_config.sh -m``
    then ``make olddefconfig``, what reproduce.sh and most maintainers run. Both must give the
    .config that was tested, byte for byte in its settings; a difference is reported with the
    symbols, and report.txt says loudly that the fragment is not exact.
    """
    tree_dir = Path(build.tree)
    fragment = tree.fragment(best)
    readings: Dict[str, Dict[str, Any]] = {}
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        run = dict(arch=build.arch, llvm=build.llvm, make_vars=build.make_vars)
        appended = make_olddefconfig(tree_dir, baseline_text + fragment, work_dir=work / "appended", **run)
        readings["appended"] = _compare(best_res.config_text, appended)
        merged_input = _merge_config(tree_dir, work / "merge", baseline_text, fragment)
        merged = make_olddefconfig(tree_dir, merged_input, work_dir=work / "merged", **run)
        readings["merge_config"] = _compare(best_res.config_text, merged)
    except (UserError, InfraError, OSError) as exc:
        return {"checked": False, "note": f"make olddefconfig failed: {exc}", "readings": readings}
    diff = sorted({d for r in readings.values() for d in r["diff"]})
    return {"checked": True, "equal": not diff, "diff": diff[:40], "differing": len(diff),
            "readings": readings}


def _settings(text: str) -> Dict[str, str]:
    """``{CONFIG_NAME: value as written}`` of a .config text (``n`` for "is not set")."""
    return {"CONFIG_" + name: value for name, value in dotconfig.assignments(text, unquote=False)}


def _compare(ours: str, theirs: str) -> Dict[str, Any]:
    a, b = _settings(ours), _settings(theirs)
    diff = sorted(f"{k}: ours {a.get(k, 'unset')}, make {b.get(k, 'unset')}"
                  for k in set(a) | set(b) if a.get(k) != b.get(k))
    return {"equal": not diff, "diff": diff[:40], "differing": len(diff)}


def _merge_config(tree: Path, work: Path, baseline_text: str, fragment: str) -> str:
    """The kernel's ``scripts/kconfig/merge_config.sh -m`` of baseline and fragment (unsettled)."""
    work.mkdir(parents=True, exist_ok=True)
    base, frag = work / "baseline.config", work / "fragment.config"
    base.write_text(baseline_text)
    frag.write_text(fragment)
    try:
        code, said = process.capture(["sh", str(tree / "scripts" / "kconfig" / "merge_config.sh"),
                                      "-m", "-O", str(work), str(base), str(frag)], cwd=work,
                                     timeout=MERGE_TIMEOUT)
    except OSError as exc:
        raise InfraError(f"cannot run merge_config.sh: {exc}") from exc
    if code != 0:
        raise InfraError(f"merge_config.sh failed ({code}): {said.strip()[-200:]}")
    return (work / ".config").read_text()
