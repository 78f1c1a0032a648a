"""LLVM's crash reports in a build log, and what identifies one crash among others.

When clang or ld.lld crashes, LLVM prints what went wrong above its report (an assertion that
failed, an ``LLVM ERROR:`` or clang's ``fatal error: error in backend:``, for a broken module the
verifier's messages) and then the report itself: ``PLEASE submit a bug report``, the program's
arguments, the numbered contexts it was in (the parser's position, ``Running pass ...``) and the
stack. Two crashes at the same object are the same failure only when these agree; LLVM's
maintainers triage by the same text. :func:`crash_at` reads one crash into a
:class:`~ltobisect.model.Signature` whose message carries, in this order of preference:

- the assertion (its condition and source file; the line number is dropped, so a rebuilt LLVM
  still matches), else the ``LLVM ERROR:`` / ``error in backend:`` message, followed for a
  broken module by the verifier's first message; IR values, numbers and numbered suffixes are
  normalized (``%29``, ``i32 1048576``, ``!dbg !12``, ``foo.123``);
- the stage: the LTO kind from the stack (``runRegularLTO``: regular LTO; ``thinBackend``:
  ThinLTO backend) and the innermost step (``lto::opt``: optimization; a legacy ``Running pass
  'X'`` context: code generation (X); a new pass manager's ``Running pass "X"``: optimization
  (X); the parser's position for a front-end crash);
- the signal (abort, segmentation fault, illegal instruction) when nothing else was printed.

The message reads ``crashed in regular LTO optimization: LLVM ERROR: Broken module found
(inlinable function call in a function with debug info must have a !dbg location)``; the tool is
the crashing program (``ld.lld``, ``clang``), the location the front end's source file or the
object make was building. Function names are left out of the stage (a smaller config crashes
the same way in another function).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .lognorm import MAKE_LINE, OWN_LINE_PREFIX, STEP_LINE, normalize_path, normalize_text, tool_name
from .logtools import MAKE_ERROR, make_object
from ..model import Signature, SignatureKind

#: The first line of LLVM's crash report.
PLEASE = re.compile(r"^PLEASE submit a bug report to ")
# "Stack dump without symbol names (ensure you have llvm-symbolizer in your PATH ...):" when
# LLVM could not symbolize (no llvm-symbolizer, or LLVM_DISABLE_SYMBOLIZATION, as llvm-reduce
# sets for its tests); its frames then read "3  libLLVM-16.so.1 0x00007f... name + 54".
_STACK_DUMP = re.compile(r"^Stack dump(?: without symbol names.*)?:\s*$")
_ARGS = re.compile(r"^\s*0\.\s+Program arguments:\s+(?P<prog>\S+)")
_CONTEXT = re.compile(r"^\s*(?P<n>\d+)\.\s+(?P<what>\S.*)$")
_FRAME = re.compile(r"^\s*#(?P<n>\d+)\s+0x[0-9a-fA-F]+\s*(?P<what>.*)$")
_RAW_FRAME = re.compile(r"^\s*(?P<n>\d+)\s+(?P<module>\S+)\s+0x[0-9a-fA-F]+\s*(?P<what>.*)$")
_WHERE = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<what>.*)$")
# "clang-16: /build/llvm/lib/CodeGen/X.cpp:123: void f(): Assertion `c' failed." (the program is
# missing when the assertion is libstdc++'s own, and it quotes 'c' then).
_ASSERTION = re.compile(r"^(?:(?P<prog>[^\s:/][^\s:]*): )?(?P<file>/?[^\s:]+):(?P<line>\d+): "
                        r"(?P<func>.*?):? Assertion [`'](?P<cond>.*)' failed\.?\s*$")
_LLVM_ERROR = re.compile(r"^(?:(?P<prog>[^\s:]+): )?LLVM ERROR: (?P<msg>.*\S)\s*$")
_BACKEND = re.compile(r"^(?:(?P<prog>[^\s:]+): )?(?:fatal error|error): error in backend: (?P<msg>.*\S)\s*$")
# The compiler driver's word on a crashed child, and a shell's on a killed one.
_DRIVER = re.compile(r"^(?P<tool>\S+): error: (?:clang frontend command|linker command|\S+ command) failed "
                     r"(?:with exit code (?P<code>\d+)|due to signal)")
_UNABLE = re.compile(r"^(?P<tool>\S+): error: unable to execute command: (?P<sig>Segmentation fault|Aborted|"
                     r"Illegal instruction|Bus error|Floating point exception)")
_SHELL_SIGNAL = re.compile(r"^(?:/bin/sh: line \d+: )?(?:\d+ )?(?P<sig>Aborted|Segmentation fault|"
                           r"Illegal instruction|Bus error|Floating point exception)(?: \(core dumped\))?(?:\s.*)?$")
#: What the report's reader notes when the compiler driver says its linker failed.
LINKER_CHILD = "<linker>"
#: Signals a crash dies of, by number, as the crash's identity names them.
SIGNALS = {4: "illegal instruction", 6: "abort", 7: "bus error", 8: "floating-point exception",
           11: "segmentation fault"}
_SIGNAL_WORDS = {"aborted": "abort", "segmentation fault": "segmentation fault",
                 "illegal instruction": "illegal instruction", "bus error": "bus error",
                 "floating point exception": "floating-point exception"}

# IR in messages: values, metadata and attribute-group numbers, constants, numbered suffixes.
_IR_VALUE = re.compile(r'%(?!llvm\.)(?:"[^"]*"|[-\w.$]+)')
_IR_META = re.compile(r"!\d+\b")
_IR_ATTRS = re.compile(r"#\d+\b")
_IR_SUFFIX = re.compile(r"([@\w$])\.\d+\b")
_DAG_NODE = re.compile(r"\bt\d+\b")
_NUMBER = re.compile(r"(?<![\w.$%@!#<-])-?\d+(?![\w.])")
# Lines the verifier prints under its message: instructions, values, metadata, types, labels.
_IR_LINE = re.compile(r"^(?:\s|!|;|\}|ptr\b|label\b|void\b|float\b|double\b|i\d+\b|define\b|declare\b|"
                      r"[{\[<%@]|[-\w.$]+:(?:\s|$))")
_TOOL_DIAG = re.compile(r"^\S+: (?:warning|error|note): ")
_VERIFIER_FATAL = ("Broken module found", "Broken function found")


def signal_name(number: int) -> str:
    """``abort`` for 6 (also given as 128 + 6, a shell's exit status); ``signal N`` otherwise."""
    if number > 128:
        number -= 128
    return SIGNALS.get(number, f"signal {number}")


def signal_words(text: str) -> str:
    """A shell's or the driver's word for a signal (``Segmentation fault (core dumped)``) as
    the crash's identity names it (``segmentation fault``)."""
    head = re.sub(r"\s*\(core dumped\)\s*$", "", text.strip()).lower()
    return _SIGNAL_WORDS.get(head, head)


def normalize_ir(text: str, roots: Sequence[str] = ()) -> str:
    """A message of LLVM's with what varies between configs of one crash normalized: IR values
    (``%29`` -> ``%<v>``), metadata and attribute numbers, constants, numbered name suffixes
    (``foo.123`` -> ``foo.<n>``), SelectionDAG node numbers, addresses (and build directories)."""
    text = _IR_VALUE.sub("%<v>", text)
    text = _IR_META.sub("!<n>", text)
    text = _IR_ATTRS.sub("#<n>", text)
    text = _IR_SUFFIX.sub(r"\1.<n>", text)
    text = _DAG_NODE.sub("t<n>", text)
    text = _NUMBER.sub("<n>", text)
    return normalize_text(text, roots)


def _fatal_text(msg: str) -> str:
    """``Broken module found, compilation aborted!`` -> ``Broken module found``."""
    msg = re.sub(r",\s*compilation aborted\b", "", msg.strip())
    return msg.rstrip("!. ")


def _llvm_source(path: str) -> str:
    """An assertion's source file without the build's directories: from LLVM's own top
    directories (``llvm/lib/...``, ``clang/lib/...``) when the path shows them, else its name."""
    m = re.search(r"(?:^|/)((?:llvm|clang|lld|mlir|polly|bolt)/(?:lib|include|tools|ELF|COFF|MachO|wasm)/.*)$",
                  path)
    return m.group(1) if m else path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Crash:
    """What one crash report says, each part normalized (see the module's text)."""

    program: str = ""
    assertion: str = ""  # "Assertion `cond' failed (llvm/lib/X.cpp)"
    error: str = ""  # "LLVM ERROR: Broken module found", "error in backend: Cannot select: ..."
    verifier: str = ""  # the verifier's first message, for a broken module
    lto: str = ""  # "regular LTO", "ThinLTO backend"
    phase: str = ""  # "optimization", "code generation (X86 DAG->DAG Instruction Selection)", ...
    signal: str = ""  # "abort", "segmentation fault"
    source: str = ""  # the front end's source file (``file:line``), when the contexts name one

    @property
    def stage(self) -> str:
        return " ".join(p for p in (self.lto, self.phase) if p)

    @property
    def what(self) -> str:
        what = self.assertion or self.error
        if self.verifier:
            what = f"{what} ({self.verifier})" if what else self.verifier
        return what or self.signal

    @property
    def message(self) -> str:
        """``crashed in <stage>: <what>``: the identity a signature compares."""
        stage, what = self.stage, self.what
        return "crashed" + (f" in {stage}" if stage else "") + (f": {what}" if what else "")


def is_anchor(lines: Sequence[str], i: int) -> bool:
    """Whether a crash starts being reported on line ``i``: LLVM's ``PLEASE submit`` line, a
    ``Stack dump:`` without one (older releases), or an assertion / ``LLVM ERROR:`` / ``error in
    backend:`` line that no crash report follows (a fatal error without the handler's report)."""
    ln = lines[i]
    if PLEASE.match(ln):
        return True
    if _STACK_DUMP.match(ln):
        return not any(PLEASE.match(x) for x in lines[max(0, i - 3):i])
    if _ASSERTION.match(ln) or _LLVM_ERROR.match(ln) or _BACKEND.match(ln):
        return not any(PLEASE.match(x) or _STACK_DUMP.match(x) for x in lines[i + 1:i + 6])
    return False


@dataclass(frozen=True)
class Found:
    """One crash read off a log: its signature, the line it shows first (the assertion or
    fatal-error line above the report, else the report's first line), the line after its
    report (another anchor before it is the same crash: a second thread's words), and the crash
    in words with the program as the build named it (``ld.lld-16 crashed in ...``)."""

    signature: Signature
    first: int
    end: int
    words: str


def crash_at(lines: Sequence[str], i: int, roots: Sequence[str] = (),
             keep_lines: bool = False) -> Found:
    """The crash whose report :func:`is_anchor` found on line ``i``."""
    first = i
    assertion = error = verifier = program = ""
    head = _head(lines, i)
    for j in head:
        a, f, b = _ASSERTION.match(lines[j]), _LLVM_ERROR.match(lines[j]), _BACKEND.match(lines[j])
        if a:
            cond = normalize_text(a.group("cond"), roots)
            assertion = f"Assertion `{cond}' failed ({_llvm_source(a.group('file'))})"
            program = program or (a.group("prog") or "")
        elif f or b:
            m = f or b
            text = _fatal_text(m.group("msg"))
            error = ("LLVM ERROR: " if f else "error in backend: ") + normalize_ir(text, roots)
            program = program or (m.group("prog") or "")
            if f and text.startswith(_VERIFIER_FATAL):
                verifier = _first_verifier_message(lines, j, roots)
        first = min(first, j)
    contexts, frames, prog, signal, output, end = _report(lines, i)
    if prog == LINKER_CHILD:  # the linker the compiler driver ran: lld's or LTO's frames say
        prog = _program_from(frames, lines, first)
        prog = prog if prog != "clang" else "ld"
    named = (prog or program or _program_from(frames, lines, first)).rsplit("/", 1)[-1]
    program = tool_name(named)
    lto = _lto_kind(frames, contexts)
    phase, source = _phase(contexts, frames, roots, keep_lines)
    if not signal:
        signal = _exit_signal(lines, end)
    crash = Crash(program=program, assertion=assertion, error=error, verifier=verifier, lto=lto,
                  phase=phase, signal=signal, source=source)
    location = source or make_object(lines, end, roots) or (normalize_path(output, roots) if output else "")
    sig = Signature(kind=SignatureKind.CRASH, tool=crash.program, message=crash.message,
                    location=location)
    label = named if tool_name(named) == program and named else program
    version = re.search(r"libLLVM-(\d+)|/llvm-(\d+)/", "\n".join(frames) + "\n" + prog)
    if version and label == program:  # the stack shows the release its name did not
        label += "-" + (version.group(1) or version.group(2))
    return Found(sig, first, end, f"{label} {crash.message}")


def _head(lines: Sequence[str], i: int) -> List[int]:
    """The lines just above (and at) line ``i`` that say what crashed, nearest last."""
    out: List[int] = []
    own = lines[i]
    if _ASSERTION.match(own) or _LLVM_ERROR.match(own) or _BACKEND.match(own):
        out.append(i)
    for j in range(i - 1, max(-1, i - 12), -1):
        ln = lines[j]
        if PLEASE.match(ln) or _frame(ln) is not None or MAKE_LINE.match(ln) or ln.startswith(OWN_LINE_PREFIX):
            break
        if _ASSERTION.match(ln) or _LLVM_ERROR.match(ln) or _BACKEND.match(ln):
            out.append(j)
            continue
        if STEP_LINE.match(ln) or not ln.strip():
            continue  # another job's step printed in between
        break
    return sorted(out)


def _block_start(lines: Sequence[str], j: int) -> int:
    """The first line of the uninterrupted text a tool printed above line ``j`` (the verifier's
    messages above its ``Broken module found``): up to a kbuild step, make's or our own line, a
    tool's diagnostic, an earlier crash or a blank line."""
    start = j
    while start > 0 and j - start < 200000:
        ln = lines[start - 1]
        if (STEP_LINE.match(ln) or MAKE_LINE.match(ln) or ln.startswith(OWN_LINE_PREFIX)
                or _TOOL_DIAG.match(ln) or PLEASE.match(ln) or _frame(ln) is not None or not ln.strip()):
            break
        start -= 1
    return start


def _first_verifier_message(lines: Sequence[str], fatal: int, roots: Sequence[str]) -> str:
    """The verifier's first message above the ``Broken module found`` line on ``fatal``."""
    for ln in lines[_block_start(lines, fatal):fatal]:
        if not _IR_LINE.match(ln):
            return normalize_ir(ln.strip(), roots)[:300]
    return ""


def _frame(line: str) -> Optional[str]:
    """One frame of a stack (a symbolized one's text, an unsymbolized one's with its module
    after it, as the symbolized form shows it), or ``None``."""
    m = _FRAME.match(line)
    if m:
        return m.group("what")
    m = _RAW_FRAME.match(line)
    if m:
        return f"{m.group('what')} ({m.group('module')})".lstrip()
    return None


def _report(lines: Sequence[str], i: int) -> Tuple[List[str], List[str], str, str, str, int]:
    """The report from line ``i`` on: its contexts (outermost first), the stack's frames
    (innermost first), the program its arguments name, a signal the driver or a shell printed
    right after it, the output its arguments name (``-o vmlinux.o``) and the line after its
    end."""
    contexts: List[str] = []
    frames: List[str] = []
    prog = signal = output = ""
    j = i + 1
    end = min(len(lines), i + 400)
    while j < end:
        ln = lines[j]
        a = _ARGS.match(ln)
        fr = _frame(ln)
        c = _CONTEXT.match(ln)
        if a:
            prog = a.group("prog")
            out = re.search(r"\s-o\s*(\S+)", ln)
            output = out.group(1) if out else ""
        elif fr is not None:
            frames.append(fr)
        elif c and not frames:
            contexts.append(c.group("what").strip())
        elif _STACK_DUMP.match(ln) or STEP_LINE.match(ln) or PLEASE.match(ln):
            pass  # the heading, another job's step printed in between, a second thread's report
        elif _LLVM_ERROR.match(ln) or _BACKEND.match(ln) or _ASSERTION.match(ln):
            pass  # another thread meeting the same error while this one reported (ThinLTO)
        else:
            d = _DRIVER.match(ln)
            s = _SHELL_SIGNAL.match(ln)
            u = _UNABLE.match(ln)
            if u:  # the driver names the signal its child died of; its summary follows
                signal = signal_words(u.group("sig"))
                prog = prog or u.group("tool")
                j += 1
                continue
            if d:
                code = d.group("code")
                if code and int(code) > 128:
                    signal = signal_name(int(code))
                elif not code:
                    signal = signal or "signal"
                # "linker command failed": the driver's child was the linker, not the driver
                prog = LINKER_CHILD if "linker command" in ln else prog or d.group("tool")
                j += 1
                break
            if s:
                signal = signal_words(s.group("sig"))
                j += 1
            break
        j += 1
    return contexts, frames, prog, signal, output, j


def _program_from(frames: Sequence[str], lines: Sequence[str], first: int) -> str:
    """The crashing program when the report does not name it: lld's or clang's frames, LTO's
    frames (the linker's), else a crash inside a link step is the linker's, anything else the
    compiler's."""
    text = "\n".join(frames)
    if re.search(r"\blld::|/lld\+0x|/ld\.lld", text):
        return "ld.lld"
    if re.search(r"\bclang::|/clang(?:-[\d.]+)?\+0x|cc1_main", text):
        return "clang"
    if re.search(r"\bllvm::lto::", text):
        return "ld.lld"  # LTO's backends run in the linker (a thread's stack shows no lld frame)
    start = _block_start(lines, first)  # above the verifier's output, if any
    for ln in reversed(lines[max(0, start - 40):start]):
        if STEP_LINE.match(ln):
            return "ld.lld" if ln.strip().startswith("LD") else "clang"
    return "clang"


def _lto_kind(frames: Sequence[str], contexts: Sequence[str]) -> str:
    text = "\n".join(frames)
    if re.search(r"\blto::LTO::runRegularLTO\b", text):
        return "regular LTO"
    if re.search(r"\blto::thinBackend\b|InProcessThinBackend|\blto::LTO::runThinLTO\b", text):
        return "ThinLTO backend"
    if any(re.search(r"on module 'ld-temp\.o'", c) for c in contexts):
        return "regular LTO"
    return ""


_PASS = re.compile(r"""^Running pass (?P<q>['"])(?P<name>.*?)(?P=q)(?: on .*)?\.?$""")
_STEP_WORDS = {"code generation": "code generation", "optimizer": "optimization",
               "per-file llvm ir generation": "IR generation", "per-module optimization passes": "optimization"}


def _phase(contexts: Sequence[str], frames: Sequence[str], roots: Sequence[str],
           keep_lines: bool) -> Tuple[str, str]:
    """The innermost step the crash happened in, and the front end's source file if any."""
    source = ""
    files = [m for m in (_WHERE.match(c) for c in contexts) if m]
    if files:
        source = normalize_path(f"{files[0].group('file')}:{files[0].group('line')}", roots, keep_lines)
    for c in reversed(contexts):
        p = _PASS.match(c)
        if p:
            name = normalize_text(p.group("name"), roots)[:120]
            kind = "code generation" if p.group("q") == "'" else "optimization"
            return f"{kind} ({name})", source
        words = _STEP_WORDS.get(c.strip().rstrip(".").lower())
        if words:
            return words, source
        if c.startswith("LLVM IR generation of"):
            return "IR generation", source
    text = "\n".join(frames)
    innermost = re.search(r"\blto::opt\b|\blto::codegen\b|\bsplitCodeGen\b", text)
    if innermost:
        return ("optimization" if innermost.group() == "lto::opt" else "code generation"), source
    if files:
        return f"the front end ({normalize_text(files[0].group('what'), roots)})", source
    if any(c.startswith("<eof> parser at end of file") for c in contexts):
        return "the front end (end of file)", source
    return "", source


def _exit_signal(lines: Sequence[str], start: int) -> str:
    """The signal make's line after a crash names (``Error 134``, ``Aborted (core dumped)``)."""
    for ln in lines[start:start + 200]:
        m = MAKE_ERROR.match(ln)
        if m:
            what = m.group("what")
            code = re.match(r"Error (\d+)$", what)
            if code:
                return signal_name(int(code.group(1))) if int(code.group(1)) > 128 else ""
            word = signal_words(what)
            return word if word in SIGNALS.values() else ""
    return ""


_WHAT = re.compile(r"(?:^|: )(?P<what>(?:Assertion `|LLVM ERROR: |error in backend: ).*)$")
_SIGNAL_END = re.compile(r": (?P<sig>signal(?: \d+)?|" + "|".join(re.escape(v) for v in SIGNALS.values()) + r")$")
_VERIFIED = re.compile(r"^(?P<head>LLVM ERROR: Broken (?:module|function) found) \((?P<verifier>.*)\)$")


def parts(message: str) -> Optional[Tuple[str, str, str, str]]:
    """A crash's message (:attr:`Crash.message`) taken apart: stage, what LLVM printed (the
    assertion or the fatal error), the verifier's first message, the signal. ``None`` for a
    message that is no crash's."""
    if not message.startswith("crashed"):
        return None
    rest, head, verifier, signal = message[len("crashed"):], "", "", ""
    m = _WHAT.search(rest)
    if m:
        head, rest = m.group("what"), rest[:m.start()]
        v = _VERIFIED.match(head)
        if v:
            head, verifier = v.group("head"), v.group("verifier")
    else:
        e = _SIGNAL_END.search(rest)
        if e:
            signal, rest = e.group("sig"), rest[:e.start()]
    stage = rest[len(" in "):] if rest.startswith(" in ") else rest.lstrip(": ")
    return stage, head, verifier, signal


def same_crash(a: str, b: str) -> bool:
    """Whether two crash messages name one crash: what LLVM printed agrees (the assertion, or
    the fatal error and the verifier's first message), else the signal; the stage agrees when
    both logs show one. A crash report can lose its stack: when two ThinLTO backend threads meet
    the error at once, one aborts the process while the other prints (measured on the KCOV
    crash of Linux 6.1), and the stage is then unknown, not another one."""
    if a == b:
        return True
    pa, pb = parts(a), parts(b)
    if pa is None or pb is None:
        return False
    (stage_a, head_a, ver_a, sig_a), (stage_b, head_b, ver_b, sig_b) = pa, pb
    if stage_a and stage_b and stage_a != stage_b:
        return False
    if head_a or head_b:
        return head_a == head_b and (not (ver_a and ver_b) or ver_a == ver_b)
    return not (sig_a and sig_b) or sig_a == sig_b


def printed(message: str) -> str:
    """The text LLVM printed that a crash's identity carries, as far as it survives
    normalization: an assertion's condition, the start of an ``LLVM ERROR:`` / ``error in
    backend:`` message (up to its first normalized part). ``""`` when the identity is only a
    stage and a signal, or a legacy message (see :func:`legacy`)."""
    if legacy(message):
        return ""
    m = re.search(r"Assertion `(.*)' failed \(", message)
    if m:
        return m.group(1)
    m = re.search(r"(?:LLVM ERROR: |error in backend: )(.*)$", message)
    if not m:
        return ""
    head = re.split(r"<n>|<v>|<tmp>|0x<addr>| \(", m.group(0), maxsplit=1)[0].rstrip()
    return head if len(head) > len("LLVM ERROR: ") + 3 else ""


def legacy(message: str) -> bool:
    """Whether a crash message is one ltobisect wrote before crashes had an identity (``crashed``,
    ``crashed: current parser token 'pragma'``): such a signature of a session started then
    matches any crash of its program at its place, as it did when it was written."""
    if message == "crashed":
        return True
    if not message.startswith("crashed: "):
        return False
    rest = message[len("crashed: "):]
    return rest not in SIGNALS.values() and not rest.startswith(("signal", "Assertion `", "LLVM ERROR: ",
                                                                "error in backend: "))
