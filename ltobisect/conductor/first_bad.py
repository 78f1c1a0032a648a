"""``ltobisect bisect STATE --good REV``: the first bad commit of a minimized failure.

A minimal config makes bisecting commits cheap: each step builds a tiny config. The steps:

1. **Endpoints first.** The good revision must build and the bad one fail the same way; either
   answer otherwise ends the run with a one-line error (nothing to bisect).
2. **Steps.** The next revision is the one git's own bisection picks (``rev-list
   --bisect-all``), skipped ones excepted. At each revision the session's baseline and fragment
   are resolved by that revision's Kconfig (the lines it does not know or does not hold are said
   with the step), built in the session's sandbox (one checkout under the work directory,
   reused between steps, so builds are incremental: see :mod:`ltobisect.history`) and judged by
   the session's signature: the failure is *bad*, a clean build *good*, anything else (another
   failure, a timeout, a build that cannot run) *skip*, never good or bad (git's 125).
3. **The result.** When every commit of the range but one bad commit is decided, that commit is
   the first bad one; when skipped commits remain in the range, the result is the range ("one
   of ..."), as git says it.
4. **Confidence.** The first bad commit and its parent are built again, as many times as the
   session's ``--verify`` asked: a verdict that changes is flakiness, and the result says so.
5. **The revert check.** The first bad commit reverted on the bad revision (when it reverts
   cleanly) must build clean: otherwise the commit is not the whole story, and the result says so.

Every build's verdict is appended to ``bisect/steps.jsonl`` of the work directory (fsync) before
the next decision: a killed run continues where it stopped, building nothing twice. The outcome
goes to result.json (``bisect``), report.txt and summary.json
(:func:`ltobisect.artifacts.facts.bisect_lines`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ltobisect.config import SessionConfig
from ltobisect.errors import NotReproduced, Stopped, UserError
from ltobisect.events import Message, PhaseStarted, ReduceProgress
from ltobisect.history import Commit, Repo
from ltobisect.store.journal import changes_from_json, fsync_dir, write_json_atomic
from ltobisect.limits import StopCondition
from ltobisect.conductor.load import load_build_tree
from ltobisect.model import Candidate, Outcome, Phase, Resolved, Signature, Verdict
from ltobisect.oracle import OracleSpec
from ltobisect.conductor.load import minimized_session
from ltobisect.store.state import ResultDoc

#: A revision's build compiles what changed since the last one, the first a whole config:
#: it gets this many times the session's derived timeout (and continues while it makes objects).
FIRST_BUILD_FACTOR = 4.0
STEPS_FILE = "steps.jsonl"
#: The words of a step's verdict, as git's bisection speaks.
GOOD, BAD, SKIP = "good", "bad", "skip"


@dataclass
class Prepared:
    """The minimized session a bisection starts from."""

    config: SessionConfig
    sig: Signature
    result: ResultDoc
    best: Candidate


def prepare(state: Path) -> Prepared:
    """The minimized session in ``state``; UserError when there is none."""
    config, doc, result = minimized_session(state, "bisect", " --good REV")
    if doc.signature is None or not (result.best or {}).get("changes"):
        raise UserError(f"{state} holds no minimized result to bisect",
                        f"finish the search first: ltobisect resume {state}")
    if config.build is None or config.test_script is not None:
        raise UserError("a session judged by a --test script cannot be bisected by builds",
                        "bisect it with git bisect run and the script")
    best = frozenset(changes_from_json(result.best["changes"]))
    return Prepared(config, doc.signature, result, best)


def verdict_word(o: Outcome) -> str:
    """good, bad or skip for a build's outcome."""
    if o.verdict is Verdict.REPRODUCES:
        return BAD
    if o.verdict is Verdict.PASSES:
        return GOOD
    return SKIP


class Steps:
    """``steps.jsonl``: every finished build of the bisection, one JSON line each, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: List[Dict[str, Any]] = []
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if text and not text.endswith("\n"):
            # A line torn by a kill: cut it off, or the next record would be glued to it.
            text = text[:text.rfind("\n") + 1]
            with open(path, "r+b") as f:
                f.truncate(len(text.encode("utf-8")))
        for line in text.splitlines():
            try:
                self.records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a kill: its build is done again

    def find(self, rev: str, kind: str) -> List[Dict[str, Any]]:
        return [r for r in self.records if r["rev"] == rev and r["kind"] == kind]

    def append(self, record: Dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if new:
            fsync_dir(self.path.parent)
        self.records.append(record)


class Bisection:
    """One run of ``ltobisect bisect`` (see the module docstring)."""

    def __init__(self, prepared: Prepared, repo: Repo, good: str, bad: str,
                 start_executor: Callable[[OracleSpec], Any], emit: Callable[[object], None],
                 stop: StopCondition, work: Path) -> None:
        self.p = prepared
        self.repo = repo
        self.good_rev, self.bad_rev = good, bad
        self.start_executor = start_executor
        self.emit = emit
        self.stop = stop
        self.dir = work / "bisect"
        self.src = self.dir / "src"
        self.index = self.dir / "index"
        self.dirty = self.dir / "reverted.json"
        identity = {"best": (prepared.result.best or {}).get("digest"),
                    "signature": prepared.sig.to_json()}
        self.steps = self._steps_for(identity)
        self.executor: Any = None
        self.left: Optional[int] = None  # commits left in the range, once known
        self.checked_out: Optional[str] = None
        self._resolved: Dict[str, Resolved] = {}  # by revision: its Kconfig's resolution
        self.step_began = time.monotonic()

    def _steps_for(self, identity: Dict[str, Any]) -> Steps:
        """The steps of this result; those of another result (a session minimized again) are
        set aside, not mixed in."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ident = self.dir / "for.json"
        try:
            same = json.loads(ident.read_text()) == identity
        except (OSError, ValueError):
            same = not (self.dir / STEPS_FILE).exists()
        if not same and (self.dir / STEPS_FILE).exists():
            (self.dir / STEPS_FILE).rename(self.dir / f"steps-{int(time.time())}.jsonl")
        write_json_atomic(ident, identity)
        return Steps(self.dir / STEPS_FILE)

    # -- one build -----------------------------------------------------------------------------
    def _checkout(self, sha: str) -> None:
        self.step_began = time.monotonic()  # a step's wall time counts its checkout and Kconfig
        self._undo_revert()
        if self.checked_out != sha:
            self.repo.checkout(sha, self.src, self.index)
            self.checked_out = sha

    def _undo_revert(self) -> None:
        """A revert applied by a run that was killed is undone before anything else builds."""
        try:
            paths = json.loads(self.dirty.read_text())
        except (OSError, ValueError):
            return
        self.repo.restore(self.src, self.index, paths)
        self.dirty.unlink()

    def _resolve(self) -> Resolved:
        """The session's baseline and fragment, resolved by the checked-out revision's Kconfig:
        loaded once per revision (a confirmation reuses it; a revert, which may change the
        Kconfig files, loads them again)."""
        cfg = self.p.config
        assert cfg.build is not None
        key = None if self.dirty.exists() else self.checked_out
        if key is not None and key in self._resolved:
            return self._resolved[key]
        tree = load_build_tree(replace(cfg.build, tree=self.src), self.dir / "kconfig")
        resolved = tree.resolver(tree.baseline(cfg.baseline))(self.p.best)
        if key is not None:
            self._resolved[key] = resolved
        return resolved

    def _spec(self) -> OracleSpec:
        cfg, result = self.p.config, self.p.result
        assert cfg.build is not None
        timeout = cfg.timeout
        derived = timeout is None and result.timeout is not None
        if derived:
            timeout = float(result.timeout) * FIRST_BUILD_FACTOR  # type: ignore[arg-type]
        return OracleSpec(work_dir=self.dir, build=replace(cfg.build, tree=self.src),
                          signature=self.p.sig, timeout=timeout, mem_limit=cfg.mem_limit,
                          workers=1, timeout_derived=derived)

    def build(self, sha: str, kind: str) -> Dict[str, Any]:
        """Build revision ``sha`` (``kind``: test, confirm, revert); its step record. A step
        already recorded is not built again."""
        done = self.steps.find(sha, kind)
        if done:
            return dict(done[-1], cached=True)
        if self.stop.requested:
            raise Stopped(self.stop.reason)
        self._checkout(sha)
        return self._build_here(sha, kind)

    def _build_here(self, sha: str, kind: str, reverted: str = "") -> Dict[str, Any]:
        step = {"rev": sha, "kind": kind, "reverted": reverted}
        try:
            resolved = self._resolve()
        except Stopped:
            raise
        except Exception as exc:  # a revision whose Kconfig cannot be read cannot be built: a skip
            return self._record(step, verdict=SKIP, outcome="kconfig", seconds=0.0, unknown=[],
                                log=None, detail=f"its Kconfig cannot be read: {exc}")
        if self.executor is None:
            self.executor = self.start_executor(self._spec())
        else:
            self.executor.judge_by(self._spec())
        self.emit(PhaseStarted(phase=Phase.BISECTING, detail=f"{kind} {sha[:12]}"))
        outcome = self.executor.run([resolved], lambda *a: None, [f"bisect {kind}"])[0]
        if self.stop.requested and not outcome.verdict.is_final:
            raise Stopped(self.stop.reason)  # a killed build is no verdict: nothing recorded
        return self._record(step, verdict=verdict_word(outcome), outcome=outcome.verdict.value,
                            detail=outcome.detail or "", seconds=round(outcome.duration, 1),
                            unknown=[f"{i.change.line()} ({i.reason})" for i in resolved.ineffective],
                            log=outcome.log_path)

    def _record(self, step: Dict[str, Any], *, detail: str, **fields: Any) -> Dict[str, Any]:
        """A finished step, fsynced to the steps file before anything acts on it."""
        record = dict(step, detail=detail[:300], wall=round(time.monotonic() - self.step_began, 1),
                      at=time.time(), **fields)
        self.steps.append(record)
        return record

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> Dict[str, Any]:
        """Bisect; the outcome (result.json's ``bisect``). Raises UserError when an endpoint
        does not answer as it must, :class:`Stopped` on a stop (the steps are kept)."""
        repo = self.repo
        good, bad = self.good_rev, self.bad_rev
        if good == bad or not repo.is_ancestor(good, bad):
            raise UserError(f"the good revision {good[:12]} is not an ancestor of the bad one "
                            f"{bad[:12]}", "give --good an older revision than --bad")
        total = len(repo.between([bad], [good]))
        out: Dict[str, Any] = {"good": good, "bad": bad, "range": total}
        self.emit(PhaseStarted(phase=Phase.BISECTING, detail=f"{total} commits between the endpoints"))
        self._endpoint(good, GOOD, "the good revision")
        self._endpoint(bad, BAD, "the bad revision")
        goods, bads, skips = [good], [bad], set()
        decided = {GOOD: goods, BAD: bads}
        for r in self.steps.records:  # what a killed run had decided
            if r["kind"] != "test" or r["rev"] in (good, bad):
                continue
            if r["verdict"] in decided:
                decided[r["verdict"]].append(r["rev"])
            else:
                skips.add(r["rev"])
        while True:
            left = repo.between(bads, goods)
            self.left = len(left)
            undecided = [c for c in left if c not in bads and c not in skips]
            self.emit(ReduceProgress(step="bisect", size=len(left), unit="commits", start=total,
                                     tests=len(self.steps.records)))
            if not undecided:
                break
            pick = self._pick(left, bads, goods, undecided)
            step = self.build(pick, "test")
            if step["verdict"] in decided:
                decided[step["verdict"]].append(pick)
            else:
                skips.add(pick)
                self.emit(Message("info", f"skipped {pick[:12]}: {step['detail'] or step['outcome']}"))
        firsts = [c for c in left if c in bads]
        first = firsts[-1] if firsts else bad  # topological order, newest first: the oldest bad
        hidden = [c for c in left if c in skips]
        out.update(first_bad=None if hidden else first,
                   candidates=[] if not hidden else [c for c in left if c in skips or c == first])
        out["commit"] = _commit_json(repo.commit(first)) if not hidden else None
        out["skipped"] = [self._skip_json(c) for c in sorted(skips, key=lambda c: c)]
        if not hidden:
            out["confidence"] = self._confirm(first)
            out["revert"] = self._revert(first, bad)
        out["steps"] = [self._step_json(r) for r in self.steps.records]
        out["builds"] = len(self.steps.records)
        out["build_seconds"] = round(sum(float(r.get("seconds") or 0) for r in self.steps.records), 1)
        out["unknown"] = sorted({u for r in self.steps.records for u in r.get("unknown") or []})
        return out

    def _endpoint(self, sha: str, want: str, what: str) -> None:
        step = self.build(sha, "test")
        if step["verdict"] == want:
            return
        said = f"{step['outcome']}: {step['detail']}" if step["detail"] else step["outcome"]
        if want == BAD:
            raise NotReproduced(f"{what} {sha[:12]} does not fail this way ({said})",
                                hint="give --bad a revision that fails as the session's did")
        hint = ("give --good an older revision that builds" if step["verdict"] == BAD else
                "give --good a revision that builds this config")
        raise UserError(f"{what} {sha[:12]} does not build cleanly ({said})", hint=hint)

    def _pick(self, left: Sequence[str], bads: Sequence[str], goods: Sequence[str],
              undecided: Sequence[str]) -> str:
        """The revision git's bisection would test next in the range ``left`` (newest first),
        skipped ones excepted."""
        newest_bad = next(c for c in left if c in bads)
        wanted = set(undecided)
        for sha in self.repo.bisect_order(newest_bad, goods):
            if sha in wanted:
                return sha
        return undecided[len(undecided) // 2]

    def _confirm(self, first: str) -> Dict[str, Any]:
        """The first bad commit and its parent built again (the session's verify count)."""
        repeats = max(0, self.p.config.verify_repeats)
        parents = self.repo.commit(first).parents
        said: Dict[str, Any] = {"repeats": repeats, "flaky": []}
        for sha, want in ([(first, BAD)] + [(p, GOOD) for p in parents[:1]]):
            have = self.steps.find(sha, "confirm")
            for _ in range(repeats - len(have)):
                if self.stop.requested:
                    raise Stopped(self.stop.reason)
                self._checkout(sha)
                have.append(self._build_here(sha, "confirm"))
            seen = [r["verdict"] for r in self.steps.find(sha, "test") + have]
            if any(v != want for v in seen):
                said["flaky"].append({"rev": sha, "verdicts": seen})
        if said["flaky"]:
            said["line"] = "flaky: " + "; ".join(
                f"{f['rev'][:12]} gave {', '.join(f['verdicts'])}" for f in said["flaky"]) + \
                " (the first bad commit is uncertain)"
        elif repeats:
            said["line"] = (f"confirmed: it failed {repeats + 1} times out of {repeats + 1}, its "
                            f"parent built {repeats + 1} times out of {repeats + 1}")
        else:
            said["line"] = "each side built once (--verify 0)"
        return said

    def _revert(self, first: str, bad: str) -> Dict[str, Any]:
        """The first bad commit reverted on the bad revision, built."""
        done = self.steps.find(bad, "revert")
        if done:
            rec = done[-1]
        else:
            if self.stop.requested:
                raise Stopped(self.stop.reason)
            self._checkout(bad)
            applied, paths, why = self.repo.revert_in(
                first, self.src, self.index, before=lambda paths: write_json_atomic(self.dirty, paths))
            if not applied:
                return {"reverted": False, "line": f"not reverted: {why}"}
            try:
                rec = self._build_here(bad, "revert", reverted=first)
            finally:
                self._undo_revert()
        verdict = rec["verdict"]
        line = {GOOD: f"reverted on {bad[:12]}, it builds clean",
                BAD: f"reverted on {bad[:12]}, it still fails the same way: the commit is not the "
                     "whole cause",
                SKIP: f"reverted on {bad[:12]}, it fails otherwise ({rec['detail'] or rec['outcome']})"}
        return {"reverted": True, "verdict": verdict, "line": line[verdict]}

    def _skip_json(self, sha: str) -> Dict[str, Any]:
        rec = self.steps.find(sha, "test")[-1]
        return {"rev": sha, "why": rec["detail"] or rec["outcome"]}

    @staticmethod
    def _step_json(r: Dict[str, Any]) -> Dict[str, Any]:
        return {k: r.get(k) for k in ("rev", "kind", "verdict", "outcome", "detail", "seconds",
                                      "wall", "unknown")}


def _commit_json(c: Commit) -> Dict[str, Any]:
    return {"sha": c.sha, "subject": c.subject, "author": c.author, "date": c.date,
            "fixes": c.fixes_line()}
