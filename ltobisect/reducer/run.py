"""``ltobisect reduce STATE``: the steps of a reduction, each journaled, from a minimized session.

Which reduction: a failure at the link (a linker's error, ld.lld crashing in LTO) reduces the
link (:mod:`.link`); a compile error, a warning made an error or a compiler crash reduces the
one failing source (:mod:`.compile`). Anything else (a timeout, memory, Kconfig) has no smaller
reproducer than the config: a one-line error says so.

Steps, each recorded in ``reduce/reduce.json`` of the work directory when it ends (:class:`.common.ReduceState`), so a
second run skips what the first finished:

- source: ``command`` (the minimal config built once more with the recorder, the failing
  compile found and its preprocessed source written and checked), ``cvise`` (C-Vise, its test
  the attached ``repro.sh``), ``attach``;
- link: ``tarball`` (``ld.lld --reproduce`` of the minimal config's build, unless the session
  made it), ``relink`` (the tarball alone, in a clean directory), ``inputs`` (ddmin over the
  link's inputs; every test in ``tests.jsonl``), ``merge`` (``llvm-link`` of the bitcode left),
  ``module`` (``llvm-reduce``), or ``module:<input>`` for each module on its own when the
  merged one does not fail the same way, ``attach``, and for an LTO crash ``stage``.

``attach`` writes ``reduced/`` (the reduced file, ``repro.sh``, ``judge.py``) and reruns
``repro.sh`` from a copy of that directory alone before anything names it. The outcome goes to
result.json (``reduced``), and report.txt and summary.json are written again with it; a
reduction that ends worse than one an earlier run finished never replaces it.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ltobisect.matrix import llvm as llvm_matrix
from ltobisect.logs import signature as sigmod
from ltobisect.build import build_env, ccache_enabled
from ltobisect.config import (SessionConfig, Toolchain, is_kernel_tree,
                              user_ccache_dir)
from ltobisect.errors import UserError
from ltobisect.events import Message, PhaseStarted, ReduceProgress
from ltobisect.model import Phase, Signature
from ltobisect.logs import kinds
from ltobisect.store.journal import write_atomic
from ltobisect.conductor.load import minimized_session
from ltobisect.store.state import ResultDoc, StateDir

from . import compile as cc
from . import link as lk
from .common import REPRO, ReduceState
from .linking import TARBALL, LinkSteps
from .source import SourceSteps

#: A reduction's wall time when not told (--reduce-budget).
DEFAULT_BUDGET = 3600.0


@dataclass
class ReduceOptions:
    """How a reduction runs: its budget (seconds, ``None``: none), how many tests at once."""

    budget: Optional[float] = DEFAULT_BUDGET
    workers: int = 2


def kind_of(sig: Optional[Signature]) -> Optional[str]:
    """``link``, ``source`` or ``None`` (no reduction beyond the config) for a signature."""
    return kinds.reduction(sig)


def tools_for(kind: str, config: SessionConfig, linker: Optional[str] = None) -> List[str]:
    """The programs a reduction of ``kind`` runs (checked before anything runs)."""
    if kind == "source":
        return ["cvise", "python3"]
    major = llvm_major(config, linker)
    suffix = f"-{major}" if major else ""
    return [linker or f"ld.lld{suffix}", f"llvm-link{suffix}", f"llvm-reduce{suffix}",
            f"llvm-dis{suffix}", f"llvm-bcanalyzer{suffix}", f"opt{suffix}", f"llc{suffix}", "python3"]


def llvm_major(config: SessionConfig, linker: Optional[str] = None) -> Optional[str]:
    """The LLVM release of the session's toolchain (``16`` for LLVM=-16 or ld.lld-16)."""
    b = config.build
    texts = [linker or "", (b.llvm if b else None) or ""]
    texts += [v for v in (b.make_vars if b else ()) if v.startswith(("CC=", "LD="))]
    for text in texts:
        m = (re.search(r"-(\d+)/?$", text) or re.search(r"llvm-(\d+)/", text)
             or re.search(r"(?:clang|ld\.lld)-(\d+)\b", text))
        if m:
            return m.group(1)
    return None


class Reduction(SourceSteps, LinkSteps):
    """One run of ``ltobisect reduce`` on a state directory (see the module docstring)."""

    def __init__(self, state: Path, config: SessionConfig, sig: Signature, result: ResultDoc,
                 opts: ReduceOptions, emit: Callable[[object], None], stop: threading.Event) -> None:
        self.state = Path(state)
        self.config = config
        self.sig = sig
        self.result = result
        self.opts = opts
        self.emit = emit
        self.stop = stop
        self.kind = kind_of(sig) or ""
        self.store = StateDir(self.state, config.work_dir)
        self.rs = ReduceState(self.state, self.store.work)
        self.work = self.rs.dir / "scratch"
        self.started = time.monotonic()
        self.deadline = None if opts.budget is None else self.started + opts.budget
        self.b = config.build

    # -- limits ----------------------------------------------------------------------------
    def left(self) -> Optional[float]:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def limit(self, default: float) -> float:
        left = self.left()
        return default if left is None else max(1.0, min(default, left))

    def progress(self, step: str, size: int, unit: str, start: int, tests: int = 0) -> None:
        self.emit(ReduceProgress(step=step, size=size, unit=unit, start=start, tests=tests))

    # -- the whole run ---------------------------------------------------------------------
    def run(self) -> Dict[str, Any]:
        self.rs.load()
        best = (self.result.best or {}).get("digest")
        if self.rs.doc.get("for") != best or self.rs.doc.get("kind") != self.kind:
            self.rs.reset()
            self.rs.doc.update({"for": best, "kind": self.kind, "signature": self.sig.describe()})
            self.rs.save()
        self.work.mkdir(parents=True, exist_ok=True)
        self.rs.attach_dir.mkdir(parents=True, exist_ok=True)
        outcome: Dict[str, Any] = {"kind": self.kind}
        try:
            if self.kind == "source":
                outcome.update(self._source())
            else:
                outcome.update(self._link())
        except lk.Interrupted:
            pass
        outcome.setdefault("complete", False)
        outcome["seconds"] = round(float(self.rs.doc.get("seconds", 0.0))
                                   + time.monotonic() - self.started, 1)
        self.rs.doc["seconds"] = outcome["seconds"]
        self.rs.doc["outcome"] = outcome
        self.rs.save()
        return outcome

    # -- building the minimal config once more ---------------------------------------------
    def _env(self, sandbox: Path, extra: Dict[str, str]) -> Dict[str, str]:
        for sub in ("tmp", "home"):
            (sandbox / sub).mkdir(parents=True, exist_ok=True)
        b = self.b
        ccache_dir = None
        if b is not None and ccache_enabled(b):
            ccache_dir = Path(b.ccache_dir) if b.ccache_dir else user_ccache_dir()
        return build_env(b, sandbox, extra, ccache_dir=ccache_dir)

    def _compiler(self) -> str:
        """The compiler command the session's builds ran (CC), ccache included."""
        assert self.b is not None
        tc = Toolchain.of(self.b, kernel=is_kernel_tree(Path(self.b.tree)))
        if tc.llvm is not None and not tc.user_sets("CC"):
            return tc.cc_command(ccache=ccache_enabled(self.b))
        return tc.vars.get("CC") or tc.derived()["CC"]

    def _script(self) -> Path:
        script = self.state / "reproduce.sh"
        if not script.is_file():
            raise UserError(f"{self.state} has no reproduce.sh",
                            f"render it again: ltobisect report {self.state}")
        return script

    # -- the attachment, alone -------------------------------------------------------------
    def _rerun(self, complete: bool) -> Dict[str, Any]:
        """Run reduced/repro.sh from a copy of reduced/ alone (a clean directory)."""
        attach = self.rs.attach_dir
        if not (attach / REPRO).is_file():
            return {"reruns": False, "rerun_said": "nothing was attached"}
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="rerunning the reproducer alone"))
        status, text = self._alone("alone")
        out = {"reruns": status == 0, "rerun_said": _last_line(text, status), "attached": sorted(
            p.name for p in attach.iterdir())}
        if status == 0 and self.config.llvm_matrix:
            out["llvm"] = self._other_releases()
        return out

    def _alone(self, name: str, script: Optional[str] = None) -> Tuple[int, str]:
        """reduced/repro.sh (or ``script`` in its place) run from a copy of reduced/ alone, in a
        clean directory ``name`` of the scratch area; its exit status and output."""
        alone = self.work / name
        shutil.rmtree(alone, ignore_errors=True)
        shutil.copytree(self.rs.attach_dir, alone / "reduced",
                        ignore=shutil.ignore_patterns("clang-crash"))
        if script is not None:
            write_atomic(alone / "reduced" / REPRO, script, mode=0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LTOBISECT")}
        try:
            return cc.run_call(["sh", str(alone / "reduced" / REPRO)], str(alone),
                               self.work / f"{name}.log", env, 1800, self.stop)
        finally:
            shutil.rmtree(alone, ignore_errors=True)

    def _other_releases(self) -> Dict[str, str]:
        """The reduced reproducer against the session's ``--llvm-matrix`` releases: repro.sh
        with its LLVM programs moved to each release (:func:`ltobisect.matrix.llvm.retarget_text`),
        run from a copy alone. ``{"19": "reproduces" | "does not reproduce" | "fails otherwise: ..."
        | "cannot run: ..."}``."""
        script = (self.rs.attach_dir / REPRO).read_text()
        reported = llvm_matrix.major_of(self.b)
        said: Dict[str, str] = {}
        for major in self.config.llvm_matrix:
            if major == reported or self.stop.is_set():
                continue
            gone = llvm_matrix.missing(major)
            moved = llvm_matrix.retarget_text(script, major)
            if gone or moved == script:
                said[major] = f"cannot run: {gone} not installed" if gone else \
                    "cannot run: the reproducer names no LLVM program"
                continue
            self.emit(PhaseStarted(phase=Phase.REDUCING, detail=f"the reproducer with LLVM {major}"))
            status, text = self._alone(f"alone-{major}", moved)
            if status == 1:
                found = sigmod.extract(text, roots=[str(self.work / f"alone-{major}")])
                said[major] = f"fails otherwise: {found.describe()}" if found is not None \
                    else "does not reproduce"
            else:
                said[major] = "reproduces" if status == 0 else f"cannot run: {_last_line(text, status)}"
        return said


def _last_line(text: str, status: int) -> str:
    """What a run said last (its exit status when it said nothing)."""
    return text.strip().splitlines()[-1] if text.strip() else f"exit {status}"


def reduce_state(state: Path, config: SessionConfig, sig: Signature, result: ResultDoc,
                 opts: ReduceOptions, emit: Callable[[object], None], stop: threading.Event,
                 render: Callable[[Path], Any]) -> Dict[str, Any]:
    """Run (or continue) the reduction of a minimized session; write its outcome into
    result.json (``reduced``) and the artifacts again with ``render`` (the report's
    ``write_artifacts``, handed down by the command). Returns the outcome."""
    red = Reduction(state, config, sig, result, opts, emit, stop)
    outcome = red.run()
    store = StateDir(state, config.work_dir)
    raw = store.read_result() or {}
    doc = ResultDoc.from_json(raw)
    doc.reduced = outcome  # a rerun of a finished reduction finds every step done
    tar = red.rs.step("tarball")
    if tar.get("made") and not (doc.ld_reproduce or {}).get("made"):
        rel = red.rs.step("relink")
        doc.ld_reproduce = {"made": True, "path": str(red.rs.file(TARBALL)),
                            **{k: rel[k] for k in ("relinks", "relink_said", "relink_command")
                               if k in rel}}
    store.write_result(doc)
    render(state)
    if outcome.get("reason"):
        emit(Message(level="info", text=f"reduction: {outcome['reason']}"))
    return outcome


@dataclass
class Prepared:
    config: SessionConfig
    sig: Signature
    result: ResultDoc
    kind: str


def prepare(state: Path) -> Prepared:
    """The minimized session a reduction starts from; UserError when there is none or its
    failure has no reproducer smaller than the config."""
    config, doc, result = minimized_session(state, "reduce")
    sig = doc.signature
    kind = kind_of(sig)
    if sig is None or kind is None:
        what = sig.describe() if sig is not None else "no signature"
        raise UserError(f"nothing to reduce beyond the config for this failure ({what})",
                        "a reduced reproducer is made for compile errors, compiler crashes "
                        "and link failures")
    return Prepared(config=config, sig=sig, result=result, kind=kind)
