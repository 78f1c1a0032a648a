"""Priors from the failure's log: the options an expert reads off it, found in the tree itself.

A kernel maintainer does not start a search from the whole randconfig. The log names files,
objects and symbols, and implies compiler flags; the tree says which option builds a file and
under which option a flag is added. These rules, read from the tree's own Kbuild and Makefile
text (no table of option names), suggest options:

- **files and objects** the failure names (``fs/exec.c``, ``kernel/kcov.o``): the Kbuild line
  that builds the object (``obj-$(CONFIG_X) += kcov.o``, ``lib-``, ``core-``, a composite
  object's ``foo-$(CONFIG_X) += part.o``), and down the directory chain the lines that enter
  its directories (``obj-$(CONFIG_Y) += block/``);
- **symbols** the failure names (``undefined symbol: foo``, ``call void @foo(...)`` in a
  verifier's message): the C or assembly files of the tree that define them, then their
  objects' options as above;
- **flags** the failure implies: a compiler's runtime callbacks name the flag that makes the
  calls (``__sanitizer_cov_trace_cmp4``: ``-fsanitize-coverage=trace-cmp``; ``__asan_``:
  ``-fsanitize=kernel-address``...), debug info in a verifier's message means ``-g``, a crash in
  LTO means ``-flto``; the Makefiles that add such a flag say under which option: on the line
  (``kcov-flags-$(CONFIG_X) += ...``), in an enclosing ``ifdef CONFIG_X`` /
  ``ifeq ($(CONFIG_X),y)`` block, or because the whole file is included under one
  (``include-$(CONFIG_X) += scripts/Makefile.kcov``).

With a ``--signature`` regex, the lines it matches are the failure's text. A log from another
machine names the tree's files by absolute paths; they count by their longest tail that is a
file of the tree.

An option no change sets (``DEBUG_INFO``, selected by a choice of how to make it) stands for the
changes that select it (Kconfig's reverse dependencies). The suggested changes, with what they
need, are the search's first candidate (:func:`first_guess`, run by the session): one cheap
build that, when the guess holds, leaves the rest of the search inside a handful of changes.
When it does not, the failure needs more than these changes, but most likely some of them:
they become ``problem.prior``, and the default strategy's first round tests removing them all
(a culprit among them is then found within them, a few tests instead of log2 of all the
changes; none among them costs that one test). The result is as 1-minimal and as verified
either way.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ltobisect import process
from ltobisect.events import Message
from ltobisect.logs.lognorm import GNU_LINKERS, LINKERS
from ltobisect.model import Change, Label, Signature, SignatureKind, ordered
from ltobisect.problem import Problem

#: A compiler's runtime callbacks, by the prefix of their names, and the flag text whose calls
#: they are (what the Makefiles add). The fact is the compiler's, not any tree's.
RUNTIME_FLAGS: Tuple[Tuple[str, str], ...] = (
    (r"__sanitizer_cov_trace_(?:const_)?cmp\d|__sanitizer_cov_trace_switch", "trace-cmp"),
    (r"__sanitizer_cov_trace_pc", "trace-pc"),
    (r"__asan_|__kasan_", "-fsanitize=kernel-address"),
    (r"__hwasan_", "-fsanitize=kernel-hwaddress"),
    (r"__ubsan_handle_", "-fsanitize="),
    (r"__tsan_", "-fsanitize=thread"),
    (r"__msan_", "-fsanitize=kernel-memory"),
    (r"__cfi_|__ubsan_handle_cfi", "-fsanitize=kcfi"),
    (r"__stack_chk_fail", "-fstack-protector"),
    (r"__fentry__", "-mfentry"),
    (r"__x86_indirect_thunk|__x86_return_thunk", "-mfunction-return"),
    (r"__gcov_|__llvm_gcov", "-fprofile-arcs"),
)
#: Words of a failure that imply a flag of the whole build.
MESSAGE_FLAGS: Tuple[Tuple[str, str], ...] = (
    (r"\bdebug info\b|!dbg\b", "-g"),
    (r"\bLTO\b", "-flto"),
    (r"\[-Werror\b|-Werror,", "-Werror"),
)
_KBUILD_LINE = re.compile(r"^\s*([\w.-]+?)-\$\(CONFIG_(\w+)\)\s*[+:]?=\s*(.*)$")
_IFDEF = re.compile(r"^\s*ifdef\s+CONFIG_(\w+)\s*$")
_IFEQ = re.compile(r"^\s*if(?:n?eq)\s*\(?\s*[\"']?\$\(CONFIG_(\w+)\)")
_ELSE_END = re.compile(r"^\s*(endif|else)\b")
_IF_ANY = re.compile(r"^\s*if(?:n?def|n?eq)\b")
_PATH = re.compile(r"(?<![\w/.-])((?:[\w-]+/)+[\w.-]+\.(?:[chSo]|lds))\b")
#: "error" as a word: a message, not a file built on the way (``lib/zstd/common/error_private.o``).
_ERROR_WORD = re.compile(r"(?i)\berror\b")
_UNDEFINED_WORD = re.compile(r"\bundefined\b")
_ABS_PATH = re.compile(r"(?<![\w/.-])(/(?:[\w.+-]+/)+[\w.-]+\.[chS])\b")
_UNDEFINED = re.compile(r"undefined (?:symbol|reference to)[: ]+[`']?([A-Za-z_][\w.$]*)")
_IR_CALLEE = re.compile(r"@([A-Za-z_][\w.$]*)\(")
_VERIFIER_CALL = re.compile(r"^\s+(?:tail |musttail )?(?:call|invoke)\b.*@([A-Za-z_][\w.$]*)\(")
#: How long the search of the tree's sources for a symbol's definition may take.
GREP_SECONDS = 120.0


def suggest(tree: Path, sig: Optional[Signature], log_text: str, *, arch: Optional[str] = None,
            grep_seconds: float = GREP_SECONDS) -> Dict[str, str]:
    """The options the failure points at in ``tree``: option name -> why (one line)."""
    if sig is None or sig.kind == SignatureKind.TIMEOUT:
        return {}
    if sig.kind == SignatureKind.REGEX:  # the user's pattern says which lines are the failure
        matched = _matched_lines(sig.message, log_text)
        if not matched:
            return {}
        sig = Signature(SignatureKind.REGEX, "", matched[0])
        text = "\n".join(matched)
    else:
        text = "\n".join(_failure_lines(sig, log_text))
    out: Dict[str, str] = {}
    for path in _paths(sig, text, tree):
        for opt, why in options_building(tree, path).items():
            out.setdefault(opt, why)
    symbols = _symbols(sig, text)
    flags: Dict[str, str] = {}
    for sym in symbols:
        for pattern, flag in RUNTIME_FLAGS:
            if re.match(pattern, sym):
                flags.setdefault(flag, f"{sym} is what {flag} calls")
    for pattern, flag in MESSAGE_FLAGS:
        if re.search(pattern, f"{sig.message}\n{text}"):
            flags.setdefault(flag, f"the failure implies {flag}")
    if _linker_ran_llvm(sig, text, log_text):
        flags.setdefault("-flto", f"{sig.tool} failed in LLVM's own code, which a linker runs "
                                  "only on bitcode (an LTO link)")
    defined = defining_files_of(tree, symbols[:20], grep_seconds)
    for sym in symbols[:20]:
        for src in defined.get(sym, []):
            obj = str(PurePosixPath(src).with_suffix(".o"))
            for opt, why in options_building(tree, obj).items():
                out.setdefault(opt, f"{src} defines {sym}; {why}")
    for flag, because in flags.items():
        for opt, why in options_adding(tree, flag, arch).items():
            out.setdefault(opt, f"{because}; {why}")
    return out


def changes_for(options: Dict[str, str], changes: Sequence[Change],
                selectors: Callable[[str], Iterable[str]], depth: int = 2) -> Tuple[Change, ...]:
    """The changes that stand for the suggested options: a change to the option itself, else
    (up to ``depth`` levels) the changes to the options that select it."""
    by_name = {c.name: c for c in changes}
    out: Dict[str, Change] = {}
    for name in options:
        todo, seen = [name], {name}
        for _ in range(depth + 1):
            found = [by_name[n] for n in todo if n in by_name]
            if found:
                for c in found:
                    out.setdefault(c.name, c)
                break
            todo = [s for n in todo for s in selectors(n) if s not in seen]
            seen.update(todo)
    return tuple(out.values())


def first_guess(problem: Problem, tree: Any, tree_dir: Path, changes: Sequence[Change],
                sig: Signature, log_text: str,
                emit: Callable[[object], None]) -> Optional[Dict[str, Any]]:
    """The search's first candidate: the changes standing for the options the log points at,
    with what they need (``problem.structure``). One build: when it reproduces, the gate makes
    it the best and the strategy starts inside it; when not, nothing else changes. What was
    suggested and whether it held, for the report; None when the log points at nothing.
    ``tree`` is the Kconfig tree (its ``srcarch`` and ``selectors``, when it has them)."""
    options = suggest(tree_dir, sig, log_text, arch=getattr(tree, "srcarch", None))
    if not options:
        return None
    chosen = changes_for(options, changes, getattr(tree, "selectors", lambda name: ()))
    out: Dict[str, Any] = {"options": options, "changes": [c.line() for c in ordered(chosen)],
                           "held": None}
    cand = problem.structure.closure(chosen) & problem.best
    if not cand or len(cand) >= len(problem.best):
        out["note"] = "no change sets them" if not chosen else "no smaller than the best so far"
        return out
    emit(Message("info", f"the log points at {', '.join(options)}: trying their "
                         f"{len(cand)} changes first"))
    problem.label = Label.LOG_GUESS
    held = problem.consider(cand)
    out.update(held=held, size=len(cand))
    if not held:  # the failure needs more than these, most likely some of them still
        problem.prior = cand
    emit(Message("info", f"the guess {'held' if held else 'did not hold'}: {len(cand)} changes "
                         f"{'reproduce' if held else 'do not reproduce'}"))
    return out


# -- the failure's text ---------------------------------------------------------------------------
def _linker_ran_llvm(sig: Signature, text: str, log_text: str) -> bool:
    """Whether an LLD linker failed inside LLVM's optimizer or code generator: an LLVM error,
    IR quoted by the verifier, or LTO frames on the stack. It runs them on bitcode only."""
    if sig.tool not in LINKERS - GNU_LINKERS:
        return False
    return ("LLVM ERROR" in f"{sig.message}\n{text}" or any(_VERIFIER_CALL.match(ln)
            for ln in text.splitlines()) or "llvm::lto::" in log_text)


def _matched_lines(pattern: str, log_text: str, limit: int = 20) -> List[str]:
    """The whole lines of the log that a (multiline) signature regex matches, at most ``limit``."""
    out: List[str] = []
    try:
        found = re.finditer(pattern, log_text, re.MULTILINE)
        for m in found:
            start = log_text.rfind("\n", 0, m.start()) + 1
            end = log_text.find("\n", m.end())
            for ln in log_text[start: end if end >= 0 else len(log_text)].splitlines():
                if ln not in out:
                    out.append(ln)
            if len(out) >= limit:
                break
    except re.error:
        return []
    return out[:limit]


def _failure_lines(sig: Signature, log_text: str, limit: int = 400) -> List[str]:
    """The lines of the log that say what failed: errors, the linker's ``>>>`` lines, the
    verifier's messages and the IR it quotes; at most ``limit``."""
    out = []
    for ln in log_text.splitlines():
        if (_ERROR_WORD.search(ln) or ln.startswith(">>>") or _UNDEFINED_WORD.search(ln)
                or ": in function " in ln  # GNU ld: the object that makes the reference
                or _VERIFIER_CALL.match(ln) or "must have" in ln):
            out.append(ln)
            if len(out) >= limit:
                break
    return out


def _paths(sig: Signature, text: str, tree: Optional[Path] = None) -> List[str]:
    """Tree-relative source and object paths the failure names (its place first). With
    ``tree``, an absolute path (a log from another machine's tree or build directory) counts
    by its longest tail that is a file of ``tree``."""
    found: List[str] = []
    loc = (sig.location or "").split(":", 1)[0]
    if "/" in loc and loc.endswith((".c", ".S", ".o", ".h")) and not loc.startswith(("/", "..")):
        found.append(loc)
    for m in _PATH.finditer(f"{sig.message}\n{text}"):
        p = m.group(1)
        if not p.startswith(("/", "..")) and p not in found:
            found.append(p)
    if tree is not None:
        for m in _ABS_PATH.finditer(f"{sig.message}\n{text}"):
            parts = m.group(1).strip("/").split("/")
            tail = next(("/".join(parts[i:]) for i in range(len(parts) - 1)
                         if (tree / "/".join(parts[i:])).is_file()), None)
            if tail and tail not in found:
                found.append(tail)
    return found[:20]


def _symbols(sig: Signature, text: str) -> List[str]:
    """Symbols the failure names: undefined ones, callees in the IR a verifier quotes."""
    out: List[str] = []
    for rx in (_UNDEFINED, _IR_CALLEE):
        for m in rx.finditer(f"{sig.message}\n{text}"):
            name = m.group(1)
            if not name.startswith("llvm.") and name not in out:
                out.append(name)
    return out


# -- the tree's Kbuild and Makefiles -------------------------------------------------------------
def _makefiles(directory: Path) -> List[Path]:
    return [p for p in (directory / "Kbuild", directory / "Makefile") if p.is_file()]


def _lines(path: Path) -> List[str]:
    """A Makefile's lines with continuations joined."""
    try:
        raw = path.read_text(errors="replace")
    except OSError:
        return []
    return raw.replace("\\\n", " ").splitlines()


#: Kbuild's lists of what a directory builds (anything else before ``-y`` names a composite).
_LISTS = ("obj", "lib", "core", "libs", "drivers", "init", "net", "virt", "subdir", "head",
          "always", "hostprogs", "extra", "targets")
_ANY_KBUILD = re.compile(r"^\s*([\w.-]+?)-(y|objs|\$\(CONFIG_(\w+)\))\s*[+:]?=\s*(.*)$")


def options_building(tree: Path, path: str) -> Dict[str, str]:
    """The options under which kbuild builds ``path`` (a ``.c``/``.S``/``.o``): the line of its
    directory's Kbuild or Makefile, the lines of the composite objects it is a part of
    (``zram-y := zram_drv.o`` then ``obj-$(CONFIG_ZRAM) += zram.o``), and the lines entering
    each directory above it."""
    out: Dict[str, str] = {}
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        return out  # outside the tree
    if p.suffix in (".c", ".S"):
        p = p.with_suffix(".o")
    if p.suffix != ".o":
        return out
    directory = p.parent
    targets = [p.name]
    while True:
        rel_dir = "" if str(directory) in (".", "") else f"{directory}/"
        lines = [(f"{rel_dir}{mk.name}", ln) for mk in _makefiles(tree / directory)
                 for ln in _lines(mk)]
        seen = set(targets)
        while targets:
            target = targets.pop(0)
            here = re.compile(rf"(?<![\w/.-]){re.escape(target)}(?![\w.-])")
            for rel, line in lines:
                m = _ANY_KBUILD.match(line)
                if not m or not here.search(m.group(4)):
                    continue
                var, opt = m.group(1), m.group(3)
                if opt:
                    out.setdefault(opt, f"{rel}: {var}-$(CONFIG_{opt}) += {target}")
                if var not in _LISTS and f"{var}.o" not in seen:
                    seen.add(f"{var}.o")
                    targets.append(f"{var}.o")  # a part of the composite object var.o
        if not rel_dir or directory.parent == directory:
            break
        targets = [f"{directory.name}/"]
        directory = directory.parent
    return out


def options_adding(tree: Path, flag: str, arch: Optional[str] = None) -> Dict[str, str]:
    """The options under which the build's Makefiles add ``flag``: on its line, in an
    enclosing ``ifdef``/``ifeq`` of an option, or in a file included under an option."""
    files = [tree / "Makefile", *sorted((tree / "scripts").glob("Makefile.*"))]
    if arch:
        files += sorted((tree / "arch" / arch).glob("Makefile*"))
    included = _included_under(tree, files)
    out: Dict[str, str] = {}
    word = re.compile(rf"(?<![\w-]){re.escape(flag)}(?![\w])" if flag.startswith("-")
                      else rf"(?<![\w-]){re.escape(flag)}(?![\w-])")
    for mk in files:
        if not mk.is_file():
            continue
        stack: List[Optional[str]] = []
        rel = str(mk.relative_to(tree))
        for line in _lines(mk):
            code = line.split("#", 1)[0]
            d, e = _IFDEF.match(code), _IFEQ.match(code)
            if d or e:
                stack.append((d or e).group(1))
                continue
            if _IF_ANY.match(code):
                stack.append(None)
                continue
            end = _ELSE_END.match(code)
            if end:
                if end.group(1) == "endif" and stack:
                    stack.pop()
                elif end.group(1) == "else" and stack:
                    stack[-1] = None  # the other branch: not under the option
                continue
            if not word.search(code):
                continue
            m = _KBUILD_LINE.match(code)
            if m and m.group(2) not in out:
                out[m.group(2)] = f"{rel}: {m.group(1)}-$(CONFIG_{m.group(2)}) adds {flag}"
                continue
            enclosing = next((o for o in reversed(stack) if o), None)
            if enclosing and enclosing not in out:
                out[enclosing] = f"{rel} adds {flag} under CONFIG_{enclosing}"
                continue
            if not enclosing and rel in included:
                opt, where = included[rel]
                out.setdefault(opt, f"{rel} adds {flag}; {where} includes it under CONFIG_{opt}")
    return out


def _included_under(tree: Path, files: Sequence[Path]) -> Dict[str, Tuple[str, str]]:
    """Makefiles included under an option: relative path -> (option, the including file)."""
    out: Dict[str, Tuple[str, str]] = {}
    for mk in files:
        if not mk.is_file():
            continue
        for line in _lines(mk):
            m = re.match(r"^\s*include-\$\(CONFIG_(\w+)\)\s*\+?=\s*(.*)$", line)
            if m:
                for f in m.group(2).split():
                    out.setdefault(f.replace("$(srctree)/", ""), (m.group(1), str(mk.relative_to(tree))))
    return out


def _definition(symbols: Sequence[str]) -> str:
    """A grep -E pattern of a definition of any of ``symbols``: a function or variable at the
    start of a line (not a declaration), or an assembly ``SYM_FUNC_START(symbol)``. POSIX
    classes: grep -E reads \\w and \\s inside brackets as plain letters."""
    names = "|".join(symbols)
    return (rf"^([A-Za-z_][[:alnum:]_ ]*[ *])?({names})[[:space:]]*\((.*[^;])?$|"
            rf"^(SYM_FUNC_START|SYM_CODE_START|ENTRY|SYM_FUNC_START_LOCAL)\(({names})\)")


def defining_files_of(tree: Path, symbols: Sequence[str],
                      seconds: float = GREP_SECONDS) -> Dict[str, List[str]]:
    """For each of ``symbols``, the tree's C and assembly files that define it (one pass of
    grep over the tree for them all, then each file found read for which); a symbol defined in
    many files (a common name, a per-architecture helper) gets none."""
    names = [s for s in dict.fromkeys(symbols) if re.fullmatch(r"[A-Za-z_][\w$]*", s)]
    if not names or shutil.which("grep") is None:
        return {}
    with tempfile.TemporaryFile() as sink:
        try:  # in its own process group, killed at the time limit (ltobisect.process)
            done = process.run(["grep", "-rlE", "--include=*.c", "--include=*.S",
                                _definition(names), "."], cwd=tree, stdout=sink, timeout=seconds)
        except OSError:
            return {}
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    if done.killed_by_us:
        return {}
    files = sorted(f[2:] if f.startswith("./") else f for f in text.splitlines()
                   if not f.startswith("grep:"))
    files = [f for f in files if not f.startswith(("tools/", "Documentation/", "samples/"))]
    out: Dict[str, List[str]] = {}
    for f in files:
        try:
            body = (tree / f).read_text(errors="replace")
        except OSError:
            continue
        for name in names:
            one = re.compile(rf"^(?:[A-Za-z_][\w ]*[ *])?{re.escape(name)}\s*\((?:.*[^;])?$|"
                             rf"^(?:SYM_FUNC_START|SYM_CODE_START|ENTRY|SYM_FUNC_START_LOCAL)"
                             rf"\({re.escape(name)}\)", re.MULTILINE)
            if one.search(body):
                out.setdefault(name, []).append(f)
    return {k: v for k, v in out.items() if len(v) <= 4}


def defining_files(tree: Path, symbol: str, seconds: float = GREP_SECONDS) -> List[str]:
    """The tree's files that define ``symbol`` (see :func:`defining_files_of`)."""
    return defining_files_of(tree, [symbol], seconds).get(symbol, [])
