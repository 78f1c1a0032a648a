"""The steps of a link's reduction (a linker's error, ld.lld crashing at the LTO link), as a
part of :class:`ltobisect.reducer.run.Reduction`: the ``ld.lld --reproduce`` tarball of our own
build, relinked alone, its inputs cut by ddmin, the step back to the earlier link that made an
input, the merge and llvm-reduce, and the attachments. See :mod:`.link` for the why of each.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional

from ltobisect.build import ccache_enabled
from ltobisect.config import Toolchain, is_kernel_tree
from ltobisect.errors import InfraError
from ltobisect.events import PhaseStarted
from ltobisect.journal import write_atomic
from ltobisect.judge_bundle import JUDGE_FILE, judge_program
from ltobisect.linkrepro import lld_reproduce, relink_alone
from ltobisect.model import Phase, Signature

from . import compile as cc
from . import link as lk
from . import stage
from .common import REPRO, duration_of, tail, watched

#: The reduced link, under reduced/: its directory, the module in it.
LINK_DIR = "link"
REDUCED_MODULE = "reduced.ll"
#: With an earlier link: its output, and where the failing link is, under link/.
STAGE1 = "stage1.o"
FINAL_DIR = "final"
#: What the link of one merged module may add, tried in order: nothing, then every global
#: symbol kept (LTO would otherwise internalize what the separate modules kept for each other).
MERGE_FLAGS = ([], ["--export-dynamic"])


class LinkSteps:
    """The link steps of a Reduction (its attributes: rs, work, sig, opts, stop...)."""

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
        modules = self._merge_and_reduce(chain, linker, keep, out)
        out.update(self._attach_link(chain, linker, keep, modules, out))
        if out.get("complete"):
            out.update(self._stage(linker))
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
        ld = lld_reproduce(script, self.work, tarball, self.limit(max(900.0, 3 * duration_of(
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
                          out: Dict[str, Any]) -> Dict[str, Optional[Path]]:
        """The bitcode inputs left, reduced: merged by ``llvm-link`` into one module that
        llvm-reduce reduces, or, when the merged module does not fail the link the same way,
        each module on its own (:meth:`_each_module`). What stands for each bitcode input in
        the reduced link: a file, or ``None`` (merged into another's)."""
        link = chain.reduced
        major = _release(linker)
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

    def _stage(self, linker: str) -> Dict[str, Any]:
        """For an LTO crash, its stage and whether opt or llc shows it alone (:mod:`.stage`);
        journaled once the reduction is complete (its modules no longer change)."""
        if stage.of(self.sig) is None:
            return {}
        found = self.rs.step("stage")
        if not found:
            self.emit(PhaseStarted(phase=Phase.REDUCING,
                                   detail="the failing stage: ld.lld --save-temps, opt or llc alone"))
            found = stage.find(self.rs.attach_dir / LINK_DIR, linker, self.sig, _release(linker),
                               self.work, self.rs.attach_dir, self.limit(1800.0), self.stop)
            if self.stop.is_set():
                raise lk.Interrupted()
            found = self.rs.done("stage", **found)
        return {"stage": {k: v for k, v in found.items() if k not in ("done", "at")},
                "stage_line": stage.line(found, linker)}

    def _attach_link(self, chain: lk.Chain, linker: str, keep: List[str],
                     modules: Dict[str, Optional[Path]], out: Dict[str, Any]) -> Dict[str, Any]:
        """reduced/link/: the inputs left and the reduced modules (``.bc`` and ``.ll``),
        response.txt, repro.sh; with an earlier link, reduced/link/ is that link (its output
        ``stage1.o``) and reduced/link/final/ the failing one."""
        attach = self.rs.attach_dir
        write_atomic(attach / JUDGE_FILE, judge_program(self.sig), mode=0o755)
        d = attach / LINK_DIR
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        link = chain.reduced
        major = _release(linker)
        replace: Dict[str, str] = {}
        listed: List[str] = []
        names = _module_names(list(modules)) if len(modules) > 1 and \
            not (out.get("module") or {}).get("merged") else {}
        for unit, path in modules.items():
            if path is None:
                replace[unit] = ""
                continue
            name = names.get(unit, "reduced")
            if self._thin(link.root / unit, major):
                self._summarize(path, d / f"{name}.bc", major)
            else:
                shutil.copyfile(path, d / f"{name}.bc")
            replace[unit] = f"{name}.bc"
            cc.run_call([f"llvm-dis{major}", f"{name}.bc", "-o", f"{name}.ll"], str(d),
                        self.work / "llvm-dis.log", dict(os.environ), 600, self.stop)
            if (d / f"{name}.ll").is_file():
                listed.append(f"{LINK_DIR}/{name}.ll")
        _copy_inputs(link, [u for u in keep if u not in replace], d)
        extra = self.rs.step("merge").get("extra") or () if (out.get("module") or {}).get("merged") \
            else ()
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
                "module_file": listed[0] if len(listed) == 1 else None,
                "module_files": listed,
                "complete": steps_done and (not modules
                                            or bool((out.get("module") or {}).get("complete")))}


def _module_names(units: List[str]) -> Dict[str, str]:
    """A short name for each reduced module in reduced/link/ (``manage``, ``kcov``), made
    unique with the directory when two share a name (``irq-manage``)."""
    out: Dict[str, str] = {}
    for u in units:
        parts = PurePosixPath(u).with_suffix("").parts
        name = parts[-1]
        depth = 1
        while name in out.values() and depth < len(parts):
            depth += 1
            name = "-".join(parts[-depth:])
        out[u] = name
    return out


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


