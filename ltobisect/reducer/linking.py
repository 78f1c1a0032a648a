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
from ltobisect.store.journal import write_atomic
from ltobisect.artifacts.judge_bundle import JUDGE_FILE, judge_program
from ltobisect.artifacts.linkrepro import lld_reproduce, relink_alone
from ltobisect.model import Phase, Signature

from . import compile as cc
from . import link as lk
from . import stage
from .common import REPRO, duration_of
from .modules import ModuleSteps

#: The reduced link, under reduced/: its directory, the module in it.
LINK_DIR = "link"
#: The tarballs of the failing link and of the earlier link, in the reduction's directory (named,
#: never stored as paths: a state directory that moved still finds them).
TARBALL = "lld-reproduce.tar"
FIRST_TAR = "first-link.tar"
REDUCED_MODULE = "reduced.ll"
#: With an earlier link: its output, and where the failing link is, under link/.
STAGE1 = "stage1.o"
FINAL_DIR = "final"


class LinkSteps(ModuleSteps):
    """The link steps of a Reduction (its attributes: rs, work, sig, opts, stop...); the
    modules' steps are :class:`.modules.ModuleSteps`'."""

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
        tarball = self.rs.file(TARBALL)
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
        tarball = self.rs.file(TARBALL)
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
                first_tar = self.rs.file(FIRST_TAR)
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
        first = lk.Link.read(lk.unpack(self.rs.file(FIRST_TAR), self.rs.dir / "first-link"))
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

    def _stage(self, linker: str) -> Dict[str, Any]:
        """For an LTO crash, its stage and whether opt or llc shows it alone (:mod:`.stage`);
        journaled once the reduction is complete (its modules no longer change)."""
        if stage.of(self.sig) is None:
            return {}
        found = self.rs.step("stage")
        if not found:
            self.emit(PhaseStarted(phase=Phase.REDUCING,
                                   detail="the failing stage: ld.lld --save-temps, opt or llc alone"))
            found = stage.find(self.rs.attach_dir / LINK_DIR, linker, self.sig, lk.release(linker),
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
        major = lk.release(linker)
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


