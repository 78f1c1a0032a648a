"""One failing link, from its ``ld.lld --reproduce`` tarball down to the inputs and IR it needs.

The tarball holds ``response.txt`` (one argument per line, paths relative to its top
directory) and a copy of every input. :class:`Link` reads it: the inputs are the lines that
name a file of the tarball; a thin archive linked whole (``--whole-archive``, how kbuild links
``vmlinux.a``) counts as its members, which the tarball holds as files too. Each test links
a subset of the inputs in the unpacked directory with the same linker and judges its output
by the session's signature; the subsets are chosen by the project's own ddmin
(:class:`ltobisect.strategies.ddmin.DDMin`, through :class:`InputsProblem`), so the result is 1-minimal:
no single input left can go.

The bitcode inputs left are then merged (``llvm-link``) into one module, which must still
fail the link the same way (as it is, or with ``--export-dynamic``: one module lets LTO
internalize and drop what the separate modules of a ThinLTO link kept for each other), and that module is reduced by ``llvm-reduce``, whose test links it
with the rest (:func:`module_test_script`). The test keeps the smallest module it judged
interesting (``best.bc``): llvm-reduce writes nothing until it ends, so this is what a stop or a
kill leaves, and where a resumed reduction starts again.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from ltobisect import process
from ltobisect.logs import signature as sg
from ltobisect.artifacts.linkrepro import RESPONSE, safe_members
from ltobisect.model import Signature

from .common import sh_quote

#: What every link the reduction runs adds: all errors printed (see :func:`run_link`).
ALL_ERRORS = ("--error-limit=0",)
#: Bitcode's magic numbers: raw, and in the wrapper some targets use.
_BITCODE = (b"BC\xc0\xde", b"\xde\xc0\x17\x0b")
_THIN = b"!<thin>\n"
#: Options whose value is the next line's word, in lld's response file (``-o x`` is one line).
_OUTPUT = ("-o ", "-o\t")


def is_bitcode(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in _BITCODE
    except OSError:
        return False


def thin_module(path: Path, major: str, scratch: Path, stop: threading.Event) -> bool:
    """Whether a bitcode file is a ThinLTO module: it carries a module summary (in
    llvm-bcanalyzer's words, a ``GLOBALVAL_SUMMARY_BLOCK``).

    llvm-link and llvm-reduce write modules without one, and ld.lld links a module without a
    summary in regular LTO: another link, where a ThinLTO backend's failure does not show
    (measured: the KCOV crash of LLVM 16 needs the import). A reduced module of a ThinLTO input
    gets its summary back (:data:`SUMMARY`) before it is linked."""
    scratch.mkdir(parents=True, exist_ok=True)
    with open(scratch / "bcanalyzer.log", "wb") as sink:
        done = process.run([f"llvm-bcanalyzer{major}", str(path)], cwd=scratch, stdout=sink,
                           timeout=600, stop=stop)
    text = (scratch / "bcanalyzer.log").read_text(errors="replace")
    return done.status == 0 and "(GLOBALVAL_SUMMARY_BLOCK)" in text


#: What gives a module its ThinLTO summary back: ``opt-N`` with these arguments, in and -o out.
SUMMARY = ("-module-summary",)


def release(linker: str) -> str:
    """``-16`` of ``ld.lld-16`` (the suffix of the LLVM tools of the same release), else ""."""
    m = re.search(r"-(\d+)$", linker)
    return f"-{m.group(1)}" if m else ""


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack lld's tarball into ``dest`` (emptied first); its top directory."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        top = safe_members(tar)
        if top is None:
            raise ValueError("the tarball holds more than ld.lld writes")
        tar.extractall(dest)
    root = dest / top
    if not (root / RESPONSE).is_file():
        raise ValueError(f"the tarball has no {RESPONSE}")
    return root


def _unquote(line: str) -> str:
    line = line.strip()
    if len(line) >= 2 and line[0] == line[-1] == '"':
        return line[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return line


def _quote(word: str) -> str:
    if any(c in word for c in ' \t"\\'):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def thin_members(archive: Path) -> Optional[List[str]]:
    """The member paths of a thin archive (relative to it), or ``None`` for any other file.

    Read from the archive itself (the GNU format: a ``//`` table of long names, ``/N``
    references into it), so no ``ar`` of a particular release is needed.
    """
    try:
        data = archive.read_bytes()
    except OSError:
        return None
    if not data.startswith(_THIN):
        return None
    at, names, members = len(_THIN), b"", []
    while at + 60 <= len(data):
        header = data[at:at + 60]
        name = header[:16].decode(errors="replace").rstrip()
        try:
            size = int(header[48:58].decode().strip() or 0)
        except ValueError:
            return None
        at += 60
        if name == "//":
            names = data[at:at + size]
            at += size + (size & 1)
            continue
        if name in ("/", "/SYM64/"):
            at += size + (size & 1)
            continue
        if name.startswith("/") and name[1:].isdigit():
            off = int(name[1:])
            end = names.find(b"/\n", off)
            members.append(names[off:end if end >= 0 else None].decode(errors="replace"))
        else:
            members.append(name.rstrip("/"))
        # A thin archive's members are not stored in it: the header is all there is.
    return members


@dataclass
class Link:
    """A response file split into its arguments; ``inputs`` are the lines that are inputs."""

    root: Path
    lines: List[str]
    inputs: List[int] = field(default_factory=list)  # indexes into lines
    #: lines that a thin archive linked whole stands for: index -> its members' paths
    members: Dict[int, List[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> "Link":
        lines = [ln for ln in (root / RESPONSE).read_text().splitlines() if ln.strip()]
        link = cls(root=root, lines=lines)
        whole = False
        for i, line in enumerate(lines):
            word = _unquote(line)
            if word == "--whole-archive":
                whole = True
            elif word == "--no-whole-archive":
                whole = False
            if word.startswith("-l ") and link.library(word):
                link.inputs.append(i)  # a library found in the tarball: an input like any
                continue
            if word.startswith("-") or not (root / word).is_file():
                continue
            link.inputs.append(i)
            if whole:
                members = thin_members(root / word)
                if members:
                    base = PurePosixPath(word).parent
                    paths = [str(base / m) for m in members]
                    if all((root / p).is_file() for p in paths):
                        link.members[i] = paths
        return link

    def search_dirs(self) -> List[str]:
        return [_unquote(ln)[3:].strip() for ln in self.lines if ln.startswith("-L ")] + \
            [_unquote(ln)[2:] for ln in self.lines if ln.startswith("-L") and not ln.startswith("-L ")]

    def library(self, word: str) -> List[str]:
        """The files of the tarball that ``-l NAME`` (``-lNAME``, ``-l :file``) may link."""
        name = word[2:].strip()
        names = [name[1:]] if name.startswith(":") else [f"lib{name}.so", f"lib{name}.a"]
        return [str(PurePosixPath(d) / n) for d in self.search_dirs() for n in names
                if not d.startswith("/") and (self.root / d / n).is_file()]

    def files_of(self, unit: str) -> List[str]:
        """The tarball's files an input stands for (a library: every candidate file)."""
        if unit.startswith("-l"):
            return self.library(unit)
        return [unit]

    def units(self) -> List[str]:
        """What the delta debugging keeps or drops: each input, each member of a whole thin
        archive in its place."""
        out: List[str] = []
        for i in self.inputs:
            if i in self.members:
                out.extend(self.members[i])
            else:
                out.append(_unquote(self.lines[i]))
        return out

    def response(self, keep: Sequence[str], output: Optional[str] = None,
                 replace: Optional[Dict[str, str]] = None, drop_chroot: bool = True,
                 extra: Sequence[str] = ()) -> str:
        """The response file linking only ``keep`` (in the original order), ``output`` for
        ``-o``, ``replace``: input -> what stands in its place (a merged module), ``extra``:
        options added at the end."""
        kept = set(keep)
        replace = dict(replace or {})
        out: List[str] = []
        for i, line in enumerate(self.lines):
            word = _unquote(line)
            if drop_chroot and word.startswith("--chroot"):
                continue
            if output is not None and line.startswith(_OUTPUT):
                out.append(f"-o {_quote(output)}")
                continue
            if i in self.members:
                out.extend(_quote(replace.get(m, m)) for m in self.members[i]
                           if m in kept and replace.get(m, m))
                continue
            if i in self.inputs:
                if word in kept and replace.get(word, word):
                    out.append(line if word.startswith("-") and word not in replace
                               else _quote(replace.get(word, word)))
                continue
            out.append(line)
        out.extend(extra)
        # the standalone link stays a --chroot-free one: every path is relative to its top
        return "\n".join(out) + "\n"


def run_link(linker: str, root: Path, response: str, scratch: Path, limit: Optional[float],
             stop: threading.Event) -> Tuple[int, str]:
    """Link with ``response`` in ``root``; (exit status or -1 when killed, output).

    Every error is printed (``--error-limit=0``): a link with inputs left out reports their
    symbols as undefined too, and lld stops at twenty errors, maybe before the one that counts.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    rsp, log = scratch / "response.txt", scratch / "link.log"
    rsp.write_text(response)
    with open(log, "wb") as sink:
        done = process.run([linker, f"@{rsp}", *ALL_ERRORS], cwd=root, stdout=sink,
                           timeout=limit, stop=stop)
    text = log.read_text(errors="replace")
    return (-1 if done.killed_by_us else os.waitstatus_to_exitcode(done.status)), text


def kbuild_command(target: Path) -> Optional[List[str]]:
    """The command kbuild last ran to make ``target``, from its ``.target.cmd`` file
    (``cmd_X := ...``, ``savedcmd_X := ...`` since 6.3), up to the first ``;`` or ``&&``."""
    try:
        text = (target.parent / f".{target.name}.cmd").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        m = re.match(r"(?:saved)?cmd_\S+\s*:=\s*(.*)$", line)
        if not m:
            continue
        try:
            words = shlex.split(m.group(1))
        except ValueError:
            return None
        for i, w in enumerate(words):
            if w in (";", "&&", "||", "|"):
                words = words[:i]
                break
        return words or None
    return None


def earlier_link(link: "Link", keep: Sequence[str], build: Path) -> Optional[Tuple[str, List[str]]]:
    """The input of ``link`` that an earlier ld.lld link of the build made (kbuild's
    ``vmlinux.o``: LTO runs there, in a ``-r`` link, and the final link sees only its ELF
    output), with that link's command; ``None`` when every kept input is a source of its own.

    An input's path in the tarball is its absolute path without the first ``/``."""
    for unit in keep:
        if unit.startswith("-") or is_bitcode(link.root / unit):
            continue
        target = Path("/" + unit)
        try:
            target.relative_to(build)
        except ValueError:
            continue
        argv = kbuild_command(target)
        if not argv or "lld" not in Path(argv[0]).name:
            continue
        return unit, argv
    return None


@dataclass
class Chain:
    """The links a reproducer runs: the failing link, and the earlier link (``first``) that
    made its input ``made``, when the reduction steps back to it. The inputs being reduced are
    the first link's when there is one, else the failing link's (``final_keep`` are the failing
    link's inputs, already reduced)."""

    final: Link
    final_keep: List[str]
    first: Optional[Link] = None
    made: str = ""

    @property
    def reduced(self) -> Link:
        return self.first if self.first is not None else self.final

    def run(self, linker: str, keep: Sequence[str], scratch: Path, limit: Optional[float],
            stop: threading.Event, replace: Optional[Dict[str, str]] = None,
            extra: Sequence[str] = ()) -> Tuple[int, str]:
        """Link ``keep`` (of the reduced link, with ``replace`` and ``extra``); with a first
        link, its output then goes into the failing link in place of ``made``. The output of
        the last link that ran."""
        if self.first is None:
            return run_link(linker, self.final.root,
                            self.final.response(keep, output=str(scratch / "out"),
                                                replace=replace, extra=extra),
                            scratch, limit, stop)
        stage1 = scratch / "stage1.o"
        status, text = run_link(linker, self.first.root,
                                self.first.response(keep, output=str(stage1), replace=replace,
                                                    extra=extra),
                                scratch / "1", limit, stop)
        if status != 0:
            return status, text
        return run_link(linker, self.final.root,
                        self.final.response(self.final_keep, output=str(scratch / "out"),
                                            replace={self.made: str(stage1)}),
                        scratch / "2", limit, stop)


def shows(sig: Signature, text: str, root: Path) -> bool:
    """The judge of a reduced link: the session's failure, at any place (the inputs' names
    are the tarball's)."""
    return sg.shows_anywhere(sig, text, roots=[str(root)])


class _Resolved:
    def __init__(self, cand: FrozenSet[str]) -> None:
        self.candidate = cand


class InputsProblem:
    """What :class:`ltobisect.strategies.ddmin.DDMin` asks of a problem, over a link's inputs.

    ``test(keep)`` links ``keep`` and says whether the failure shows; ``consider_many`` runs
    up to ``workers`` tests at once. ``best`` is the smallest set seen failing;
    ``on_best(best)`` is called when it shrinks (the caller writes it to disk).
    """

    def __init__(self, units: Sequence[str], test: Callable[[FrozenSet[str], int], bool],
                 workers: int, stop: threading.Event,
                 on_best: Callable[[FrozenSet[str]], None],
                 start: Optional[FrozenSet[str]] = None) -> None:
        self.order = {u: i for i, u in enumerate(units)}
        self.best: FrozenSet[str] = frozenset(start if start is not None else units)
        self._test = test
        self._workers = max(1, workers)
        self._stop = stop
        self._on_best = on_best
        self.label = ""

        class _S:
            needs: Dict = {}
        self.structure = _S()

    @property
    def workers(self) -> int:
        return self._workers

    def resolve(self, cand) -> _Resolved:
        return _Resolved(frozenset(cand))

    def consider(self, cand) -> bool:
        return self.consider_many([cand])[0]

    def consider_many(self, cands) -> List[bool]:
        if self._stop.is_set():
            raise Interrupted()
        sets = [frozenset(c) for c in cands]
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            verdicts = list(pool.map(self._test, sets, range(len(sets))))
        if self._stop.is_set():
            raise Interrupted()
        for s, ok in zip(sets, verdicts):
            if ok and len(s) < len(self.best):
                self.best = s
                self._on_best(s)
        return verdicts

    def ordered(self, cand) -> List[str]:
        return sorted(cand, key=lambda u: self.order.get(u, 0))


class Interrupted(Exception):
    """The reduction was asked to stop (Ctrl-C, SIGTERM, its budget)."""


def module_test_script(linker: str, stages: Sequence[Tuple[Path, Path]], judge: Path,
                       best: Path, summary: str = "") -> str:
    """llvm-reduce's test: link the candidate module (its last argument) with the rest, judge
    the output; keep the smallest interesting module in ``best``. ``stages``: (directory,
    response template) of each link in order; the first template names the module
    ``@MODULE@``, a later one the previous link's output ``@STAGE@``. ``summary``: the ``opt``
    that gives the candidate its ThinLTO summary back first (see :func:`thin_module`)."""
    q = sh_quote
    links = []
    if summary:
        links.append(f'{q(summary)} {" ".join(SUMMARY)} "$m" -o "$d/module.bc" >/dev/null 2>&1 '
                     f'|| {{ rm -rf "$d"; exit 1; }}\nm=$d/module.bc')
    for i, (root, template) in enumerate(stages):
        out = "$d/out" if i == len(stages) - 1 else f"$d/stage{i}.o"
        links.append(f'sed -e "s|@MODULE@|$m|" -e "s|@STAGE@|$d/stage{i - 1}.o|" '
                     f'{q(str(template))} >"$d/response{i}.txt"\n'
                     f'(cd {q(str(root))} && {q(linker)} "@$d/response{i}.txt" '
                     f'{" ".join(ALL_ERRORS)} -o "{out}") '
                     f'>"$d/log" 2>&1' + (" || { rm -rf \"$d\"; exit 1; }"
                                          if i < len(stages) - 1 else ""))
    body = "\n".join(links)
    root = stages[-1][0]
    return f"""#!/bin/sh
# llvm-reduce's interestingness test (written by ltobisect): exit 0 when the link of the
# candidate module with the rest of the inputs fails the way the session's build did.
m=$1
case $m in /*) ;; *) m=$PWD/$m ;; esac
d=$(mktemp -d) || exit 2
{body}
python3 {q(str(judge))} --anywhere "$d/log" {q(str(root))} >/dev/null
v=$?
if [ "$v" = 0 ]; then
    size=$(wc -c <"$m")
    old=$(wc -c <{q(str(best))} 2>/dev/null || echo 999999999999)
    if [ "$size" -lt "$old" ]; then
        cp "$m" {q(str(best))}.tmp$$ && mv -f {q(str(best))}.tmp$$ {q(str(best))}
    fi
fi
rm -rf "$d"
[ "$v" = 0 ]
"""
