"""One build in a sandbox: the worker's own O= directory, environment, ccache, limits, log.

This module runs ``make`` (or any command, for the script oracle) and measures it; it knows
nothing about verdicts or strategies. Every process runs in a new process group (session), so a
timeout, a memory limit, :meth:`ProcessGroups.kill_all` (Ctrl-C) or interpreter exit kills the
whole tree: ``make -j`` forks compilers that outlive a plain kill of make.

Isolation: TMPDIR and HOME point into the worker directory. With bubblewrap (``bwrap``) the
build sees the whole file system read-only, the source tree bound read-only, a private ``/tmp``,
no network and its own PID namespace (when its first process dies, the kernel kills the rest);
only the worker directory and the ccache directory are writable. Without bubblewrap the build
still never writes the source: kbuild with ``O=`` writes only the output directory (a test runs
a build against a read-only copy of a tree to prove it).

Peak memory: a sampler polls ``/proc`` every 0.2 s and sums the resident set of every process in
the build's process group; the peak of that sum is the tree's footprint (``make -j2`` runs two
compilers at once). ``resource.getrusage(RUSAGE_CHILDREN)`` is no use here: it is cumulative over
every child this Python process ever reaped and its ``ru_maxrss`` is the largest single process,
not a sum. We also take ``os.wait4``'s ``ru_maxrss`` of the build (the largest single process of
this build's tree, exact even for a spike shorter than the poll interval, e.g. a linker) and
report the larger of the two. The optional memory limit is enforced by the same sampler (no
cgroups needed): above the limit the group is killed and the result says ``oom``.
"""
from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set

from .config import BuildSpec
from .errors import InfraError, UserError
from .signature import OWN_LINE_PREFIX

#: Seconds between SIGTERM and SIGKILL when a group is killed; the whole kill takes < 5 s.
TERM_GRACE = 1.5
#: Seconds between two samples of the process group's memory.
SAMPLE_INTERVAL = 0.2

#: Environment variables kbuild or make would read from the caller's environment; dropped so
#: that every build (and its reproduce command) depends only on the BuildSpec.
_SCRUB = (
    "ARCH", "SUBARCH", "CROSS_COMPILE", "LLVM", "LLVM_IAS", "CC", "CXX", "LD", "AR", "NM",
    "OBJCOPY", "OBJDUMP", "STRIP", "HOSTCC", "HOSTCXX", "HOSTCFLAGS", "HOSTLDFLAGS", "KCFLAGS",
    "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "CFLAGS", "CPPFLAGS", "LDFLAGS", "O", "V", "W", "C",
    "M", "MAKEFLAGS", "MAKEOVERRIDES", "MAKELEVEL", "MFLAGS", "GNUMAKEFLAGS", "MAKEFILES",
    "USERCFLAGS", "USERLDFLAGS", "LOCALVERSION", "INSTALL_PATH", "INSTALL_MOD_PATH",
    "CCACHE_DISABLE", "CCACHE_PREFIX", "CCACHE_RECACHE", "CCACHE_READONLY",
)
_SCRUB_PREFIXES = ("KBUILD_", "KCONFIG_", "CCACHE_")


@dataclass(frozen=True)
class BuildResult:
    """What one build (or script run) did and what it cost.

    ``exit_code`` is make's exit status (``None`` when it died of a signal, then ``signal`` says
    which). ``timed_out`` and ``oom`` say we killed it for the wall-clock or the memory limit;
    ``killed_by_us`` is true for those and for :meth:`ProcessGroups.kill_all` (Ctrl-C, exit).
    ``peak_rss`` is in bytes (see the module docstring for how it is measured).
    """

    exit_code: Optional[int]
    duration: float
    peak_rss: Optional[int]
    log_path: Path
    timed_out: bool = False
    signal: Optional[int] = None
    oom: bool = False
    killed_by_us: bool = False
    argv: tuple = ()

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed_by_us

    def log_text(self) -> str:
        """The build's log (decoded leniently: compilers may quote source bytes)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class ProcessGroups:
    """The process groups running now, so that they can all be killed from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: Set[int] = set()
        self._killed: Set[int] = set()
        self._closed = False

    def add(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)
            if self._closed:
                self._killed.add(pgid)
        if self._closed:
            kill_group(pgid)

    def discard(self, pgid: int) -> None:
        """Forget a finished group (its id may be reused by a later process)."""
        with self._lock:
            self._groups.discard(pgid)
            self._killed.discard(pgid)

    def was_killed(self, pgid: int) -> bool:
        with self._lock:
            return pgid in self._killed

    @property
    def closed(self) -> bool:
        return self._closed

    def kill_all(self, close: bool = True) -> None:
        """Kill every running group (TERM, then KILL); with ``close`` later ones die at start."""
        with self._lock:
            if close:
                self._closed = True
            groups = list(self._groups)
            self._killed.update(groups)
        threads = [threading.Thread(target=kill_group, args=(g,), daemon=True) for g in groups]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TERM_GRACE + 3)


#: Every group started by this module, killed at interpreter exit.
_ALL = ProcessGroups()
atexit.register(_ALL.kill_all)


def _group_members(pgid: int) -> Dict[int, int]:
    """pid -> resident bytes of every live process whose process group is ``pgid``."""
    page = os.sysconf("SC_PAGE_SIZE")
    out: Dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        # fields after "(comm)": state ppid pgrp session ... rss is field 24 overall = rest[21]
        if len(rest) > 21 and rest[2] == str(pgid) and rest[0] != "Z":
            out[int(name)] = int(rest[21]) * page
    return out


def kill_group(pgid: int, grace: float = TERM_GRACE) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not _group_members(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@functools.lru_cache(maxsize=None)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create its namespaces here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        probe = subprocess.run(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid", "true"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def use_bwrap(spec: BuildSpec) -> bool:
    """Whether builds of ``spec`` run under bubblewrap (``sandbox``: auto, bwrap, none)."""
    if spec.sandbox == "none":
        return False
    if spec.sandbox == "bwrap":
        if not bwrap_works():
            raise UserError("sandbox 'bwrap' asked for, but bubblewrap is missing or cannot run here",
                            hint="install bubblewrap or use --sandbox auto/none")
        return True
    if spec.sandbox != "auto":
        raise UserError(f"unknown sandbox {spec.sandbox!r}", hint="auto, bwrap or none")
    return bwrap_works()


def bwrap_prefix(readonly: Sequence[Path], writable: Sequence[Path], cwd: Path) -> List[str]:
    """bubblewrap arguments: all read-only, private /tmp, no network, own PID namespace."""
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for p in readonly:
        argv += ["--ro-bind", str(p), str(p)]
    for p in writable:
        argv += ["--bind", str(p), str(p)]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--chdir", str(cwd), "--"]
    return argv


# --- the make command ------------------------------------------------------------------------

def _llvm_tool(spec: BuildSpec, name: str) -> str:
    """The LLVM binary the kernel's LLVM= setting selects (``clang-16``, ``/opt/llvm/bin/clang``)."""
    llvm = spec.llvm or ""
    if llvm.endswith("/"):
        return f"{llvm}{name}"
    if llvm.startswith("-"):
        return f"{name}{llvm}"
    return name


def ccache_enabled(spec: BuildSpec) -> bool:
    """ccache is used when asked for, installed, and we know the compiler (LLVM= is set)."""
    return spec.use_ccache and spec.llvm is not None and shutil.which("ccache") is not None


def _user_sets(spec: BuildSpec, var: str) -> bool:
    return any(v.split("=", 1)[0].strip() == var for v in spec.make_vars)


def make_args(spec: BuildSpec, out_dir: Optional[Path]) -> List[str]:
    """make's arguments for this tree (without ``make``, ``-j``, ``-k`` and targets).

    ``-C <tree>``, ``O=<out_dir>`` (omitted for ``None``, to print a generic command), then
    ``ARCH=``, ``LLVM=``, ``CC="ccache clang-16"`` when ccache is used (the same CC for
    ``olddefconfig`` and the build, or kbuild re-runs syncconfig), then the user's make
    variables verbatim. Printable with ``shlex.join(["make", *make_args(...)])``: the report's
    reproduce commands use it.
    """
    args = ["-C", str(spec.tree)]
    if out_dir is not None:
        args.append(f"O={out_dir}")
    if spec.arch:
        args.append(f"ARCH={spec.arch}")
    if spec.llvm is not None:
        args.append(f"LLVM={spec.llvm}")
        if ccache_enabled(spec) and not _user_sets(spec, "CC"):
            args.append(f"CC=ccache {_llvm_tool(spec, 'clang')}")
    for var in spec.make_vars:
        if "=" not in var or var.startswith("-"):
            raise UserError(f"make variable {var!r} is not VAR=VALUE", hint="e.g. W=1 or KCFLAGS=-O1")
        args.append(var)
    return args


def make_command(spec: BuildSpec, out_dir: Path, targets: Sequence[str], jobs: int) -> List[str]:
    """The full make command line of a build."""
    argv = ["make", *make_args(spec, out_dir)]
    if spec.keep_going:
        argv.append("-k")
    argv.append(f"-j{max(1, jobs)}")
    return argv + list(targets)


def reproduce_command(spec: BuildSpec, out_dir: Path, targets: Sequence[str] = (), jobs: Optional[int] = None) -> str:
    """A shell line that reproduces a build, for reports."""
    return shlex.join(make_command(spec, out_dir, targets, jobs or (os.cpu_count() or 1)))


@functools.lru_cache(maxsize=None)
def _first_line(*argv: str) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else f"unavailable (exit {out.returncode})"


def toolchain_versions(spec: BuildSpec) -> Dict[str, str]:
    """First lines of ``--version`` of the compiler, the linker and make, for reports and fingerprints."""
    versions: Dict[str, str] = {}
    if spec.llvm is not None:
        versions["clang"] = _first_line(_llvm_tool(spec, "clang"), "--version")
        versions["ld.lld"] = _first_line(_llvm_tool(spec, "ld.lld"), "--version")
    else:
        cc = next((v.split("=", 1)[1] for v in spec.make_vars if v.startswith("CC=")), "cc")
        versions["cc"] = _first_line(*shlex.split(cc)[-1:], "--version")
    versions["make"] = _first_line("make", "--version")
    return versions


def build_env(spec: Optional[BuildSpec], sandbox_root: Path, extra: Optional[Mapping[str, str]] = None,
              ccache_dir: Optional[Path] = None) -> Dict[str, str]:
    """The environment of a build: the caller's, minus what kbuild would read, plus ours."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(_SCRUB_PREFIXES)}
    env.update(
        TMPDIR=str(sandbox_root / "tmp"),
        HOME=str(sandbox_root / "home"),
        LC_ALL="C",
        LANG="C",
        KBUILD_BUILD_USER="ltobisect",
        KBUILD_BUILD_HOST="ltobisect",
        KBUILD_BUILD_TIMESTAMP="1970-01-01",
    )
    # Kconfig's probes ran with the user's HOME; a rustup-managed rustc finds its toolchains
    # through it. Point rustup at them, or the build's conf sees no Rust (RUSTC_VERSION=0) and
    # builds another config than the one resolved.
    home = os.environ.get("HOME")
    for var, sub in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
        if home and var not in env and (Path(home) / sub).is_dir():
            env[var] = str(Path(home) / sub)
    if spec is not None and ccache_dir is not None and ccache_enabled(spec):
        env["CCACHE_DIR"] = str(ccache_dir)
        env["CCACHE_NOHASHDIR"] = "true"
        base = os.path.commonpath([str(Path(spec.tree).resolve()), str(sandbox_root.resolve())])
        if base != "/":
            env["CCACHE_BASEDIR"] = base
    if extra:
        env.update(extra)
    return env


# --- running ---------------------------------------------------------------------------------

def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: Optional[float],
    mem_limit: Optional[int],
    log_path: Path,
    groups: Optional[ProcessGroups] = None,
    header: str = "",
) -> BuildResult:
    """Run ``argv`` in its own process group with its output in ``log_path``; measure and bound it.

    Raises :class:`InfraError` when the log cannot be written or the program cannot start.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        log = open(log_path, "wb")
    except OSError as exc:
        raise InfraError(f"cannot write build log {log_path}: {exc}") from exc
    with log:
        log.write(f"{OWN_LINE_PREFIX} {header or shlex.join(argv)}\n".encode())
        log.flush()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv), cwd=str(cwd), env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise InfraError(f"cannot start {argv[0]}: {exc}") from exc
        pgid = proc.pid
        _ALL.add(pgid)
        if groups is not None:
            groups.add(pgid)
        timed_out = oom = False
        sampled_peak = 0
        status = None
        rusage = None
        try:
            deadline = None if timeout is None else start + timeout
            while True:
                pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    status, rusage = st, ru
                    break
                total = sum(_group_members(pgid).values())
                sampled_peak = max(sampled_peak, total)
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    timed_out = True
                    break
                if mem_limit is not None and total > mem_limit:
                    oom = True
                    break
                time.sleep(SAMPLE_INTERVAL)
        finally:
            if status is None:
                kill_group(pgid)
                _, status, rusage = os.wait4(proc.pid, 0)
            else:
                # The leader exited; children that ignored it (rare) must not outlive the build.
                if _group_members(pgid):
                    kill_group(pgid, grace=0.5)
            proc.returncode = os.waitstatus_to_exitcode(status)
            killed = timed_out or oom or (groups is not None and groups.was_killed(pgid)) or _ALL.was_killed(pgid)
            _ALL.discard(pgid)
            if groups is not None:
                groups.discard(pgid)
        duration = time.monotonic() - start
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        peak = max(sampled_peak, (rusage.ru_maxrss * 1024) if rusage is not None else 0) or None
        log.write(
            (f"\n{OWN_LINE_PREFIX} exit={exit_code} signal={sig} duration={duration:.1f}s "
             f"peak_rss={peak} timed_out={timed_out} oom={oom} killed_by_us={killed}\n").encode()
        )
    return BuildResult(
        exit_code=exit_code, duration=duration, peak_rss=peak, log_path=log_path, timed_out=timed_out,
        signal=sig, oom=oom, killed_by_us=killed, argv=tuple(argv),
    )


def run_make(
    spec: BuildSpec,
    out_dir: Path,
    targets: Sequence[str],
    *,
    jobs: int,
    timeout: Optional[float],
    mem_limit: Optional[int],
    log_path: Path,
    env_extra: Optional[Mapping[str, str]] = None,
    sandbox_root: Path,
    ccache_dir: Optional[Path] = None,
    groups: Optional[ProcessGroups] = None,
) -> BuildResult:
    """Build ``targets`` of ``spec.tree`` into ``out_dir`` in the sandbox rooted at ``sandbox_root``.

    ``sandbox_root`` (the worker directory) gets ``tmp/`` and ``home/`` for TMPDIR and HOME.
    ``ccache_dir`` is the ccache directory (the oracle passes ``spec.ccache_dir`` or the state
    directory's); ``None`` leaves ccache its default, under HOME, i.e. inside the worker.
    ``groups`` lets the caller kill running builds from another thread. An empty ``targets``
    builds make's default goal. Never retries: the caller decides.
    """
    tree = Path(spec.tree).resolve()
    out_dir = Path(out_dir).resolve()
    sandbox_root = Path(sandbox_root).resolve()
    if not (tree / "Makefile").is_file():
        raise UserError(f"no Makefile in the tree {tree}")
    if out_dir == tree or tree in out_dir.parents:
        raise UserError(f"the output directory {out_dir} is inside the source tree {tree}",
                        hint="builds never write the source: use a directory outside it")
    for sub in (out_dir, sandbox_root / "tmp", sandbox_root / "home"):
        try:
            sub.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InfraError(f"cannot create {sub}: {exc}") from exc
    if ccache_dir is not None:
        Path(ccache_dir).mkdir(parents=True, exist_ok=True)
    spec_resolved = BuildSpec(**{**spec.__dict__, "tree": tree})
    argv = make_command(spec_resolved, out_dir, targets, jobs)
    env = build_env(spec_resolved, sandbox_root, env_extra, Path(ccache_dir).resolve() if ccache_dir else None)
    header = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("CCACHE_DIR",) if k in env) + " " + shlex.join(argv)
    run_argv: List[str] = list(argv)
    if use_bwrap(spec):
        writable = [sandbox_root] + ([out_dir] if sandbox_root not in out_dir.parents and out_dir != sandbox_root else [])
        if ccache_dir is not None and ccache_enabled(spec):
            writable.append(Path(ccache_dir).resolve())
        run_argv = bwrap_prefix([tree], writable, out_dir) + run_argv
    return run_process(
        run_argv, cwd=out_dir, env=env, timeout=timeout, mem_limit=mem_limit, log_path=log_path,
        groups=groups, header=header.strip(),
    )


def sandbox_failed(result: BuildResult) -> Optional[str]:
    """bubblewrap's own error (sandbox setup failed), or ``None``."""
    text = result.log_text()
    for ln in text.splitlines()[1:4]:
        if ln.startswith("bwrap: "):
            return ln
    return None
