"""The stage of an LTO crash, and whether that stage's own tool shows it from one module.

LLVM's guide to LTO bugs asks for the failing stage: the optimizer (``opt``) or the code
generator (``llc``), run on the module as it was when the stage began. The crash's identity
already names the stage from the stack (:mod:`ltobisect.logs.llvmcrash`: ``ThinLTO backend
optimization``, ``regular LTO code generation (...)``). Here the reduced link runs once more with
``--save-temps``, which makes ld.lld write the module before each stage (ThinLTO beside each
input: ``x.o.3.import.bc`` before optimization, ``x.o.5.precodegen.bc`` before code
generation; regular LTO beside the output: ``out.0.2.internalize.bc``, ``out.0.5.precodegen.bc``),
and the stage's tool runs on each such module alone. It shows the crash alone when its output has
what the crash printed (the assertion or the fatal error, or the verifier's first message).

A crash may well need the link: a module written to disk and read back is not always the module
the stage had in memory (a module whose debug info is invalid is read back with its debug info
dropped: measured on the KCOV crash of Linux 6.1 with LLVM 16). Then the report says so, and
the link stays the reproducer.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ltobisect import process
from ltobisect.logs.llvmcrash import normalize_ir, parts
from ltobisect.logs.logscan import extract_all
from ltobisect.model import Signature, SignatureKind
from ltobisect.store.state import REDUCED_DIR

from . import link as lk

#: --save-temps's module before each stage, by the stage's step (ThinLTO and regular LTO alike).
_BEFORE = {"optimization": ".3.import.bc", "code generation": ".5.precodegen.bc"}
_BEFORE_REGULAR = {"optimization": ".0.2.internalize.bc", "code generation": ".0.5.precodegen.bc"}
#: The module after each stage: where it exists, that module's stage went through.
_AFTER = {"optimization": ".4.opt.bc", "code generation": ".o"}


@dataclass(frozen=True)
class Stage:
    """An LTO crash's stage in words (``ThinLTO backend optimization``), and its tool's step."""

    words: str
    step: str  # "optimization" or "code generation" ("" when the crash named none)
    thin: bool


def of(sig: Signature) -> Optional[Stage]:
    """The stage an LTO crash names, or ``None`` for anything but a crash in LTO."""
    if sig.kind != SignatureKind.CRASH:
        return None
    p = parts(sig.message)
    if p is None:
        return None
    words = p[0]
    step = next((s for s in _BEFORE if s in words), "")
    return Stage(words=words, step=step, thin="ThinLTO" in words)


def commands(stage: Stage, major: str) -> List[Tuple[str, str, List[str]]]:
    """(step, module suffix, command before the module) to try: the stage's own tool, or both
    when the crash named no stage."""
    steps = [stage.step] if stage.step else list(_BEFORE)
    out = []
    for step in steps:
        suffix = (_BEFORE if stage.thin or not stage.words else _BEFORE_REGULAR)[step]
        if step == "optimization":
            pipeline = "thinlto<O2>" if stage.thin else "lto<O2>"
            out.append((step, suffix, [f"opt{major}", f"-passes={pipeline}", "-disable-output"]))
        else:
            out.append((step, suffix, [f"llc{major}", "-O2", "-filetype=obj", "-o", "/dev/null"]))
    return out


def shows_alone(sig: Signature, text: str) -> bool:
    """Whether a tool's output has what the crash printed: its assertion or fatal error (as a
    crash of any program, at any stage), or, for a broken module, the verifier's first message."""
    p = parts(sig.message)
    if p is None:
        return False
    _, head, verifier, _ = p
    if verifier and any(normalize_ir(ln.strip())[:300] == verifier for ln in text.splitlines()):
        return True
    for s in extract_all(text):
        q = parts(s.message) if s.kind == SignatureKind.CRASH else None
        if q is not None and head and q[1] == head and (not verifier or not q[2] or q[2] == verifier):
            return True
    return False


def find(link_dir: Path, linker: str, sig: Signature, major: str, scratch: Path,
         attach: Path, limit: float, stop: threading.Event) -> Dict[str, Any]:
    """Run the reduced link in ``link_dir`` (a copy) with ``--save-temps``, then the stage's tool
    on each module it wrote before the stage; a module that shows the crash alone is copied to
    ``attach`` (``stage-<name>.bc``). What was found, for the reduction's outcome."""
    stage = of(sig)
    if stage is None:
        return {}
    work = scratch / "stage"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(link_dir, work / "link")
    root = work / "link"
    with open(work / "link.log", "wb") as sink:
        process.run([linker, f"@{lk.RESPONSE}", "--save-temps", "-o", str(work / "out")],
                    cwd=root, stdout=sink, timeout=limit, stop=stop)
    if not stage.words:
        # the session's build lost the stack (two backend threads at once): this link's says
        text = (work / "link.log").read_text(errors="replace")
        stage = next((st for s in extract_all(text) if s.kind == SignatureKind.CRASH
                      for st in [of(s)] if st is not None and st.words), stage)
    found: Dict[str, Any] = {"stage": stage.words or "unknown", "alone": False, "tried": []}
    for step, suffix, argv in commands(stage, major):
        modules = sorted(p for p in [*root.rglob(f"*{suffix}"), *work.glob(f"out*{suffix}")]
                         if p.is_file())
        failed = [m for m in modules if not _went_through(m, suffix, step)]
        for module in failed or modules:
            if stop.is_set():
                return found
            log = work / f"{module.name}.log"
            with open(log, "wb") as sink:
                done = process.run([*argv, str(module)], cwd=module.parent, stdout=sink,
                                   timeout=limit, stop=stop)
            text = log.read_text(errors="replace")
            status = -1 if done.killed_by_us else os.waitstatus_to_exitcode(done.status)
            name = _short(module, suffix)
            command = " ".join([*argv[:1], *(f"'{a}'" if "<" in a else a for a in argv[1:]),
                                name])
            said = _said(text.replace(str(module), name), status)
            found["tried"].append({"tool": argv[0], "module": name, "status": status,
                                   "said": said})
            if status != 0 and shows_alone(sig, text):
                attach.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(module, attach / name)
                found.update(alone=True, tool=argv[0], command=command, module=name,
                             bytes=module.stat().st_size)
                return found
    if found["tried"]:
        first = found["tried"][0]
        found.update(tool=first["tool"], said=first["said"])
    else:
        found["said"] = "ld.lld wrote no module before the stage (--save-temps)"
    return found


def _went_through(module: Path, before: str, step: str) -> bool:
    """Whether the stage finished for the module ``module`` is the input of (its output exists)."""
    base = str(module)[:-len(before)]
    if step == "optimization":
        return Path(base + _AFTER[step]).is_file() or Path(base + ".0.4.opt.bc").is_file()
    return False  # code generation's output is the object: never written on its own name


def _short(module: Path, suffix: str) -> str:
    """``stage-manage.import.bc`` for ``.../kernel/irq/manage.o.3.import.bc``."""
    base = module.name[:-len(suffix)]
    base = re.sub(r"\.(?:o|bc)$", "", base)
    step = suffix.strip(".").split(".")[-2]
    return f"stage-{base}.{step}.bc"


def _said(text: str, status: int) -> str:
    """What the tool said in one line: its first warning or error, else its exit."""
    for ln in text.splitlines():
        if re.search(r"\b(?:warning|error|LLVM ERROR)\b", ln):
            return ln.strip()[:200]
    return "it exits 0 without an error" if status == 0 else f"exit {status}"


def line(found: Dict[str, Any], linker: str) -> str:
    """The report's sentence on the stage."""
    if not found:
        return ""
    words = found.get("stage") or "unknown"
    if found.get("alone"):
        return (f"failing stage: {words}; {found['tool']} alone shows it on one module "
                f"({found.get('bytes')} bytes): cd {REDUCED_DIR} && {found['command']}")
    tool = found.get("tool")
    if tool:
        return (f"failing stage: {words}; {tool} alone on the module ld.lld wrote before it "
                f"does not show it ({found.get('said')}), so {linker} is the reproducer")
    return f"failing stage: {words}; {found.get('said')}"
