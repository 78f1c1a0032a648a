"""The bitcode steps of a link's reduction, as a part of :class:`.linking.LinkSteps`: the
inputs left merged by ``llvm-link`` into one module and reduced by llvm-reduce, or, when the
merged module does not fail the same way, each module reduced on its own; a ThinLTO module
keeps its summary throughout (see :func:`.link.thin_module`).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

from ltobisect import process
from ltobisect.events import PhaseStarted
from ltobisect.store.journal import write_atomic
from ltobisect.artifacts.judge_bundle import JUDGE_FILE, judge_program
from ltobisect.model import Phase

from . import compile as cc
from . import link as lk
from .common import tail, watched

#: What the link of one merged module may add, tried in order: nothing, then every global
#: symbol kept (LTO would otherwise internalize what the separate modules kept for each other).
MERGE_FLAGS = ([], ["--export-dynamic"])


class ModuleSteps:
    """Merge, llvm-reduce, each module alone (attributes of a Reduction: rs, work, sig...)."""

    def _merge_and_reduce(self, chain: lk.Chain, linker: str, keep: List[str],
                          out: Dict[str, Any]) -> Dict[str, Optional[Path]]:
        """The bitcode inputs left, reduced: merged by ``llvm-link`` into one module that
        llvm-reduce reduces, or, when the merged module does not fail the link the same way,
        each module on its own (:meth:`_each_module`). What stands for each bitcode input in
        the reduced link: a file, or ``None`` (merged into another's)."""
        link = chain.reduced
        major = lk.release(linker)
        bitcode = [u for u in keep if lk.is_bitcode(link.root / u)]
        out["bitcode_inputs"] = len(bitcode)
        if not bitcode:
            return {}
        thin = all(self._thin(link.root / u, major) for u in bitcode)
        merged = self.rs.file("merged.bc")
        step = self.rs.step("merge")
        if not step:
            self.emit(PhaseStarted(phase=Phase.REDUCING, detail=f"llvm-link of {len(bitcode)} "
                                                                f"bitcode inputs"))
            status, text = cc.run_call([f"llvm-link{major}", *bitcode, "-o", str(merged)],
                                       str(link.root), self.work / "llvm-link.log",
                                       dict(os.environ), 1800, self.stop)
            ok, extra = False, []
            if status == 0 and thin:
                status = self._summarize(merged, merged, major)
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
            if self.stop.is_set():
                raise lk.Interrupted()
            reason = "" if ok else (f"llvm-link refused them: {tail(self.work / 'llvm-link.log', 1)}"
                                    if not merged.is_file()
                                    else "the merged module links without the failure")
            step = self.rs.done("merge", merged=ok, bytes=merged.stat().st_size if ok else None,
                                reason=reason, extra=list(extra) if ok else [])
        if not step.get("merged"):
            return self._each_module(chain, linker, keep, bitcode, major, out)
        best = self.rs.file("best.bc")
        red = self.rs.step("module")
        if not red:
            replace: Dict[str, str] = {u: "" for u in bitcode}
            replace[bitcode[0]] = "@MODULE@"
            red = self._llvm_reduce(chain, linker, keep, replace, step.get("extra") or (),
                                    merged, best, major, "module", int(step.get("bytes") or 0),
                                    thin)
        out["module"] = {"merged": True, "before_bytes": step.get("bytes"),
                         "after_bytes": best.stat().st_size if best.is_file() else step.get("bytes"),
                         "complete": bool(red.get("complete")), "reason": red.get("reason", "")}
        modules: Dict[str, Optional[Path]] = {u: None for u in bitcode}
        modules[bitcode[0]] = best if best.is_file() else merged
        return modules

    def _each_module(self, chain: lk.Chain, linker: str, keep: List[str], bitcode: List[str],
                     major: str, out: Dict[str, Any]) -> Dict[str, Optional[Path]]:
        """Each bitcode input reduced by llvm-reduce on its own, the largest first, linked with
        the others as far as they are reduced (step ``module:<input>``).

        A merged module is not always the same failure: a ThinLTO backend imports a function
        into a module in memory, and what the verifier then rejects (measured: KCOV's calls
        without a debug location once their callee has debug info, Linux 6.1 with LLVM 16) is
        refused by llvm-link, or dropped as invalid debug info when a tool reads it back."""
        root = chain.reduced.root
        bests = {u: self.rs.file(f"best-{i}.bc") for i, u in enumerate(bitcode)}
        before = sum((root / u).stat().st_size for u in bitcode)
        complete, reason = True, ""
        for u in sorted(bitcode, key=lambda v: -(root / v).stat().st_size):
            name = f"module:{u}"
            red = self.rs.step(name)
            if not red:
                replace = {v: str(bests[v]) for v in bitcode if v != u and bests[v].is_file()}
                replace[u] = "@MODULE@"
                start = root / u
                red = self._llvm_reduce(chain, linker, keep, replace, (), start, bests[u], major,
                                        name, start.stat().st_size, self._thin(start, major))
            if not red.get("complete"):
                complete, reason = False, red.get("reason", "")
                break
        modules: Dict[str, Optional[Path]] = {u: bests[u] if bests[u].is_file() else root / u
                                              for u in bitcode}
        out["module"] = {"merged": False, "separate": len(bitcode),
                         "why": self.rs.step("merge").get("reason", ""),
                         "before_bytes": before,
                         "after_bytes": sum(p.stat().st_size for p in modules.values() if p),
                         "complete": complete, "reason": reason}
        return modules

    def _llvm_reduce(self, chain: lk.Chain, linker: str, keep: List[str],
                     replace: Dict[str, str], extra, start: Path, best: Path, major: str,
                     name: str, size0: int, thin: bool) -> Dict[str, Any]:
        """llvm-reduce on ``start`` (``best`` when a stopped run left one), its test the link of
        ``keep`` with the candidate in the place ``replace`` marks ``@MODULE@`` (given its
        ThinLTO summary back when ``thin``); step ``name``."""
        self.emit(PhaseStarted(phase=Phase.REDUCING,
                               detail=f"llvm-reduce on {start.name if name != 'module' else 'the merged module'}"))
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        template = self.rs.file("module-response.txt")
        template.write_text(chain.reduced.response(keep, replace=replace, extra=extra))
        stages = [(chain.reduced.root, template)]
        if chain.first is not None:
            final = self.rs.file("final-response.txt")
            final.write_text(chain.final.response(chain.final_keep, replace={chain.made: "@STAGE@"}))
            stages.append((chain.final.root, final))
        test = self.work / "module-test.sh"
        test.write_text(lk.module_test_script(linker, stages, attach / JUDGE_FILE, best,
                                              summary=f"opt{major}" if thin else ""))
        test.chmod(0o755)
        begin = best if best.is_file() else start
        tmp = self.work / "tmp"
        process.kill_left_in(tmp)  # a killed run's llvm-reduce would go on reducing
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env = dict(os.environ, TMPDIR=str(tmp))
        produced = self.work / "llvm-reduce-out.bc"
        produced.unlink(missing_ok=True)
        argv = [f"llvm-reduce{major}", f"--test={test}", "-j", str(max(1, self.opts.workers)),
                str(begin), "-o", str(produced)]
        if thin:
            # the module's data stays (its source_filename): a ThinLTO summary of a module
            # without one crashes LLVM 16's readers (measured: ld.lld-16 and llvm-dis-16)
            argv.insert(2, "--skip-delta-passes=module-data")
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
        # llvm-reduce's own output has no ThinLTO summary: with one needed, the test's copy
        # of the smallest interesting module (given its summary) is the result
        if not thin and produced.is_file() and (not best.is_file()
                                                or produced.stat().st_size <= best.stat().st_size):
            shutil.copyfile(produced, best)
        return self.rs.done(name, complete=True)

    def _thin(self, module: Path, major: str) -> bool:
        """Whether an input module is ThinLTO's (:func:`.link.thin_module`), asked once each."""
        cache = self.__dict__.setdefault("_thin_modules", {})
        if module not in cache:
            cache[module] = lk.thin_module(module, major, self.work, self.stop)
        return cache[module]

    def _summarize(self, module: Path, dest: Path, major: str) -> int:
        """``dest``: ``module`` with a ThinLTO summary (``opt -module-summary``); its exit."""
        tmp = dest.with_name(dest.name + ".summary.tmp")
        status, _ = cc.run_call([f"opt{major}", *lk.SUMMARY, str(module), "-o", str(tmp)],
                                str(self.work), self.work / "opt-summary.log", dict(os.environ),
                                600, self.stop)
        if status == 0:
            os.replace(tmp, dest)
        return status
