"""One build in a sandbox: the worker's own O= directory, environment, ccache, limits, log.

This module runs ``make`` (or any command, for the script oracle) and measures it; it knows
nothing about verdicts or strategies. Every process runs in its own process group
(:mod:`ltobisect.process`), so a timeout, a memory limit, :meth:`ProcessGroups.kill_all`
(Ctrl-C) or interpreter exit kills the whole tree.

Isolation: TMPDIR and HOME point into the worker directory. With bubblewrap (``bwrap``) the
build sees the whole file system read-only, the source tree bound read-only, a private ``/tmp``,
no network and its own PID namespace (when its first process dies, the kernel kills the rest);
only the worker directory and the ccache directory are writable. Without bubblewrap the build
still never writes the source: kbuild with ``O=`` writes only the output directory (a test runs
a build against a read-only copy of a tree to prove it).

Peak memory and the memory limit: see :mod:`ltobisect.process`; above the limit the group is
killed and the result says ``oom``.
"""
from __future__ import annotations

import functools
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from . import process
from .config import BuildSpec, Toolchain
from .errors import InfraError, UserError
from .process import Groups
from .logs.lognorm import OWN_LINE_PREFIX

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


@functools.lru_cache(maxsize=None)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create its namespaces here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        code, _out = process.capture(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
             "--unshare-pid", "true"], timeout=30)
    except OSError:
        return False
    return code == 0


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

def ccache_enabled(spec: BuildSpec) -> bool:
    """ccache is used when asked for, installed, and we know the compiler (LLVM= is set)."""
    return Toolchain.of(spec).uses_ccache(spec.use_ccache)


def make_args(spec: BuildSpec, out_dir: Optional[Path]) -> List[str]:
    """make's arguments for this tree (without ``make``, ``-j``, ``-k`` and targets).

    ``-C <tree>``, ``O=<out_dir>`` (omitted for ``None``, to print a generic command), then
    :meth:`Toolchain.make_args`: ``ARCH=``, ``LLVM=``, ``CC="ccache clang-16"`` when ccache is
    used, the user's make variables verbatim. Printable with ``shlex.join(["make",
    *make_args(...)])``: the report's reproduce commands use it.
    """
    args = ["-C", str(spec.tree)]
    if out_dir is not None:
        args.append(f"O={out_dir}")
    return args + Toolchain.of(spec).make_args(ccache=ccache_enabled(spec))


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
        code, out, err = process.outputs(list(argv), timeout=30)
    except OSError as exc:
        return f"unavailable ({exc.__class__.__name__})"
    text = (out or err).strip()
    return text.splitlines()[0] if text else f"unavailable (exit {code})"


def toolchain_versions(spec: BuildSpec) -> Dict[str, str]:
    """First lines of ``--version`` of the compiler, the linker and make, for reports and fingerprints."""
    versions = {label: _first_line(program, "--version")
                for label, program in Toolchain.of(spec).version_programs().items()}
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
    groups: Optional[Groups] = None,
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
        try:
            done = process.run(argv, cwd=cwd, env=env, stdout=log, timeout=timeout,
                               mem_limit=mem_limit, groups=groups)
        except OSError as exc:
            raise InfraError(f"cannot start {argv[0]}: {exc}") from exc
        log.write(
            (f"\n{OWN_LINE_PREFIX} exit={done.exit_code} signal={done.signal} duration={done.duration:.1f}s "
             f"peak_rss={done.peak_rss} timed_out={done.timed_out} oom={done.oom} "
             f"killed_by_us={done.killed_by_us}\n").encode()
        )
    return BuildResult(
        exit_code=done.exit_code, duration=done.duration, peak_rss=done.peak_rss, log_path=log_path,
        timed_out=done.timed_out, signal=done.signal, oom=done.oom, killed_by_us=done.killed_by_us,
        argv=tuple(argv),
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
    groups: Optional[Groups] = None,
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
