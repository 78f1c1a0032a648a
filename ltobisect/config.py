"""Frozen settings of a session, built by the CLI (or a test) and read by every layer.

Also the kernel knowledge these settings carry, written once: the named baselines, what a Linux
tree is, and :class:`Toolchain` (LLVM=, ARCH= and the make variables -> tool names and make
arguments).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ltobisect import process
from ltobisect.errors import UserError

#: The baselines a tree computes itself (anything else names a config file).
BASELINES = ("defconfig", "tinyconfig", "allnoconfig")
#: The kernel Makefile's ARCH names that live under another arch/ directory (SRCARCH).
ARCH_ALIASES = {"x86_64": "x86", "i386": "x86", "sparc32": "sparc", "sparc64": "sparc",
                "parisc64": "parisc", "sh64": "sh"}


def cache_home() -> Path:
    """ltobisect's cache directory of this user: ``$LTOBISECT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/ltobisect``, else ``~/.cache/ltobisect``."""
    own = os.environ.get("LTOBISECT_CACHE_DIR")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ltobisect"


def default_work_dir(state_dir: Path) -> Path:
    """The work directory of the session whose artifacts go to ``state_dir`` when no
    ``--work-dir`` is given: one per state directory, under :func:`cache_home`."""
    where = Path(state_dir).resolve()
    key = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", where.name)[:40] or "state"
    return cache_home() / "work" / f"{name}-{key}"


def user_ccache_dir() -> Path:
    """The ccache every session of this user shares unless told otherwise: ``$CCACHE_DIR``, else
    the directory ccache itself uses (ccache >= 4 reports it), else ``~/.cache/ccache``.

    Builds run with a HOME of their own (``build.build_env``), so ccache's default cannot be
    left to ccache inside the build: it is resolved here, with the user's HOME (asked of ccache
    once per environment).
    """
    return _ccache_dir(os.environ.get("CCACHE_DIR"), os.environ.get("HOME"),
                       os.environ.get("XDG_CACHE_HOME"))


@functools.lru_cache(maxsize=8)
def _ccache_dir(env: Optional[str], home: Optional[str], xdg: Optional[str]) -> Path:
    if env:
        return Path(env)
    exe = shutil.which("ccache")
    if exe:
        try:
            code, out, _err = process.outputs([exe, "-k", "cache_dir"], timeout=10)
            if code == 0 and out.strip():
                return Path(out.strip())
        except OSError:
            pass
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ccache"


def srcarch_of(arch: str) -> str:
    """The arch/ directory an ARCH value builds from (``x86_64`` -> ``x86``)."""
    return ARCH_ALIASES.get(arch, arch)


def is_kernel_tree(tree: Optional[Path]) -> bool:
    """A Linux tree, as opposed to another Kconfig project: a top Makefile, an ``arch/``
    directory and the kernel's own Kconfig tools (``scripts/kconfig/merge_config.sh``)."""
    if tree is None:
        return False
    tree = Path(tree)
    return ((tree / "Makefile").is_file() and (tree / "arch").is_dir()
            and (tree / "scripts" / "kconfig" / "merge_config.sh").is_file())


@dataclass(frozen=True)
class BuildSpec:
    """How to build the tree: everything `make` needs besides the config.

    ``llvm`` is what the kernel's Makefile takes as LLVM=: ``"1"``, a version suffix such as
    ``"-16"``, or a directory prefix ending in ``/``; ``None`` builds with the Makefile's default
    (GCC). ``make_vars`` are extra ``VAR=VALUE`` words passed to every make call (``W=1``,
    ``KCFLAGS=...``) and into the reproduce commands. ``target`` ``None`` lets the oracle choose
    (a directory target for a compile error, ``vmlinux`` for a link failure).
    """

    tree: Path
    arch: Optional[str] = None
    llvm: Optional[str] = None
    make_vars: Tuple[str, ...] = ()
    target: Optional[str] = None
    jobs: int = 0  # per worker; 0 = cores / workers
    ccache_dir: Optional[Path] = None  # None: the user's (user_ccache_dir); unused when not installed
    use_ccache: bool = True
    sandbox: str = "auto"  # auto (bubblewrap when installed) | bwrap | none
    keep_going: bool = True  # make -k, so an unrelated earlier error cannot hide ours
    kconfig_file: str = "Kconfig"  # the top Kconfig file, relative to the tree


_MAKE_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_make_var(word: str) -> Tuple[str, str]:
    """``"CC=ccache clang-16"`` -> ``("CC", "ccache clang-16")``: the one reader of make's
    ``VAR=VALUE`` words. Raises :class:`UserError` for a word that is not one."""
    name, sep, value = word.partition("=")
    if not sep or not _MAKE_VAR_NAME.fullmatch(name):
        raise UserError(f"make variable {word!r} is not VAR=VALUE", hint="e.g. W=1 or KCFLAGS=-O1")
    return name, value


def parse_make_vars(words: Sequence[str]) -> Dict[str, str]:
    """``["CC=ccache clang-16", "W=1"]`` -> ``{"CC": "ccache clang-16", "W": "1"}``; a later word
    for a variable wins, as on make's command line."""
    return dict(split_make_var(w) for w in words)


def compiler_path(command: str) -> Optional[str]:
    """Absolute path of the real program of a command (``ccache clang-16`` -> clang-16's path);
    None when it is not installed."""
    words = shlex.split(command)
    if not words:
        return None
    if os.path.basename(words[0]) == "ccache" and len(words) > 1:
        words = words[1:]
    return shutil.which(words[0])


#: The tools kbuild derives from LLVM= (the top Makefile): make variable -> LLVM program.
_LLVM_TOOLS = {"CC": "clang", "LD": "ld.lld", "AR": "llvm-ar", "NM": "llvm-nm", "OBJCOPY": "llvm-objcopy",
               "HOSTCC": "clang", "HOSTCXX": "clang++"}
#: Without LLVM=: make variable -> GNU program, after CROSS_COMPILE (the host tools without it).
_GNU_TOOLS = {"CC": "gcc", "LD": "ld", "AR": "ar", "NM": "nm", "OBJCOPY": "objcopy"}
_GNU_HOST_TOOLS = {"HOSTCC": "gcc", "HOSTCXX": "g++"}
#: Tools that do not follow LLVM= or CROSS_COMPILE.
_OTHER_TOOLS = {"PAHOLE": "pahole", "RUSTC": "rustc", "BINDGEN": "bindgen"}
#: Variables Kconfig sees that are passed on only when the user gives them.
_PASSED_VARS = ("LLVM_IAS", "USERCFLAGS", "USERLDFLAGS")
#: The tools whose binaries a cache identity covers.
_IDENTITY_TOOLS = ("CC", "LD", "HOSTCC", "AR", "NM", "OBJCOPY")


@dataclass(frozen=True)
class Toolchain:
    """What LLVM=, ARCH= and the make variables mean: the tools make runs and its arguments.

    ``llvm`` is as in :class:`BuildSpec` (``None``: GCC, or plain ``cc`` for a project that is
    not a Linux tree, ``kernel=False``). A make variable the user gives (``CC=``, ``LD=``...)
    wins over what LLVM= or CROSS_COMPILE= derive. Made from a spec with :meth:`of`.
    """

    llvm: Optional[str] = None
    arch: Optional[str] = None
    make_vars: Tuple[str, ...] = ()
    kernel: bool = True

    @classmethod
    def of(cls, spec: "BuildSpec", kernel: bool = True) -> "Toolchain":
        """The toolchain a build spec names."""
        return cls(llvm=spec.llvm, arch=spec.arch, make_vars=tuple(spec.make_vars), kernel=kernel)

    @property
    def vars(self) -> Dict[str, str]:
        """The user's make variables by name (:func:`parse_make_vars`)."""
        return parse_make_vars(self.make_vars)

    def user_sets(self, var: str) -> bool:
        """Whether the user's make variables set ``var``."""
        return var in self.vars

    def tool(self, name: str) -> str:
        """The LLVM program LLVM= selects (``clang`` -> ``clang-16``, ``/opt/llvm/bin/clang``):
        a directory prefix ending in ``/``, a version suffix starting with ``-``, else the name."""
        llvm = self.llvm or ""
        if llvm.endswith("/"):
            return f"{llvm}{name}"
        if llvm.startswith("-"):
            return f"{name}{llvm}"
        return name

    def derived(self) -> Dict[str, str]:
        """The tool variables kbuild derives from LLVM= or CROSS_COMPILE=, before the user's."""
        if self.llvm:
            out = {var: self.tool(prog) for var, prog in _LLVM_TOOLS.items()}
        else:
            cross = self.vars.get("CROSS_COMPILE", "")
            out = {var: cross + prog for var, prog in _GNU_TOOLS.items()}
            if not self.kernel:
                out["CC"] = cross + "cc"
            out.update(_GNU_HOST_TOOLS)
        out.update(_OTHER_TOOLS)
        return out

    def tool_env(self) -> Dict[str, str]:
        """The tool variables Kconfig sees (``$(CC)``, ``$(LD)`` ...): derived, the user's on top,
        plus CROSS_COMPILE, LLVM, and LLVM_IAS / USERCFLAGS / USERLDFLAGS when given."""
        given = self.vars
        env = {var: given.get(var, value) for var, value in self.derived().items()}
        env["CROSS_COMPILE"] = given.get("CROSS_COMPILE", "")
        if self.llvm:
            env["LLVM"] = self.llvm
        for var in _PASSED_VARS:
            if var in given:
                env[var] = given[var]
        return env

    def _first_word(self, var: str) -> str:
        default = self.derived()[var]
        words = [w for w in (self.vars.get(var) or default).split() if w != "ccache"]
        return words[0] if words else default

    @property
    def cc(self) -> str:
        """The compiler make runs (the first word of CC, ccache skipped)."""
        return self._first_word("CC")

    @property
    def ld(self) -> str:
        """The linker make runs (the first word of LD)."""
        return self._first_word("LD")

    def cc_command(self, ccache: bool) -> str:
        """The compiler command ltobisect gives make as CC= (``ccache clang-16`` with ccache)."""
        cc = self.tool("clang") if self.llvm is not None else self.cc
        return f"ccache {cc}" if ccache else cc

    def uses_ccache(self, wanted: bool) -> bool:
        """ccache is used when wanted, installed, and LLVM= is set (we name the compiler)."""
        return wanted and self.llvm is not None and shutil.which("ccache") is not None

    def make_args(self, ccache: bool = False) -> List[str]:
        """``ARCH=``, ``LLVM=``, ``CC=<cc_command(ccache=True)>`` when ``ccache`` and the user
        sets no CC (the same CC for olddefconfig and the build, or kbuild re-runs syncconfig),
        then the user's make variables verbatim (each checked by :func:`split_make_var`)."""
        args = []
        if self.arch:
            args.append(f"ARCH={self.arch}")
        if self.llvm is not None:
            args.append(f"LLVM={self.llvm}")
            if ccache and not self.user_sets("CC"):
                args.append(f"CC={self.cc_command(ccache=True)}")
        for var in self.make_vars:
            split_make_var(var)
            args.append(var)
        return args

    def version_programs(self) -> Dict[str, str]:
        """What the toolchain's versions are asked of: ``{label: program}``; clang and ld.lld
        with LLVM=, else the last word of the user's CC (``cc`` by default)."""
        if self.llvm is not None:
            return {"clang": self.tool("clang"), "ld.lld": self.tool("ld.lld")}
        words = [w for w in shlex.split(self.vars.get("CC", "cc"))
                 if not w.startswith("-") and Path(w).name not in ("ccache", "sccache", "distcc")]
        return {"cc": (words[:1] or ["cc"])[0]}

    def identity(self, env: Optional[Mapping[str, str]] = None) -> str:
        """A short hash of what the toolchain's answers depend on, for cache keys: ``env`` (by
        default :meth:`tool_env`; Kconfig passes the whole environment its probes see) and the
        installed binaries (real path, size, mtime) of CC, LD, HOSTCC, AR, NM and OBJCOPY."""
        env = dict(self.tool_env() if env is None else env)
        ident: Dict[str, object] = {k: v for k, v in sorted(env.items())}
        for var in _IDENTITY_TOOLS:
            path = compiler_path(env[var]) if env.get(var) else None
            if path:
                st = os.stat(path)
                ident[f"{var}@bin"] = [os.path.realpath(path), st.st_size, st.st_mtime_ns]
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Limits:
    """When the search must stop. ``None`` is no limit."""

    deadline: Optional[float] = None  # seconds of wall time for the whole session
    max_tests: Optional[int] = None  # builds (cache hits are free)
    stall_tests: Optional[int] = None  # builds without a smaller result before giving up


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of infrastructure errors only (never of verdicts), with exponential backoff."""

    attempts: int = 3
    initial_wait: float = 1.0
    max_wait: float = 30.0


@dataclass(frozen=True)
class FarmAccess:
    """How the client reaches a Dask farm. ``tls_ca``, ``tls_cert``, ``tls_key``: the CA that
    signed the scheduler's certificate and the client's own certificate and key, for a
    ``tls://`` scheduler (None: Dask's own configuration, ``distributed.comm.tls``).
    ``insecure``: the explicit opt-in to a plain ``tcp://`` farm off this machine, which anyone
    who reaches the scheduler can use to run code on every worker."""

    tls_ca: Optional[Path] = None
    tls_cert: Optional[Path] = None
    tls_key: Optional[Path] = None
    insecure: bool = False

    @property
    def tls_files(self) -> Tuple[Optional[Path], Optional[Path], Optional[Path]]:
        return self.tls_ca, self.tls_cert, self.tls_key


@dataclass(frozen=True)
class SessionConfig:
    """One minimization, as the user asked for it."""

    bad_config: Path
    state_dir: Path
    build: Optional[BuildSpec] = None  # None with a test script on a non-kernel tree
    baseline: str = "tinyconfig"  # defconfig | tinyconfig | allnoconfig | a file path
    test_script: Optional[Path] = None  # an interestingness script instead of a build
    signature_regex: Optional[str] = None
    failure_log: Optional[Path] = None  # the original failure's log, to take the signature from
    memory_threshold: Optional[int] = None  # bytes: reproduce "the build needs more than X"
    duration_threshold: Optional[float] = None  # seconds: reproduce "the build takes longer than X"
    workers: int = 1
    timeout: Optional[float] = None  # per test; None = derived from the bad config's build
    timeout_factor: float = 3.0
    mem_limit: Optional[int] = None  # bytes per test
    strategy: str = "default"
    seed: int = 0
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_repeats: int = 2
    verify_with_make: bool = True  # check our resolution against the kernel's `make olddefconfig`
    #: With Clang LTO, build the result without LTO and with the other mode (ltobisect.matrix.lto).
    lto_matrix: bool = True
    #: LLVM releases to build the result with besides the session's own (ltobisect.matrix.llvm).
    llvm_matrix: Tuple[str, ...] = ()
    #: Try the options the failure's log points at first (ltobisect.conductor.priors).
    log_priors: bool = True
    #: Which distinct failure of the log to minimize (1-based, as `ltobisect failures` numbers
    #: them: the user's --log, else the bad config's own build log); None: the primary one.
    failure: Optional[int] = None
    #: One of several searches of ``--each-failure``: every build makes the targets of all the
    #: log's failures, so that its log answers each search (see ``ltobisect.conductor.each_failure``).
    each_failure: bool = False
    #: Where the worker O= directories, logs and journal live (``ltobisect.store.state``); None: the
    #: state directory itself. The CLI gives ``default_work_dir(state_dir)`` to a hook.
    work_dir: Optional[Path] = None
    #: The Dask scheduler the builds run on (``tcp://host:8786``, or ``local:N`` for N worker
    #: processes here); None: the local pool of ``workers`` threads (``ltobisect.farm``).
    scheduler: Optional[str] = None
    #: Bytes of the workers' ``MEM`` resource each build asks for on a farm; None: any worker.
    build_memory: Optional[int] = None
    #: How the farm is reached (TLS files, the opt-in to plain tcp:// off this machine).
    farm: FarmAccess = field(default_factory=FarmAccess)


# -- SessionConfig <-> JSON -------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def config_to_json(config: SessionConfig) -> dict:
    """The SessionConfig as plain JSON data (paths as strings)."""
    return _jsonable(config)


def config_from_json(data: dict) -> SessionConfig:
    """Inverse of :func:`config_to_json`; unknown keys (a newer format) are ignored."""

    def path(v: Any) -> Optional[Path]:
        return Path(v) if v is not None else None

    build = None
    if data.get("build") is not None:
        b = dict(data["build"])
        known = {f.name for f in dataclasses.fields(BuildSpec)}
        b = {k: v for k, v in b.items() if k in known}
        b["tree"] = Path(b["tree"])
        b["ccache_dir"] = path(b.get("ccache_dir"))
        b["make_vars"] = tuple(b.get("make_vars") or ())
        build = BuildSpec(**b)
    fields = {f.name for f in dataclasses.fields(SessionConfig)}
    kw = {k: v for k, v in data.items() if k in fields}
    kw["build"] = build
    for key in ("bad_config", "state_dir"):
        kw[key] = Path(kw[key])
    for key in ("test_script", "failure_log", "work_dir"):
        kw[key] = path(kw.get(key))
    kw["llvm_matrix"] = tuple(kw.get("llvm_matrix") or ())
    kw["limits"] = Limits(**(data.get("limits") or {}))
    kw["retry"] = RetryPolicy(**(data.get("retry") or {}))
    farm = dict(data.get("farm") or {})
    kw["farm"] = FarmAccess(tls_ca=path(farm.get("tls_ca")), tls_cert=path(farm.get("tls_cert")),
                            tls_key=path(farm.get("tls_key")), insecure=bool(farm.get("insecure")))
    return SessionConfig(**kw)
