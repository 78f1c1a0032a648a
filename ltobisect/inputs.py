"""Checks of what the user gave, made before any build, and the values the command line parses.

Each check returns the value to use or raises :class:`~ltobisect.errors.UserError` with one line
that says what is wrong and, as its hint, what to do. Used by :mod:`ltobisect.cli`.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from ltobisect import dotconfig
from ltobisect.config import BASELINES, Toolchain, split_make_var, srcarch_of
from ltobisect.errors import UserError
from ltobisect.store.state import holds_session

#: The named baselines (:data:`ltobisect.config.BASELINES`), under the name the CLI imports.
#: make variables that ltobisect sets itself; --make must not override them.
RESERVED_MAKE_VARS = {"O": "ltobisect gives every worker its own O= directory",
                      "ARCH": "use --arch", "LLVM": "use --llvm",
                      "KCONFIG_CONFIG": "ltobisect writes the .config of every test"}


#: The longest duration ltobisect takes (``--budget``, ``--timeout``, ``--time-above``): a year.
#: A budget or a timeout becomes a timer (``threading.Timer``) and a deadline on the monotonic
#: clock; within a year both are far from overflowing (a timer's wait is capped at
#: ``threading.TIMEOUT_MAX``, about 292 years on Linux, and less elsewhere), and a kernel build
#: or a minimization that needs more than a year has no use for a limit.
MAX_DURATION = 365 * 86400.0
#: How :data:`MAX_DURATION` is written in messages.
MAX_DURATION_TEXT = "365d"
#: The largest size ltobisect takes (``--mem-above``, ``--mem-limit``, ``--build-memory``):
#: 1 PiB, more memory than any machine or build-farm worker has, so a larger value can never be
#: reached (``--mem-above``) nor offered (``--build-memory``), and stays far below the 64-bit
#: byte counts that rlimits and the farm's resource accounting hold.
MAX_SIZE = 2**50
#: How :data:`MAX_SIZE` is written in messages (parse_size takes it so).
MAX_SIZE_TEXT = "1024T"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``30s``, ``20m``, ``2h``, ``1h30m``, ``1.5h``."""
    s = text.strip().lower()
    pos, total = 0, 0.0
    if not s:
        raise ValueError("empty duration")
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or (m.group(2) == "" and m.end() != len(s)):
            raise ValueError(f"not a duration: {text!r}")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``512M``, ``20G``, ``1.5GiB``, ``4096`` (powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r}")
    power = " kmgt".index(m.group(2).lower() or " ")
    # Exact decimal arithmetic: a float would turn a long row of digits into infinity, which
    # int() refuses with an OverflowError instead of a size that the caller can bound.
    return int(Decimal(m.group(1)) * 1024**power)


def read_config(path: Path, what: str,
                empty_hint: str = "give the .config of the failing build, not an empty file"
                ) -> Dict[str, str]:
    """The settings of a .config file (``NAME -> value``, ``n`` for "is not set"), checked.

    ``empty_hint`` is what to do when the file has no setting at all.
    """
    return check_config_text(read_text_file(path, what), path, what, empty_hint)


def check_config_text(text: str, path: Path, what: str,
                      empty_hint: str = "give the .config of the failing build, not an empty file"
                      ) -> Dict[str, str]:
    """:func:`read_config` of a text already read from ``path``."""
    settings: Dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        setting = dotconfig.parse_line(line, unquote=False)
        if setting is not None:
            settings[setting[0]] = setting[1]
        elif line.startswith("#"):
            continue
        else:
            shown = line if len(line) <= 40 else line[:37] + "..."
            raise UserError(f"{what} {path} is not a kernel config: line {number} is {shown!r}",
                            "give a .config as written by make, with CONFIG_ lines")
    if not settings:
        raise UserError(f"{what} {path} has no CONFIG_ settings", empty_hint)
    return settings


def read_text_file(path: Path, what: str) -> str:
    """A text file's contents, or a UserError that says why it cannot be used."""
    if not path.exists():
        raise UserError(f"{what} {path} does not exist", "check the path")
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory", "give the file inside it")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}",
                        "check its permissions")
    if b"\0" in data:
        raise UserError(f"{what} {path} is a binary file", "give a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def check_tree(tree: Path, *, build: bool = True) -> Path:
    """The tree's absolute path, if it is a directory with a top-level Kconfig and Makefile.

    ``build=False`` is for commands that only read the Kconfig (`changes`, `resolve`): a Kconfig
    project without a Makefile will do.
    """
    if not tree.exists():
        raise UserError(f"tree {tree} does not exist", "give the kernel source directory with --tree")
    if not tree.is_dir():
        raise UserError(f"tree {tree} is not a directory", "give the kernel source directory with --tree")
    if not (tree / "Kconfig").is_file():
        raise UserError(f"tree {tree} is not a Kconfig tree: it has no Kconfig file",
                        "give the top of the kernel source, where Kconfig and Makefile are")
    if build and not (tree / "Makefile").is_file():
        raise UserError(f"tree {tree} has no Makefile", "give the top of the kernel source")
    return tree.resolve()


def check_baseline(spec: str, tree: Path, kernel: bool, option: str = "--baseline") -> str:
    """A baseline the tree can compute: a name of :data:`~ltobisect.config.BASELINES`, or a
    checked config file's absolute path. ``kernel``: the tree is a Linux tree (defconfig and
    tinyconfig need one). ``option`` names the argument in the error.
    """
    if spec not in BASELINES:
        path = Path(spec)
        read_config(path, "baseline", "give a config that builds, such as tinyconfig or defconfig")
        return str(path.resolve())
    if spec in ("defconfig", "tinyconfig") and not kernel:
        raise UserError(f"{option} {spec} needs a kernel tree, {tree} is not one",
                        f"use {option} allnoconfig or a config file")
    return spec


def check_arch(tree: Path, arch: Optional[str]) -> Optional[str]:
    """ARCH as given, if the tree has it."""
    if arch is None:
        return None
    if not re.fullmatch(r"[a-z0-9_]+", arch):
        raise UserError(f"unknown ARCH {arch!r}", "use the kernel's name, such as x86_64 or arm64")
    if not (tree / "arch").is_dir():
        raise UserError(f"--arch {arch} given, but {tree} has no arch/ directory",
                        "leave --arch out for a Kconfig project that is not a kernel")
    srcarch = srcarch_of(arch)
    if not (tree / "arch" / srcarch / "Kconfig").is_file():
        known = sorted(p.name for p in (tree / "arch").iterdir() if (p / "Kconfig").is_file())
        raise UserError(f"unknown ARCH {arch!r}: {tree}/arch has no {srcarch}",
                        "one of " + ", ".join(["x86_64"] + known)[:200])
    return arch


def check_llvm(llvm: Optional[str]) -> Optional[str]:
    """LLVM= as the kernel's Makefile takes it."""
    if llvm is None:
        return None
    if llvm == "1" or re.fullmatch(r"-\d+(\.\d+)*", llvm) or llvm.endswith("/"):
        return llvm
    raise UserError(f"--llvm {llvm!r} is not what the kernel's LLVM= takes",
                    "use 1, a version suffix like -16, or a directory ending in /")


def parse_make_vars(words: Sequence[str]) -> Tuple[str, ...]:
    """``VAR=VALUE`` words for make, checked."""
    out = []
    for word in words:
        try:
            name, _ = split_make_var(word)
        except UserError:
            raise UserError(f"--make {word!r} is not VAR=VALUE", "for example --make W=1") from None
        if name in RESERVED_MAKE_VARS:
            raise UserError(f"--make {name}= conflicts with ltobisect's own", RESERVED_MAKE_VARS[name])
        out.append(word)
    return tuple(out)


def _found(tool: str) -> bool:
    if "/" in tool:
        return os.path.isfile(tool) and os.access(tool, os.X_OK)
    return shutil.which(tool) is not None


def check_toolchain(llvm: Optional[str], make_vars: Sequence[str], kernel: bool) -> None:
    """The compiler, the linker and make are installed."""
    tools = Toolchain(llvm=llvm, make_vars=tuple(make_vars), kernel=kernel)
    cc, ld = tools.cc, tools.ld
    if not _found("make"):
        raise UserError("make is not installed", "apt-get install make")
    if not _found(cc):
        hint = (f"install it: apt-get install clang{llvm}" if llvm and llvm.startswith("-")
                else "install it or choose another with --llvm or --make CC=...")
        raise UserError(f"compiler {cc} not found", hint)
    if not _found(ld):
        hint = (f"install it: apt-get install lld{llvm}" if llvm and llvm.startswith("-")
                else "install it or choose another with --llvm or --make LD=...")
        raise UserError(f"linker {ld} not found", hint)


def check_script(path: Path) -> Path:
    """An executable interestingness script."""
    if not path.exists():
        raise UserError(f"test script {path} does not exist", "check the path")
    if path.is_dir():
        raise UserError(f"test script {path} is a directory", "give the script file")
    if not os.access(path, os.X_OK):
        raise UserError(f"test script {path} is not executable", f"chmod +x {path}")
    return path.resolve()


def check_signature(regex: Optional[str], log: Optional[Path]) -> None:
    """The regex compiles and, with a log, matches the failure in it."""
    if log is not None:
        text = read_text_file(log, "log")
        if not text.strip():
            raise UserError(f"log {log} is empty", "give the log of the failed build")
    if regex is None:
        return
    if not regex:
        raise UserError("--signature is empty", "give a regex that matches the error line")
    try:
        pattern = re.compile(regex, re.MULTILINE)
    except re.error as exc:
        raise UserError(f"--signature {regex!r} is not a valid regex: {exc}",
                        "escape each special character, such as a bracket or *, with a backslash")
    if log is not None and not pattern.search(text):
        raise UserError(f"--signature {regex!r} matches nothing in {log}",
                        "give a regex that matches the error line, or leave --signature out")


def free_dir(default_name: str) -> Path:
    """``./NAME``, or ``./NAME-2``... the first that does not exist or is empty."""
    for i in range(1, 1000):
        candidate = Path(default_name if i == 1 else f"{default_name}-{i}")
        if not candidate.exists() or (candidate.is_dir() and not any(candidate.iterdir())):
            return candidate.resolve()
    raise UserError(f"./{default_name}-1 to -999 all exist", "pass a directory explicitly")


def check_state_path(path: Path, option: str) -> Path:
    """Where a new session keeps its state. The session itself claims it: it continues the same
    session there, and refuses a directory that holds another session or other files."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file", "give a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot create {option} {path}: {parent} is not a directory",
                        "give a directory in a writable place")
    return path.resolve()


def check_writable_dir(path: Path, option: str) -> Path:
    """A directory we will write into (a cache): created if missing, must be writable."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file", "give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {option} {path}: {e.strerror}",
                        "give a directory in a writable place") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{option} {path} is not writable", "give a writable directory")
    return path.resolve()


def check_output_file(path: Optional[Path], option: str) -> Optional[Path]:
    """A file we will write at the end, proven writable now, not after hours of builds.

    The file is opened for writing without changing it (created and removed again when it does
    not exist yet), and an empty write catches a device that refuses every write (/dev/full);
    a pipe without a reader is refused rather than waited for.
    """
    if path is None:
        return None
    path = path.expanduser()
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory", "give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {option} {path}: {parent} is not a directory",
                        "create the directory first")
    if not os.access(parent, os.W_OK) and not path.exists():
        raise UserError(f"cannot write {option} {path}: {parent} is not writable",
                        "give a writable location")
    existed = os.path.lexists(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | (0 if existed else os.O_CREAT | os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, b"")
        finally:
            os.close(fd)
            if not existed:
                os.unlink(path)
    except OSError as exc:
        reason = "a pipe nobody reads" if exc.errno == errno.ENXIO else (exc.strerror or str(exc))
        raise UserError(f"cannot write {option} {path}: {reason}", "give a writable location")
    return path.resolve()


def check_output_dir(path: Path, option: str) -> Path:
    """A directory we will create or write into, proven writable without creating it: a file
    made and removed in it, or in the nearest directory above it that exists."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file", "give a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create {option} {path}: {existing} is not a directory",
                        "give a directory in a writable place")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ltobisect-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        what = "write" if existing == path else "create"
        raise UserError(f"cannot {what} {option} {path}: {existing} is not writable "
                        f"({exc.strerror or exc})", "give a directory in a writable place")
    return path.resolve()


#: The options that name where a session writes, by their argparse ``dest``: the name the user
#: typed and whether it is a file or a directory. :func:`check_outputs` checks those given.
OUTPUT_OPTIONS: Dict[str, Tuple[str, str]] = {
    "summary_json": ("--summary-json", "file"),
    "state": ("--state", "dir"),
    "out": ("--out", "dir"),
    "work_dir": ("--work-dir", "dir"),
    "ccache_dir": ("--ccache-dir", "dir"),
    "state_dir": ("STATE_DIR", "dir"),
    "dir": ("DIR", "dir"),
}


def check_outputs(args: Any) -> None:
    """Every output path a command was given (:data:`OUTPUT_OPTIONS`) is writable, checked
    before the first build: a UserError naming the option otherwise. A file's option is set to
    the checked, absolute path (the command writes it there at the end)."""
    for dest, (option, kind) in OUTPUT_OPTIONS.items():
        value = getattr(args, dest, None)
        if not isinstance(value, (str, Path)):
            continue
        if kind == "file":
            setattr(args, dest, check_output_file(Path(value), option))
        else:
            check_output_dir(Path(value), option)


def looks_like_state_dir(path: Path) -> bool:
    """True when ``path`` holds a session (its session file, or an --each-failure index)."""
    return holds_session(path)


def check_state_dir(path: Path) -> Path:
    """An existing state directory of a session, for resume and report."""
    if not path.exists():
        raise UserError(f"state directory {path} does not exist", "give the --state of a session")
    if not path.is_dir():
        raise UserError(f"state directory {path} is not a directory", "give the --state of a session")
    if not looks_like_state_dir(path):
        raise UserError(f"{path} is not an ltobisect state directory (no session.json)",
                        "give the directory passed as --state or --out")
    return path.resolve()


def check_strategy(name: str) -> None:
    """The strategy exists (names come from the strategies package)."""
    try:
        from ltobisect.strategies import STRATEGIES
    except ImportError:
        return  # the session reports it when it looks the strategy up
    names = list(dict.fromkeys(["default", *STRATEGIES]))  # "default" first, once
    if name not in names:
        raise UserError(f"unknown strategy {name!r}", "one of " + ", ".join(names))



# -- the O= directory of a failed build (the hook) ----------------------------------------------
def find_source_tree(build_dir: Path) -> Path:
    """The source tree of an O= directory: its `source` link, its Makefile, or itself."""
    link = build_dir / "source"
    if link.is_symlink() or link.is_dir():
        return link.resolve()
    makefile = build_dir / "Makefile"
    if makefile.is_file():
        m = re.search(r"^include\s+(\S+)/Makefile\s*$", makefile.read_text(errors="replace"),
                      re.MULTILINE)
        if m and Path(m.group(1)).is_dir():
            return Path(m.group(1)).resolve()
    if (build_dir / "Kconfig").is_file():
        return build_dir.resolve()
    raise UserError(f"cannot find the source tree of {build_dir}: no `source` link or Makefile",
                    "pass --tree")


def arch_from_config(settings: Dict[str, str], header: str) -> Optional[str]:
    """ARCH from a kernel .config's header (``# Linux/x86 6.1.0 Kernel Configuration``)."""
    m = re.search(r"^# Linux/(\S+) ", header, re.MULTILINE)
    if not m:
        return None
    srcarch = m.group(1)
    if srcarch == "x86":
        return "x86_64" if settings.get("X86_64") == "y" or settings.get("64BIT") == "y" else "i386"
    return srcarch


def llvm_from_config(settings: Dict[str, str]) -> Optional[str]:
    """LLVM= for a config built with clang: ``-<major>`` when that clang is installed, else 1."""
    if settings.get("CC_IS_CLANG") != "y":
        return None
    version = settings.get("CLANG_VERSION", "")
    major = str(int(version) // 10000) if version.isdigit() and int(version) else ""
    if major and shutil.which(f"clang-{major}") and shutil.which(f"ld.lld-{major}"):
        return f"-{major}"
    return "1"
