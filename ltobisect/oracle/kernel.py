"""KernelOracle: build a resolved config and judge its log by a signature."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..logs import signature as sigmod
from ..build import BuildResult, make_args, make_command, run_make, sandbox_failed, toolchain_versions
from ..config import BuildSpec, user_ccache_dir
from ..confcheck import check_build
from ..errors import InfraError, UserError
from ..logs.lognorm import STEP_LINE
from ..logs.kinds import MEASURED_KINDS, make_targets
from ..model import Outcome, Resolved, Signature, SignatureKind, Verdict
from .common import Shared, infra_outcome, new_log, write_if_changed


def is_kbuild(tree: Path) -> bool:
    """Whether ``tree`` is built by kbuild (directory targets such as ``fs/`` work)."""
    return (Path(tree) / "scripts" / "Makefile.build").is_file()


def targets_for(spec: BuildSpec, sig: Optional[Signature]) -> List[str]:
    """The make targets that test for ``sig`` (empty: make's default goal).

    The user's ``spec.target`` wins. On a kbuild tree, the failure's kind says
    (:func:`ltobisect.logs.kinds.make_targets`: a compile error builds its file's directory, a
    link failure ``vmlinux``, a Kconfig warning ``olddefconfig``); a tree without kbuild builds
    its default goal.
    """
    if spec.target:
        return shlex.split(spec.target)
    if not is_kbuild(spec.tree):
        return []
    return make_targets(sig)


def makefile_hash(tree: Path) -> str:
    """What identifies a tree's version cheaply: its top Makefile's hash ("" without one)."""
    try:
        return hashlib.sha256((Path(tree) / "Makefile").read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def _tree_identity(tree: Path) -> str:
    """What identifies the tree's content cheaply: the top Makefile's hash (version) and path."""
    return f"{Path(tree).resolve()}@{makefile_hash(tree) or 'no-makefile'}"


#: How many more rounds a build stopped by a derived timeout may run while it makes new objects.
MAX_CONTINUES = 8
def _steps(text: str) -> set:
    """The targets a build log shows kbuild making (its step lines)."""
    return {m.group("target") for m in map(STEP_LINE.match, text.splitlines()) if m}


def _classify(
    result: BuildResult,
    sig: Optional[Signature],
    roots: Sequence[str],
    timeout: Optional[float],
    mem_limit: Optional[int],
    keep_lines: bool,
) -> Outcome:
    """Apply the verdict rules of the module docstring to one finished build."""
    common = dict(duration=result.duration, peak_rss=result.peak_rss, log_path=str(result.log_path),
                  exit_code=result.exit_code)
    bwrap_error = sandbox_failed(result)
    if bwrap_error:
        return infra_outcome(f"sandbox setup failed: {bwrap_error}", result)
    if result.killed_by_us and not (result.timed_out or result.oom):
        return infra_outcome("interrupted (the oracle was closed)", result)
    text = result.log_text()
    if result.signal is not None and not result.killed_by_us:
        return infra_outcome(f"make was killed by signal {result.signal}, which we did not send", result)
    if sig is not None and sigmod.matches(sig, text, roots=roots, peak_rss=result.peak_rss,
                                          duration=result.duration, keep_lines=keep_lines or None):
        return Outcome(verdict=Verdict.REPRODUCES, signature=sig, detail=sig.describe(), **common)
    if result.timed_out:
        limit = f"{timeout:.0f} s" if timeout is not None else "the limit"
        tsig = Signature(kind=SignatureKind.TIMEOUT, message=f"no result within {limit}")
        return Outcome(verdict=Verdict.TIMEOUT, signature=tsig, detail=tsig.message, **common)
    if result.oom:
        msig = Signature(kind=SignatureKind.MEMORY, threshold=float(mem_limit) if mem_limit else None)
        return Outcome(verdict=Verdict.OUT_OF_MEMORY, signature=msig, detail=f"killed at the memory limit ({msig.describe()})",
                       **common)
    if sigmod.disk_full(text):
        return infra_outcome("no space left on device (or quota exceeded) during the build", result)
    return _unmatched(text, result.exit_code, roots, keep_lines, common)


def _unmatched(text: str, exit_code: Optional[int], roots: Sequence[str], keep_lines: bool,
               common: dict) -> Outcome:
    """The verdict of a finished build whose log does not show the signature: it passed, the
    OOM killer stopped a tool, or it failed another way (with that failure's signature)."""
    if exit_code == 0:
        return Outcome(verdict=Verdict.PASSES, detail="build succeeded", **common)
    found = sigmod.extract(text, roots=roots, keep_lines=keep_lines)
    if found is None:
        found = Signature(kind=SignatureKind.MAKE, tool="make", message=f"exit {exit_code} without a recognized error")
    if found.kind == SignatureKind.KILLED and "signal 9" in found.message:
        return Outcome(verdict=Verdict.OUT_OF_MEMORY, signature=found, detail=found.describe(), **common)
    return Outcome(verdict=Verdict.OTHER_FAILURE, signature=found, detail=found.describe(), **common)


class KernelOracle:
    """Build a resolved config in the slot's worker directory and judge the log by a signature.

    ``memory_threshold`` (bytes) and ``duration_threshold`` (seconds) are signatures of their
    own ("the build needs more than X", "takes longer than X"); give at most one of
    ``signature``, ``memory_threshold``, ``duration_threshold``. ``workers`` sizes ``-j`` when
    ``spec.jobs`` is 0 (cores / workers). ``keep_lines`` keeps line numbers in signatures.
    Also builds a non-kernel Kconfig project whose Makefile takes ``O=`` and reads ``$(O)/.config``
    (``arch``/``llvm`` ``None``: no ARCH=, LLVM=, CC=, default goal unless a target is given).
    """

    def __init__(
        self,
        spec: BuildSpec,
        state_dir: Path,
        *,
        signature: Optional[Signature] = None,
        timeout: Optional[float] = None,
        mem_limit: Optional[int] = None,
        memory_threshold: Optional[int] = None,
        duration_threshold: Optional[float] = None,
        workers: int = 1,
        keep_lines: bool = False,
        timeout_derived: bool = False,
    ) -> None:
        given = [x for x in (signature, memory_threshold, duration_threshold) if x is not None]
        if len(given) > 1:
            raise UserError("give one of a signature, a memory threshold or a duration threshold")
        if memory_threshold is not None:
            signature = sigmod.memory_above(memory_threshold)
        elif duration_threshold is not None:
            signature = sigmod.duration_above(duration_threshold)
        if not (Path(spec.tree) / "Makefile").is_file():
            raise UserError(f"no Makefile in the tree {spec.tree}", hint="give the kernel source directory")
        make_args(spec, None)  # validates the make variables now, not at the first build
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.signature = signature
        self.timeout = timeout
        self.mem_limit = mem_limit
        self.workers = max(1, workers)
        self.keep_lines = keep_lines
        self.timeout_derived = timeout_derived
        self.target_override: Optional[Tuple[str, ...]] = None
        self._shared = Shared()

    # --- identity -------------------------------------------------------------------------

    def fingerprint(self, judged: bool = True) -> str:
        """Hash of tree identity, toolchain versions, make arguments, targets and signature
        (without the signature when not ``judged``: see :meth:`build_key`)."""
        spec = replace(self.spec, use_ccache=False, jobs=0)
        data = {
            "oracle": "kernel",
            "tree": _tree_identity(spec.tree),
            "toolchain": toolchain_versions(spec),
            "make_args": make_args(spec, None),
            "keep_going": spec.keep_going,
            "targets": self.targets(),
            "signature": self.signature.to_json() if self.signature and judged else None,
            "keep_lines": self.keep_lines,
        }
        if not judged:
            data["build"] = True
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]

    # --- copies ---------------------------------------------------------------------------

    def with_signature(self, sig: Signature) -> "KernelOracle":
        """A copy judging by ``sig`` (sharing workers, locks and running builds)."""
        other = copy.copy(self)
        other.signature = sig
        return other

    def with_timeout(self, seconds: Optional[float]) -> "KernelOracle":
        """A copy with another per-test wall-clock limit."""
        other = copy.copy(self)
        other.timeout = seconds
        return other

    def with_targets(self, targets: Optional[Sequence[str]]) -> "KernelOracle":
        """A copy building ``targets`` whatever the signature (``None``: the signature's own)."""
        other = copy.copy(self)
        other.target_override = tuple(targets) if targets is not None else None
        return other

    # --- paths ----------------------------------------------------------------------------

    def worker_dir(self, slot: int) -> Path:
        return self.state_dir / "workers" / str(slot)

    def out_dir(self, slot: int) -> Path:
        """The persistent O= directory of a slot."""
        return self.worker_dir(slot) / "out"

    @property
    def ccache_dir(self) -> Path:
        """The spec's, else the user's."""
        return Path(self.spec.ccache_dir) if self.spec.ccache_dir else user_ccache_dir()

    @property
    def jobs(self) -> int:
        return self.spec.jobs or max(1, (os.cpu_count() or 1) // self.workers)

    def targets(self, sig: Optional[Signature] = None) -> List[str]:
        """The make targets of a test judged by ``sig`` (default: this oracle's signature, or
        the targets :meth:`with_targets` set)."""
        if sig is None and self.target_override is not None:
            return list(self.target_override)
        return targets_for(self.spec, sig if sig is not None else self.signature)

    def build_key(self) -> str:
        """What makes two builds of one config the same build: the fingerprint without the
        signature (tree, toolchain, make arguments, targets)."""
        return self.fingerprint(judged=False)

    def roots(self, slot: int) -> List[str]:
        """Prefixes stripped from paths in logs: the O= directory and the tree, as given and resolved."""
        paths = {str(self.out_dir(slot)), str(self.out_dir(slot).resolve()), str(Path(self.spec.tree)),
                 str(Path(self.spec.tree).resolve()), str(self.worker_dir(slot).resolve())}
        # kbuild may name the tree relative to the O= directory (../../../src/init/main.c).
        relative = os.path.relpath(Path(self.spec.tree).resolve(), self.out_dir(slot).resolve())
        if relative.startswith(".."):
            paths.add(relative)
        return sorted(paths, key=len, reverse=True)

    def reproduce_command(self, targets: Optional[Sequence[str]] = None, out_dir: str = "<build-dir>") -> str:
        """The make command of a test, for reports (O= given as ``out_dir``)."""
        tg = list(targets) if targets is not None else self.targets()
        return shlex.join(make_command(self.spec, Path(out_dir), tg, self.jobs))

    # --- tests ----------------------------------------------------------------------------

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        """Build this oracle's targets and report what failed, if anything (judged by nothing).

        Without a signature (the usual first build of a bad config) that is make's default goal
        or the user's target; with one known beforehand (taken from the user's log) it is the
        target that failure needs, so the first build is as cheap as the tests.
        """
        return self._run(resolved, slot, None, self.targets())

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]:
        """The verdict of an already finished build of the same targets, under this signature.

        A build's log answers every signature: ``--each-failure`` searches reuse each other's
        builds this way. ``None`` when the build did not finish (timeout, memory, infra) or its
        log is gone; then the config must be built again.
        """
        if outcome.verdict not in (Verdict.REPRODUCES, Verdict.PASSES, Verdict.OTHER_FAILURE):
            return None
        if not outcome.log_path:
            return None
        sig = self.signature
        if sig is not None and sig.kind in MEASURED_KINDS:
            return None
        try:
            text = Path(outcome.log_path).read_text(errors="replace")
        except OSError:
            return None
        if sig is None:
            return outcome
        roots = sorted({r for slot in range(self.workers) for r in self.roots(slot)}, key=len, reverse=True)
        common = dict(duration=outcome.duration, peak_rss=outcome.peak_rss, log_path=outcome.log_path,
                      exit_code=outcome.exit_code, conf=outcome.conf)
        if sigmod.matches(sig, text, roots=roots, keep_lines=self.keep_lines or None):
            return Outcome(verdict=Verdict.REPRODUCES, signature=sig, detail=sig.describe(), **common)
        exit_code = 0 if outcome.verdict is Verdict.PASSES else outcome.exit_code
        return _unmatched(text, exit_code, roots, self.keep_lines, common)

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        """Build the targets for this oracle's signature and judge the log against it."""
        return self._run(resolved, slot, self.signature, self.targets())

    def _run(self, resolved: Resolved, slot: int, sig: Optional[Signature], targets: List[str]) -> Outcome:
        if self._shared.groups.closed:
            return infra_outcome("the oracle is closed")
        timeout = self.timeout
        mem_limit = self.mem_limit
        if sig is not None and sig.kind == SignatureKind.DURATION and sig.threshold is not None:
            # Past the threshold the answer is known: stop the build there.
            stop = sig.threshold + 1.0
            timeout = stop if timeout is None else min(timeout, stop)
        if sig is not None and sig.kind == SignatureKind.MEMORY and sig.threshold is not None:
            stop_at = int(sig.threshold)
            mem_limit = stop_at if mem_limit is None else min(mem_limit, stop_at)
        with self._shared.slot_lock(slot):
            try:
                out = self.out_dir(slot)
                out.mkdir(parents=True, exist_ok=True)
                write_if_changed(out / ".config", resolved.config_text)
                log = new_log(self.state_dir / "logs", resolved.digest)
                result = self._make(out, targets, timeout, mem_limit, log, slot,
                                    self.timeout_derived and timeout == self.timeout)
                # Read under the slot's lock: the next build of this slot rewrites the file.
                conf = check_build(out / ".config", resolved.config_text)
            except InfraError as exc:
                return infra_outcome(str(exc))
            except OSError as exc:
                return infra_outcome(f"{exc.__class__.__name__}: {exc}")
        outcome = _classify(result, sig, self.roots(slot), timeout, mem_limit, self.keep_lines)
        if (outcome.verdict is Verdict.OUT_OF_MEMORY and sig is not None and sig.kind == SignatureKind.MEMORY):
            outcome = replace(outcome, verdict=Verdict.REPRODUCES, signature=sig, detail=sig.describe())
        if conf is not None and outcome.verdict.is_final:
            outcome = replace(outcome, conf=conf)
        return outcome

    def _make(self, out: Path, targets: List[str], timeout: Optional[float], mem_limit: Optional[int],
              log: Path, slot: int, may_continue: bool) -> BuildResult:
        """One test's build. A build stopped by a derived timeout (``may_continue``) that was
        still making new objects continues in its output directory, where make resumes, up to
        :data:`MAX_CONTINUES` more times: the timeout came from one build, maybe from a warm
        ccache, and a config of new objects builds slower. A build that makes nothing new in a
        round (a link that never ends) times out. The rounds' logs go into ``log``, in order."""
        result = run_make(self.spec, out, targets, jobs=self.jobs, timeout=timeout, mem_limit=mem_limit,
                          log_path=log, sandbox_root=self.worker_dir(slot), ccache_dir=self.ccache_dir,
                          groups=self._shared.groups.tagged(slot))
        seen = _steps(result.log_text())
        for n in range(1, MAX_CONTINUES + 1):
            if not (may_continue and result.timed_out and not self._shared.groups.closed):
                break
            part = log.with_name(f"{log.stem}.{n}{log.suffix}")
            more = run_make(self.spec, out, targets, jobs=self.jobs, timeout=timeout, mem_limit=mem_limit,
                            log_path=part, sandbox_root=self.worker_dir(slot), ccache_dir=self.ccache_dir,
                            groups=self._shared.groups.tagged(slot))
            text = more.log_text()
            with open(log, "a", encoding="utf-8", errors="replace") as whole:
                whole.write(f"{sigmod.OWN_LINE_PREFIX} the build ran past {timeout:.0f} s still making new "
                            f"objects: continued (round {n + 1})\n{text}")
            part.unlink(missing_ok=True)
            new = _steps(text) - seen
            seen |= new
            peak = max([p for p in (result.peak_rss, more.peak_rss) if p is not None], default=None)
            result = replace(more, duration=result.duration + more.duration, peak_rss=peak, log_path=log)
            if more.timed_out and not new:
                break  # nothing new in a whole round: it hangs
        return result

    def close(self) -> None:
        """Kill every running build of this oracle and its copies; later tests give INFRA_ERROR."""
        self._shared.groups.kill_all(close=True)

    def cancel(self, slot: int) -> None:
        """Kill the build running in ``slot`` (a build started ahead that is no longer wanted);
        its outcome is not a verdict. Later builds run as usual."""
        self._shared.groups.kill_tagged(slot)
