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
  ``module`` (``llvm-reduce``), ``attach``.

``attach`` writes ``reduced/`` (the reduced file, ``repro.sh``, ``judge.py``) and reruns
``repro.sh`` from a copy of that directory alone before anything names it. The outcome goes to
result.json (``reduced``), and report.txt and summary.json are written again with it; a
reduction that ends worse than one an earlier run finished never replaces it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from tenacity import Retrying, retry_if_result, stop_after_attempt

from ltobisect.build import build_env, ccache_enabled
from ltobisect.config import (SessionConfig, Toolchain, config_from_json, is_kernel_tree,
                              user_ccache_dir)
from ltobisect.errors import InfraError, UserError
from ltobisect.events import Message, PhaseStarted, ReduceProgress
from ltobisect.journal import write_atomic
from ltobisect.judge_bundle import JUDGE_FILE, judge_program
from ltobisect.linkrepro import lld_reproduce, relink_alone
from ltobisect.model import Phase, Signature, SignatureKind
from ltobisect.signature import at_the_link
from ltobisect.state import EACH_FILE, ResultDoc, StateDir

from . import compile as cc
from . import link as lk
from .common import ReduceState, tail, watched

#: A reduction's wall time when not told (--reduce-budget).
DEFAULT_BUDGET = 3600.0
#: What the attachments are called in reduced/.
REPRO = "repro.sh"
REDUCED_SOURCE = "reduced.i"
REDUCED_MODULE = "reduced.ll"
LINK_DIR = "link"
#: With an earlier link: its output, and where the failing link is, under link/.
STAGE1 = "stage1.o"
FINAL_DIR = "final"
#: What the link of one merged module may add, tried in order: nothing, then every global
#: symbol kept (LTO would otherwise internalize what the separate modules kept for each other).
MERGE_FLAGS = ([], ["--export-dynamic"])
#: The errors the preprocessed original gives (one message a line): a variant C-Vise keeps
#: gives no parser error beyond them, so the reduced file is no heap of broken syntax around
#: the one error that counts.
ALLOWED = "allowed-errors.txt"
#: What clang and gcc say when the source does not parse (an ERE of the message's start).
PARSER_ERRORS = ("^(expected |extraneous |unterminated |missing terminating |"
                 "unknown type name |stray |invalid preprocessing directive|"
                 "unmatched |extra tokens )")
#: The test C-Vise runs for one variant (seconds): a compile of one file.
CVISE_TEST_TIMEOUT = 120


@dataclass
class ReduceOptions:
    """How a reduction runs: its budget (seconds, ``None``: none), how many tests at once."""

    budget: Optional[float] = 3600.0
    workers: int = 2


def kind_of(sig: Optional[Signature]) -> Optional[str]:
    """``link``, ``source`` or ``None`` (no reduction beyond the config) for a signature."""
    if sig is None:
        return None
    if sig.kind == SignatureKind.REGEX and sig.basis is not None:
        sig = sig.basis
    if at_the_link(sig):
        return "link"
    if sig.kind in (SignatureKind.COMPILE_ERROR, SignatureKind.CRASH):
        return "source"
    return None


def tools_for(kind: str, config: SessionConfig, linker: Optional[str] = None) -> List[str]:
    """The programs a reduction of ``kind`` runs (checked before anything runs)."""
    if kind == "source":
        return ["cvise", "python3"]
    major = llvm_major(config, linker)
    suffix = f"-{major}" if major else ""
    return [linker or f"ld.lld{suffix}", f"llvm-link{suffix}", f"llvm-reduce{suffix}",
            f"llvm-dis{suffix}", "python3"]


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


class Reduction:
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

    def out_of_time(self) -> bool:
        left = self.left()
        return self.stop.is_set() or (left is not None and left <= 0)

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

    # -- a failing compile -----------------------------------------------------------------
    def _source(self) -> Dict[str, Any]:
        cmd = self.rs.step("command")
        if not cmd.get("found"):  # a run that found nothing is tried again, not trusted
            cmd = self._find_command()
            if not cmd.get("found"):
                return {"complete": False, "reason": cmd.get("reason", "")}
        current = self.rs.file(REDUCED_SOURCE)
        if not current.is_file():
            shutil.copyfile(self.rs.file("original.i"), current)
        self._write_source_attachments(cmd)
        red = self.rs.step("cvise")
        if not red:
            red = self._cvise(cmd, current)
        out = {"command": cmd["shown"], "compiler": cmd["compiler"],
               "before": {"bytes": cmd["bytes"], "lines": cmd["lines"]},
               "after": _size_of(current), "tests": red.get("tests"),
               "complete": bool(red.get("complete")), "reducer": "cvise",
               "clang_crash_files": cmd.get("crash_files", [])}
        if red.get("reason"):
            out["reason"] = red["reason"]
        shutil.copyfile(current, self.rs.attach_dir / REDUCED_SOURCE)
        out.update(self._rerun(out["complete"]))
        return out

    def _find_command(self) -> Dict[str, Any]:
        script = self._script()
        rec = self.work / "record"
        shutil.rmtree(rec, ignore_errors=True)
        rec.mkdir(parents=True)
        recorder = self.work / "record.sh"
        recorder.write_text(cc.RECORDER)
        build = self.work / "build"
        shutil.rmtree(build, ignore_errors=True)
        env = self._env(self.work / "sandbox", {
            "LTOBISECT_CC": f"sh {recorder} {self._compiler()}", "LTOBISECT_RECORD": str(rec)})
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="building the minimal config with "
                                                            "its compiler calls recorded"))
        log = self.work / "rebuild.out"
        bad = self.result.best_log
        limit = self.limit(max(900.0, 3 * _duration(self.store)))
        done = watched(["sh", str(script), "-o", str(build)], cwd=self.work, env=env, log=log,
                       deadline=time.monotonic() + limit, stop=self.stop, watch=None,
                       progress=lambda _s: None)
        if done.killed_by_us:
            raise lk.Interrupted() if self.stop.is_set() else InfraError(
                "the rebuild of the minimal config did not finish in time")
        status = os.waitstatus_to_exitcode(done.status)
        if status != 0:
            reason = (f"the minimal config did not fail the same way when built again "
                      f"(reproduce.sh exit {status}): {tail(log, 3)}")
            return self.rs.done("command", found=False, reason=reason)
        roots = [str(self.b.tree), str(build)] if self.b else [str(build)]
        scratch = self.work / "check"
        scratch.mkdir(parents=True, exist_ok=True)
        for call in cc.candidates(cc.recorded(rec), self.sig)[:8]:
            status, text = cc.run_call(call.argv, call.cwd, scratch / "compile.log", env, 600,
                                       self.stop)
            if not (self.sig and (cc.shows(self.sig, text, roots))):
                continue
            original = self.rs.file("original.i")
            pp_status, pp_text = cc.run_call(cc.preprocess_argv(call, original), call.cwd,
                                             scratch / "pp.log", env, 600, self.stop)
            if pp_status != 0 or not original.is_file():
                continue
            syntax_only = None
            for front_end in (True, False):
                judge = cc.judge_argv(call, str(original), front_end)
                status, text = cc.run_call(judge, str(scratch), scratch / "i.log", env, 600,
                                           self.stop)
                if cc.shows(self.sig, text, roots):
                    syntax_only = front_end
                    break
            if syntax_only is None:
                return self.rs.done("command", found=False, shown=cc.shown(call.argv),
                                    reason="the preprocessed source compiles without the failure")
            write_atomic(self.rs.file(ALLOWED), "".join(f"{m}\n" for m in error_messages(text)))
            crash_files: List[str] = []
            flags = cc.crash_flags(call, self.sig, self.rs.attach_dir / "clang-crash")
            if flags:
                (self.rs.attach_dir / "clang-crash").mkdir(exist_ok=True)
                cc.run_call(list(call.argv) + flags, call.cwd, scratch / "crash.log", env, 600,
                            self.stop)
                crash_files = sorted(p.name for p in (self.rs.attach_dir / "clang-crash").iterdir())
            size = _size_of(original)
            info = self.rs.done("command", found=True, argv=list(call.argv), cwd=call.cwd,
                                shown=cc.shown(call.argv), compiler=call.compiler,
                                judge=cc.judge_argv(call, REDUCED_SOURCE, syntax_only),
                                syntax_only=syntax_only, source=call.source(),
                                bytes=size["bytes"], lines=size["lines"], crash_files=crash_files,
                                best_log=bad)
            shutil.rmtree(build, ignore_errors=True)  # the sources are in original.i now
            return info
        return self.rs.done("command", found=False,
                            reason="no compile in the rebuild shows the failure when run alone")

    def _write_source_attachments(self, cmd: Dict[str, Any]) -> None:
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        judge = [w if w != REDUCED_SOURCE else "@SRC@" for w in cmd["judge"]]
        write_atomic(attach / REPRO, source_repro(judge, self.sig, cmd["shown"]), mode=0o755)

    def _cvise(self, cmd: Dict[str, Any], current: Path) -> Dict[str, Any]:
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="C-Vise on the preprocessed source"))
        test = self.work / "cvise-test.sh"
        test.write_text(cvise_test(self.rs.attach_dir / REPRO, self.rs.file(ALLOWED)))
        test.chmod(0o755)
        # C-Vise's multiprocessing manager binds a Unix socket under TMPDIR, and a socket's
        # path holds at most 107 bytes: a state directory a few levels deep made it fail
        # ("AF_UNIX path too long"). Its temporary files go to a short directory of the
        # system's temporary area instead, removed afterwards.
        left = self.rs.doc.get("cvise_tmp")
        if left and Path(left).name.startswith("ltobisect-cvise-"):
            shutil.rmtree(left, ignore_errors=True)  # what a killed run left behind
        tmp = Path(tempfile.mkdtemp(prefix="ltobisect-cvise-"))
        self.rs.doc["cvise_tmp"] = str(tmp)
        self.rs.save()
        # The locale of the build (gcc quotes by it): the allowed errors were read in it.
        env = dict(os.environ, TMPDIR=str(tmp), LC_ALL="C", LANG="C")
        start = int(cmd["bytes"])
        argv = ["cvise", "--n", str(max(1, self.opts.workers)), "--timeout",
                str(CVISE_TEST_TIMEOUT), "--tidy", "--skip-key-off", str(test), REDUCED_SOURCE]
        log = self.work / "cvise.log"

        def failed(done: Any) -> bool:
            return not done.killed_by_us and os.waitstatus_to_exitcode(done.status) != 0

        def once() -> Any:
            return watched(argv, cwd=self.rs.dir, env=env, log=log, deadline=self.deadline,
                           stop=self.stop, watch=current,
                           progress=lambda size: self.progress("cvise", size, "bytes", start))

        # C-Vise failing (its own fault, not a verdict) is run once more, from the file as it
        # left it; a second failure is reported with the end of its log.
        try:
            done = Retrying(stop=stop_after_attempt(2), retry=retry_if_result(failed),
                            retry_error_callback=lambda state: state.outcome.result())(once)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        status = os.waitstatus_to_exitcode(done.status)
        tests = _cvise_tests(log)
        if done.killed_by_us:
            why = "stopped" if self.stop.is_set() else "the reduction budget ran out"
            return {"complete": False, "reason": f"{why}: the best so far is attached",
                    "tests": tests}
        if status != 0:
            return {"complete": False, "tests": tests,
                    "reason": f"C-Vise failed (exit {status}): {tail(log, 2)}"}
        return self.rs.done("cvise", complete=True, tests=tests)

    # -- a failing link ----------------------------------------------------------------------
    def _linker(self) -> str:
        if self.b is not None:
            tc = Toolchain.of(self.b, kernel=is_kernel_tree(Path(self.b.tree)))
            if tc.llvm is not None and "lld" in tc.ld:
                return tc.ld
        return ""

    def _link(self) -> Dict[str, Any]:
        tar = self.rs.step("tarball")
        if not tar.get("made"):
            tar = self._tarball()
        if not tar.get("made"):
            return {"complete": False, "reason": tar.get("reason", "no ld.lld --reproduce tarball")}
        tarball = Path(tar["path"])
        linker = tar.get("linker") or "ld.lld"
        out: Dict[str, Any] = {"linker": linker, "tarball": str(tarball),
                               "before": {"bytes": tarball.stat().st_size}}
        rel = self.rs.step("relink")
        if not rel:
            self.emit(PhaseStarted(phase=Phase.REDUCING, detail="relinking the tarball alone"))
            rel = relink_alone(tarball, linker, self.sig, self.work, self.limit(1800.0), self.stop)
            if self.stop.is_set():
                raise lk.Interrupted()
            rel = self.rs.done("relink", **rel)
        out.update({k: rel.get(k) for k in ("relinks", "relink_said", "relink_command")})
        if not rel.get("relinks"):
            out.update(complete=False, reason="the tarball alone does not show the failure, so "
                                              "its inputs cannot be reduced")
            return out
        final = lk.Link.read(lk.unpack(tarball, self.rs.dir / "link"))
        out["before"].update(inputs=len(final.units()))
        chain = lk.Chain(final=final, final_keep=final.units())
        keep = self._inputs(chain, linker, "inputs")
        out["after"] = {"inputs": len(keep)}
        chain.final_keep = keep
        first = self._step_back(chain, linker, tar)
        if first is not None:
            chain.first, chain.made = first
            out["first_link"] = {"made": chain.made, "before": {"inputs": len(chain.first.units())}}
            keep = self._inputs(chain, linker, "first-inputs")
            out["first_link"]["after"] = {"inputs": len(keep)}
        module = self._merge_and_reduce(chain, linker, keep, out)
        out.update(self._attach_link(chain, linker, keep, module))
        out["tests"] = self.rs.tests()  # the links of the delta debugging (llvm-reduce's apart)
        out["after"]["bytes"] = sum(p.stat().st_size for p in
                                    (self.rs.attach_dir / LINK_DIR).rglob("*") if p.is_file())
        out.update(self._rerun(out.get("complete", False)))
        return out

    def _tarball(self) -> Dict[str, Any]:
        """The failing link's tarball, from a build of our own whose directory stays until the
        earlier link is known (:meth:`_step_back`); the session's copy is left as it was."""
        tarball = self.rs.file("lld-reproduce.tar")
        script = self._script()
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="ld.lld --reproduce"))
        env = self._env(self.work / "lld-reproduce" / "0", {})
        if self.b is not None and ccache_enabled(self.b):
            env["LTOBISECT_CC"] = self._compiler()
        ld = lld_reproduce(script, self.work, tarball, self.limit(max(900.0, 3 * _duration(
            self.store))), self.stop, env, keep=True)
        if self.stop.is_set():
            raise lk.Interrupted()
        if not ld.get("made"):
            return self.rs.done("tarball", made=False, reason=ld.get("reason", ""))
        session_copy = self.state / "lld-reproduce.tar"
        if not session_copy.is_file():
            shutil.copyfile(tarball, session_copy)  # the session had none: it is an artifact
        return self.rs.done("tarball", made=True, path=str(tarball), build=ld.get("build"),
                            linker=self._linker() or _linker_of(tarball))

    def _step_back(self, chain: lk.Chain, linker: str,
                   tar: Dict[str, Any]) -> Optional[tuple]:
        """When the failing link kept an input an earlier lld link of the build made (kbuild's
        ``vmlinux.o``, where LTO ran), that link's own tarball, read: (Link, the input)."""
        step = self.rs.step("first-link")
        if not step:
            step = {"found": False}
            build = Path(tar["build"]) if tar.get("build") else None
            found = lk.earlier_link(chain.final, chain.final_keep, build) \
                if build is not None and build.is_dir() else None
            if found is not None:
                unit, argv = found
                self.emit(PhaseStarted(phase=Phase.REDUCING,
                                       detail=f"ld.lld --reproduce of the link that made "
                                              f"{Path(unit).name}"))
                first_tar = self.rs.file("first-link.tar")
                cmd = [linker if "lld" in Path(argv[0]).name else argv[0], *argv[1:],
                       f"--reproduce={first_tar}"]
                status, text = cc.run_call(cmd, str(build), self.work / "first-link.log",
                                           dict(os.environ), self.limit(3600.0), self.stop)
                if self.stop.is_set():
                    raise lk.Interrupted()
                if status == 0 and first_tar.is_file():
                    step = {"found": True, "made": unit, "path": str(first_tar),
                            "command": cc.shown(argv)}
            if build is not None:
                shutil.rmtree(build.parent.parent, ignore_errors=True)  # lld-reproduce/0/out
            step = self.rs.done("first-link", **step)
        if not step.get("found"):
            return None
        first = lk.Link.read(lk.unpack(Path(step["path"]), self.rs.dir / "first-link"))
        return first, step["made"]

    def _inputs(self, chain: lk.Chain, linker: str, name: str) -> List[str]:
        """ddmin over the inputs of the link being reduced (step ``name``)."""
        done = self.rs.step(name)
        if done:
            return list(done["keep"])
        units = chain.reduced.units()
        self.emit(PhaseStarted(phase=Phase.REDUCING,
                               detail=f"delta debugging over {len(units)} link inputs"))
        best_key = f"{name}_best"
        start = frozenset(self.rs.doc.get(best_key) or units)
        scratch = self.work / "links"
        limit = self.limit(3600.0)

        def test(keep, slot: int) -> bool:
            key = hashlib.sha256("\n".join([name, *lk.ALL_ERRORS, *sorted(keep)]).encode()
                                 ).hexdigest()
            known = self.rs.known(key)
            if known is not None:
                return known
            if self.stop.is_set():
                raise lk.Interrupted()
            status, text = chain.run(linker, problem.ordered(keep), scratch / str(slot),
                                     self.limit(limit), self.stop)
            if status == -1 and self.stop.is_set():
                raise lk.Interrupted()
            ok = status not in (0, -1) and lk.shows(self.sig, text, chain.final.root)
            self.rs.record(key, ok, size=len(keep), step=name)
            self.progress("inputs", len(problem.best), "inputs", len(units), self.rs.tests())
            return ok

        def on_best(best) -> None:
            self.rs.doc[best_key] = problem.ordered(best)
            self.rs.save()

        problem = lk.InputsProblem(units, test, self.opts.workers, self.stop, on_best, start)
        from ltobisect.strategies.ddmin import DDMin  # the project's engine, on the link's inputs
        if not problem.consider(problem.best):
            raise InfraError("the link of the unpacked tarball does not show the failure")
        try:
            DDMin().run(problem)  # type: ignore[arg-type]
        except lk.Interrupted:
            on_best(problem.best)
            raise
        keep = problem.ordered(problem.best)
        self.rs.done(name, keep=keep, tests=self.rs.tests())
        return keep

    def _merge_and_reduce(self, chain: lk.Chain, linker: str, keep: List[str],
                          out: Dict[str, Any]) -> Optional[Path]:
        """llvm-link of the bitcode inputs left, then llvm-reduce; the module (or None)."""
        link = chain.reduced
        major = _release(linker)
        bitcode = [u for u in keep if lk.is_bitcode(link.root / u)]
        out["bitcode_inputs"] = len(bitcode)
        if not bitcode:
            return None
        merged = self.rs.file("merged.bc")
        step = self.rs.step("merge")
        if not step:
            self.emit(PhaseStarted(phase=Phase.REDUCING, detail=f"llvm-link of {len(bitcode)} "
                                                                f"bitcode inputs"))
            status, text = cc.run_call([f"llvm-link{major}", *bitcode, "-o", str(merged)],
                                       str(link.root), self.work / "llvm-link.log",
                                       dict(os.environ), 1800, self.stop)
            ok, extra = False, []
            if status == 0:
                replace = {u: "" for u in bitcode}
                replace[bitcode[0]] = str(merged)
                for extra in MERGE_FLAGS:
                    status, text = chain.run(linker, keep, self.work / "merge",
                                             self.limit(3600.0), self.stop, replace=replace,
                                             extra=extra)
                    ok = status not in (0, -1) and lk.shows(self.sig, text, chain.final.root)
                    if ok:
                        break
            reason = "" if ok else ("llvm-link failed" if not merged.is_file()
                                    else "the merged module links without the failure")
            step = self.rs.done("merge", merged=ok, bytes=merged.stat().st_size if ok else None,
                                reason=reason, extra=list(extra) if ok else [])
        if not step.get("merged"):
            out["module"] = {"merged": False, "reason": step.get("reason")}
            return None
        best = self.rs.file("best.bc")
        red = self.rs.step("module")
        if not red:
            red = self._llvm_reduce(chain, linker, keep, bitcode, merged, best, major)
        out["module"] = {"merged": True, "before_bytes": step.get("bytes"),
                         "after_bytes": best.stat().st_size if best.is_file() else step.get("bytes"),
                         "complete": bool(red.get("complete")), "reason": red.get("reason", "")}
        return best if best.is_file() else merged

    def _llvm_reduce(self, chain: lk.Chain, linker: str, keep: List[str], bitcode: List[str],
                     merged: Path, best: Path, major: str) -> Dict[str, Any]:
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="llvm-reduce on the merged module"))
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        replace = {u: "" for u in bitcode}
        replace[bitcode[0]] = "@MODULE@"
        extra = self.rs.step("merge").get("extra") or ()
        template = self.rs.file("module-response.txt")
        template.write_text(chain.reduced.response(keep, replace=replace, extra=extra))
        stages = [(chain.reduced.root, template)]
        if chain.first is not None:
            final = self.rs.file("final-response.txt")
            final.write_text(chain.final.response(chain.final_keep, replace={chain.made: "@STAGE@"}))
            stages.append((chain.final.root, final))
        test = self.work / "module-test.sh"
        test.write_text(lk.module_test_script(linker, stages, attach / JUDGE_FILE, best))
        test.chmod(0o755)
        start = best if best.is_file() else merged
        tmp = self.work / "tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env = dict(os.environ, TMPDIR=str(tmp))
        size0 = int(self.rs.step("merge").get("bytes") or merged.stat().st_size)
        argv = [f"llvm-reduce{major}", f"--test={test}", "-j", str(max(1, self.opts.workers)),
                str(start), "-o", str(self.work / "llvm-reduce-out.bc")]
        log = self.work / "llvm-reduce.log"
        done = watched(argv, cwd=self.work, env=env, log=log, deadline=self.deadline,
                       stop=self.stop, watch=best,
                       progress=lambda size: self.progress("module", size, "bytes", size0))
        shutil.rmtree(tmp, ignore_errors=True)
        if done.killed_by_us:
            why = "stopped" if self.stop.is_set() else "the reduction budget ran out"
            return {"complete": False, "reason": f"{why}: the smallest module so far is attached"}
        status = os.waitstatus_to_exitcode(done.status)
        if status != 0:
            return {"complete": False, "reason": f"llvm-reduce failed (exit {status}): "
                                                 f"{tail(log, 2)}"}
        produced = self.work / "llvm-reduce-out.bc"
        if produced.is_file() and (not best.is_file()
                                   or produced.stat().st_size <= best.stat().st_size):
            shutil.copyfile(produced, best)
        return self.rs.done("module", complete=True)

    def _attach_link(self, chain: lk.Chain, linker: str, keep: List[str],
                     module: Optional[Path]) -> Dict[str, Any]:
        """reduced/link/: the inputs left and the module, response.txt, repro.sh; with an
        earlier link, reduced/link/ is that link (its output ``stage1.o``) and
        reduced/link/final/ the failing one."""
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        d = attach / LINK_DIR
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        link = chain.reduced
        bitcode = [u for u in keep if lk.is_bitcode(link.root / u)] if module else []
        replace: Dict[str, str] = {}
        if module is not None and bitcode:
            replace = {u: "" for u in bitcode}
            replace[bitcode[0]] = "reduced.bc"
            shutil.copyfile(module, d / "reduced.bc")
            major = _release(linker)
            cc.run_call([f"llvm-dis{major}", "reduced.bc", "-o", REDUCED_MODULE], str(d),
                        self.work / "llvm-dis.log", dict(os.environ), 600, self.stop)
        _copy_inputs(link, [u for u in keep if u not in replace], d)
        extra = self.rs.step("merge").get("extra") or () if replace else ()
        if chain.first is None:
            output = next((lk._unquote(ln)[3:] for ln in link.lines if ln.startswith(lk._OUTPUT)),
                          "out")
            (d / lk.RESPONSE).write_text(link.response(keep, output=output, replace=replace,
                                                       extra=extra))
            command = f"cd {LINK_DIR} && {linker} @{lk.RESPONSE} {' '.join(lk.ALL_ERRORS)}"
        else:
            (d / lk.RESPONSE).write_text(link.response(keep, output=STAGE1, replace=replace,
                                                       extra=extra))
            fin = d / FINAL_DIR
            fin.mkdir()
            _copy_inputs(chain.final, [u for u in chain.final_keep if u != chain.made], fin)
            (fin / lk.RESPONSE).write_text(chain.final.response(
                chain.final_keep, output="out", replace={chain.made: f"../{STAGE1}"}))
            command = (f"cd {LINK_DIR} && {linker} @{lk.RESPONSE} && cd {FINAL_DIR} && "
                       f"{linker} @{lk.RESPONSE} {' '.join(lk.ALL_ERRORS)}")
        write_atomic(attach / REPRO, link_repro(linker, self.sig, two=chain.first is not None),
                     mode=0o755)
        _pack(attach / "reduced.tar.gz", attach, (REPRO, JUDGE_FILE, LINK_DIR))
        steps_done = bool(self.rs.step("inputs")) and (chain.first is None
                                                      or bool(self.rs.step("first-inputs")))
        return {"command": command,
                "module_file": f"{LINK_DIR}/{REDUCED_MODULE}" if (d / REDUCED_MODULE).is_file()
                else None,
                "complete": steps_done and (
                    module is None or bool(self.rs.step("module").get("complete"))
                    or not self.rs.step("merge").get("merged"))}

    # -- the attachment, alone -------------------------------------------------------------
    def _rerun(self, complete: bool) -> Dict[str, Any]:
        """Run reduced/repro.sh from a copy of reduced/ alone (a clean directory)."""
        attach = self.rs.attach_dir
        if not (attach / REPRO).is_file():
            return {"reruns": False, "rerun_said": "nothing was attached"}
        self.emit(PhaseStarted(phase=Phase.REDUCING, detail="rerunning the reproducer alone"))
        alone = self.work / "alone"
        shutil.rmtree(alone, ignore_errors=True)
        shutil.copytree(attach, alone / "reduced", ignore=shutil.ignore_patterns("clang-crash"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LTOBISECT")}
        status, text = cc.run_call(["sh", str(alone / "reduced" / REPRO)], str(alone),
                                   self.work / "alone.log", env, 1800, self.stop)
        shutil.rmtree(alone, ignore_errors=True)
        said = text.strip().splitlines()[-1] if text.strip() else f"exit {status}"
        return {"reruns": status == 0, "rerun_said": said, "attached": sorted(
            p.name for p in attach.iterdir())}


def _copy_inputs(link: lk.Link, units: List[str], dest: Path) -> None:
    """The files ``units`` stand for, and the files options name (``-T script``), from the
    unpacked tarball into ``dest`` at the same relative paths."""
    files = [f for u in units for f in link.files_of(u)] + _linker_scripts(link)
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(link.root / f, dest / f)


def _linker_scripts(link: lk.Link) -> List[str]:
    """Files named by options (``-T script``, ``--version-script x``) that the link reads."""
    out = []
    for line in link.lines:
        word = lk._unquote(line)
        if not word.startswith("-") or " " not in word:
            continue
        value = lk._unquote(word.split(" ", 1)[1])
        if value and not value.startswith("/") and (link.root / value).is_file():
            out.append(value)
    return out


def _pack(dest: Path, base: Path, names) -> None:
    """``dest``: a gzipped tarball of ``names`` under ``reduced/``, the same bytes for the same
    files (no times, owners or gzip timestamp), so a rerun does not change it."""
    import gzip

    def plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name in names:
            tar.add(base / name, arcname=f"reduced/{name}", filter=plain)
    os.replace(tmp, dest)


def _size_of(path: Path) -> Dict[str, int]:
    try:
        data = path.read_bytes()
    except OSError:
        return {"bytes": 0, "lines": 0}
    return {"bytes": len(data), "lines": data.count(b"\n")}


def _duration(store: StateDir) -> float:
    try:
        doc = store.read_doc()
    except Exception:
        return 0.0
    return float(doc.bad_outcome.duration) if doc.bad_outcome is not None else 0.0


_ERROR_LINE = re.compile(r"^.*: (?:fatal )?error: (.*?)(?: \[[^]]*\])?$")  # sed's greed


def error_messages(text: str) -> List[str]:
    """The messages of a compiler's error lines, without place and option (``[-Werror,...]``),
    as the C-Vise test's sed prints them."""
    return sorted({m.group(1) for m in map(_ERROR_LINE.match, text.splitlines()) if m})


def cvise_test(repro: Path, allowed: Path) -> str:
    """C-Vise's interestingness test: the attached repro.sh says the variant fails the same
    way, and its compile gives no parser error the preprocessed original did not.

    Other new errors are allowed (a removed declaration leaves an undeclared name: forbidding
    that made C-Vise crawl through a kernel file, 11 % in 15 minutes); a new parser error is
    not, or the result is a heap of broken syntax that happens to contain the message."""
    return f"""#!/bin/sh
# C-Vise's interestingness test (written by ltobisect): repro.sh says the variant fails the
# same way, and the compile gives no parser error the preprocessed original did not give.
log=$PWD/ltobisect-compile.log
sh {_sh(str(repro))} --quiet --log "$log" "$PWD/{REDUCED_SOURCE}" || exit 1
grep -E ': (fatal )?error: ' "$log" | sed -E -e 's/^.*: (fatal )?error: //' \\
    -e 's/ \\[[^]]*\\]$//' | grep -E {_sh(PARSER_ERRORS)} \\
    | grep -vxF -f {_sh(str(allowed))} | grep -q . && exit 1
exit 0
"""


def _cvise_tests(log: Path) -> Optional[int]:
    """How many variants C-Vise tried: the sum of its pass table's last column."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    total, seen = 0, False
    for line in text.splitlines():
        m = re.match(r"^\s+\S+\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(\d+)\s*$", line)
        if m:
            total, seen = total + int(m.group(1)), True
    return total if seen else None


def _release(linker: str) -> str:
    m = re.search(r"-(\d+)$", linker)
    return f"-{m.group(1)}" if m else ""


def _linker_of(tarball: Path) -> str:
    """``ld.lld-N`` of the release that wrote the tarball (its version.txt), when installed."""
    try:
        with tarfile.open(tarball) as tar:
            for m in tar.getmembers():
                if m.name.endswith("/version.txt"):
                    f = tar.extractfile(m)
                    text = f.read().decode(errors="replace") if f else ""
                    hit = re.search(r"LLD (\d+)\.", text)
                    if hit and shutil.which(f"ld.lld-{hit.group(1)}"):
                        return f"ld.lld-{hit.group(1)}"
    except (OSError, tarfile.TarError):
        pass
    return "ld.lld"


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def source_repro(judge_argv: List[str], sig: Signature, original: str) -> str:
    """repro.sh for a reduced source: one compiler command, judged by judge.py."""
    compiler = judge_argv[0]
    quick = prefilter(sig)
    words = " ".join('"$src"' if w == "@SRC@" else _sh(w) if re.search(r"[^\w@%+=:,./-]", w)
                     else w for w in judge_argv)
    return f"""#!/bin/sh
# repro.sh: the failure ltobisect minimized, from one reduced source file.
#   {sig.describe()}
# usage: sh repro.sh [--quiet] [--log COPY] [FILE]   (FILE: {REDUCED_SOURCE} beside it)
# exit: 0 the compile fails this way, 1 it does not, 2 it cannot run.
# needs: {compiler}, python3 (judge.py, beside this script, decides).
# The kernel's own command was:
#   {original}
here=$(cd "$(dirname "$0")" && pwd) || exit 2
quiet=
keep=
while [ $# -gt 0 ]; do
    case $1 in
    --quiet) quiet=1 ;;
    --log) keep=$2; shift ;;
    *) break ;;
    esac
    shift
done
src=${{1:-$here/{REDUCED_SOURCE}}}
command -v {compiler} >/dev/null 2>&1 || {{ echo "repro.sh: cannot run: {compiler} is not installed" >&2; exit 2; }}
log=$(mktemp) || exit 2
{words} >"$log" 2>&1
if [ $? = 0 ]; then
    v=10  # it compiled
{quick}else
    python3 "$here/{JUDGE_FILE}" --anywhere "$log" >/dev/null
    v=$?
fi
[ -z "$quiet" ] && cat "$log"
[ -n "$keep" ] && cp "$log" "$keep"
rm -f "$log"
case $v in
0) [ -z "$quiet" ] && echo "REPRODUCED: {sig.describe()}"; exit 0 ;;
10) [ -z "$quiet" ] && echo "did not reproduce"; exit 1 ;;
*) exit 2 ;;
esac
"""


def prefilter(sig: Signature) -> str:
    """repro.sh's quick no: a compile whose output lacks the message's words is not the
    failure, and needs no python (C-Vise runs thousands of tests). The judge decides the rest."""
    from ltobisect.judge_grep import message
    from ltobisect.llvmcrash import printed

    text = sig.message if sig.kind == SignatureKind.COMPILE_ERROR else printed(sig.message) \
        if sig.kind == SignatureKind.CRASH else ""
    if not text:
        return ""
    return (f"elif ! grep -E -q {_sh(message(text))} \"$log\"; then\n"
            f"    v=10  # another message\n")


def link_repro(linker: str, sig: Signature, two: bool = False) -> str:
    """repro.sh for a reduced link: one linker command in link/ (two with an earlier link:
    link/ makes stage1.o, link/final/ fails), judged by judge.py."""
    errors = " ".join(lk.ALL_ERRORS)  # a reduced link may report many undefined symbols
    if two:
        run = (f'(cd "$here/{LINK_DIR}" && {linker} @{lk.RESPONSE} -o {STAGE1} && '
               f'cd {FINAL_DIR} && {linker} @{lk.RESPONSE} {errors} -o "$out") >"$log" 2>&1')
        usage = (f"runs {linker} @response.txt in link/ (it makes {STAGE1}), then in "
                 f"link/{FINAL_DIR}/")
        root = f"$here/{LINK_DIR}/{FINAL_DIR}"
    else:
        run = f'(cd "$here/{LINK_DIR}" && {linker} @{lk.RESPONSE} {errors} -o "$out") >"$log" 2>&1'
        usage = f"runs {linker} @response.txt in link/ beside this script"
        root = f"$here/{LINK_DIR}"
    return f"""#!/bin/sh
# repro.sh: the failure ltobisect minimized, from a reduced link.
#   {sig.describe()}
# usage: sh repro.sh   ({usage})
# exit: 0 the link fails this way, 1 it does not, 2 it cannot run.
# needs: {linker}, python3 (judge.py, beside this script, decides).
here=$(cd "$(dirname "$0")" && pwd) || exit 2
command -v {linker} >/dev/null 2>&1 || {{ echo "repro.sh: cannot run: {linker} is not installed" >&2; exit 2; }}
log=$(mktemp) || exit 2
out=$(mktemp) || exit 2
{run}
python3 "$here/{JUDGE_FILE}" --anywhere "$log" "{root}" >/dev/null
v=$?
cat "$log"
rm -f "$log" "$out"
case $v in
0) echo "REPRODUCED: {sig.describe()}"; exit 0 ;;
10) echo "did not reproduce"; exit 1 ;;
*) exit 2 ;;
esac
"""


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
        doc.ld_reproduce = {"made": True, "path": tar["path"],
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
    if (Path(state) / EACH_FILE).is_file():
        raise UserError(f"{state} holds one search per failure",
                        f"reduce one of them: ltobisect reduce {state}/failures/N")
    store = StateDir(state)
    doc = store.read_doc()
    result = store.minimized()
    if result is None:
        raise UserError(f"{state} holds no minimized result to reduce",
                        f"finish the search first: ltobisect resume {state}")
    sig = doc.signature
    kind = kind_of(sig)
    if sig is None or kind is None:
        what = sig.describe() if sig is not None else "no signature"
        raise UserError(f"nothing to reduce beyond the config for this failure ({what})",
                        "a reduced reproducer is made for compile errors, compiler crashes "
                        "and link failures")
    try:
        config = replace(config_from_json(doc.config), state_dir=Path(state))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{state}/session.json holds no usable session config ({exc})",
                        "the session was written by another version of ltobisect") from None
    return Prepared(config=config, sig=sig, result=result, kind=kind)
