"""The environment the kernel's Makefile hands to ``scripts/kconfig/conf``, derived without make.

Kconfig files read the toolchain through environment variables (``$(CC)``, ``$(CLANG_FLAGS)``,
``$(CC_VERSION_TEXT)`` ...). Running make only to learn them costs seconds per tree, so this
module derives them from ARCH, LLVM and the make variables the way Linux 6.x's top Makefile and
``scripts/Makefile.clang`` do; the tool names come from :class:`~ltobisect.config.Toolchain`.
Plain data and the process room only: no kconfiglib here.
"""
from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import shutil
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

from ltobisect import process
from ltobisect.config import Toolchain, compiler_path, is_kernel_tree, parse_make_vars, srcarch_of
from ltobisect.errors import UserError

__all__ = ["compiler_path", "defconfig_file", "environment", "host_subarch", "is_kernel_tree",
           "kconfig_env", "kernelversion", "parse_make_vars", "probe_identity", "srcarch_of"]


def host_subarch() -> str:
    """The Makefile's SUBARCH: ``uname -m`` through the same substitutions as its sed script."""
    m = platform.machine()
    for pattern, repl in ((r"i.86", "x86"), (r"x86_64", "x86"), (r"sun4u", "sparc64"), (r"arm.*", "arm"),
                          (r"sa110", "arm"), (r"s390x", "s390"), (r"ppc.*", "powerpc"), (r"mips.*", "mips"),
                          (r"sh[234].*", "sh"), (r"aarch64.*", "arm64"), (r"riscv.*", "riscv"),
                          (r"loongarch.*", "loongarch")):
        m = re.sub(pattern, repl, m, count=1)
    return m


def kernelversion(tree: Path) -> Optional[str]:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` plus EXTRAVERSION from the top Makefile, as `make kernelversion`."""
    try:
        head = (tree / "Makefile").read_text(errors="replace")[:4000]
    except OSError:
        return None
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=[ \t]*(\S*)[ \t]*$", head, re.M)
        fields[key] = m.group(1) if m else ""
    if not fields["VERSION"]:
        return None
    text = f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
    if fields["SUBLEVEL"]:
        text += f".{fields['SUBLEVEL']}"
    return text + fields["EXTRAVERSION"]


def _clang_target(tree: Path, srcarch: str) -> Optional[str]:
    try:
        text = (tree / "scripts" / "Makefile.clang").read_text()
    except OSError:
        return None
    m = re.search(rf"^CLANG_TARGET_FLAGS_{re.escape(srcarch)}\s*:?=\s*(\S+)\s*$", text, re.M)
    return m.group(1) if m else None


def _version_text(cc: str) -> str:
    """First line of ``$(CC) --version`` without '#', as the Makefile's CC_VERSION_TEXT."""
    try:
        argv = shlex.split(cc) + ["--version"]
        _code, out, _err = process.outputs(argv, env={**os.environ, "LC_ALL": "C"}, timeout=60)
    except (OSError, ValueError):
        return ""
    first = out.splitlines()[0] if out else ""
    return first.replace("#", "").strip()


def _clang_flags(tree: Path, arch: str, srcarch: str, cross: str, llvm_ias: Optional[str]) -> str:
    """CLANG_FLAGS as ``scripts/Makefile.clang`` sets them: the target, the assembler, the
    warnings that must be errors."""
    flags = []
    if cross:
        flags.append("--target=" + os.path.basename(cross[:-1] if cross.endswith("-") else cross))
    else:
        target = _clang_target(tree, srcarch)
        if target is None:
            raise UserError(f"clang has no default target for ARCH={arch}", hint="pass CROSS_COMPILE=...")
        flags.append("--target=" + target)
    if llvm_ias == "0":
        elfedit = shutil.which(f"{cross}elfedit")
        gcc_dir = os.path.dirname(elfedit) + "/" if elfedit else ""
        flags += ["-fno-integrated-as", f"--prefix={gcc_dir}{os.path.basename(cross)}"]
    else:
        flags.append("-fintegrated-as")
    flags += ["-Werror=unknown-warning-option", "-Werror=ignored-optimization-argument"]
    return " ".join(flags)


def kconfig_env(tree: Path, arch: Optional[str], llvm: Optional[str],
                make_vars: Sequence[str] = ()) -> Dict[str, str]:
    """The environment `make ARCH=.. LLVM=.. <make_vars> *config` gives ``scripts/kconfig/conf``.

    For a tree that is not a Linux tree (a small Kconfig project) without LLVM, only
    ``srctree``, the make variables and ARCH (when given) are set. Raises :class:`UserError`
    for an ARCH the tree does not have or a compiler that is not installed.
    """
    tree = Path(tree).resolve()
    overrides = parse_make_vars(make_vars)
    env: Dict[str, str] = {"srctree": str(tree), "objtree": "."}
    kernel = is_kernel_tree(tree)
    if not kernel and llvm is None:
        # A plain Kconfig project: it sees what it is given, nothing derived for kbuild.
        env.update(overrides)
        if arch is not None:
            env.update(ARCH=arch, SRCARCH=srcarch_of(arch))
        return env

    if arch is None:
        arch = os.environ.get("ARCH") or host_subarch()
    srcarch = srcarch_of(arch)
    if kernel and not (tree / "arch" / srcarch / "Kconfig").is_file():
        known = sorted(p.name for p in (tree / "arch").iterdir() if (p / "Kconfig").is_file())
        raise UserError(f"unknown ARCH {arch!r}: the tree has no arch/{srcarch}/Kconfig",
                        hint="one of " + ", ".join(known + ["x86_64", "i386"]))
    env.update(ARCH=arch, SRCARCH=srcarch)
    version = kernelversion(tree) if kernel else None
    if version:
        env["KERNELVERSION"] = version

    env.update(Toolchain(llvm=llvm, arch=arch, make_vars=tuple(make_vars), kernel=kernel).tool_env())
    cross = env["CROSS_COMPILE"]

    if compiler_path(env["CC"]) is None:
        how = f"LLVM={llvm}" if llvm else "the default GCC toolchain"
        raise UserError(f"compiler {env['CC']!r} not found (from {how})",
                        hint="install it or pass LLVM=-<version> / LLVM=/path/to/llvm/bin/ or CC=...")
    version_text = _version_text(env["CC"])
    if not version_text:
        raise UserError(f"compiler {env['CC']!r} does not run (`{env['CC']} --version` printed nothing)")
    env["CC_VERSION_TEXT"] = version_text

    if "clang" in version_text:
        env["CLANG_FLAGS"] = _clang_flags(tree, arch, srcarch, cross, overrides.get("LLVM_IAS"))
    return env


def defconfig_file(tree: Path, arch: str, srcarch: str) -> Path:
    """The arch's default defconfig file, as the arch Makefile's KBUILD_DEFCONFIG names it."""
    configs = tree / "arch" / srcarch / "configs"
    if srcarch == "x86":
        name = "i386_defconfig" if arch == "i386" else "x86_64_defconfig"
    else:
        name = "defconfig"
        try:
            text = (tree / "arch" / srcarch / "Makefile").read_text(errors="replace")
        except OSError:
            text = ""
        m = re.search(r"^KBUILD_DEFCONFIG\s*:?=\s*([^\s$]+)\s*$", text, re.M)
        if m:
            name = m.group(1)
    path = configs / name
    if not path.is_file():
        raise UserError(f"no defconfig for ARCH={arch}: {path} does not exist")
    return path


#: Variables of the caller's environment that would change what kconfiglib does.
_KCONFIG_VARS = ("CONFIG_", "KCONFIG_FUNCTIONS", "KCONFIG_CONFIG_HEADER", "KCONFIG_STRICT", "KCONFIG_WARN_UNDEF")


@contextlib.contextmanager
def environment(env: Dict[str, str]) -> Iterator[None]:
    """``env`` in os.environ for the duration (kconfiglib expands $(VAR) from os.environ)."""
    saved = {k: os.environ.get(k) for k in list(env) + list(_KCONFIG_VARS)}
    try:
        for k in _KCONFIG_VARS:
            os.environ.pop(k, None)
        os.environ.update(env)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def probe_identity(env: Dict[str, str]) -> str:
    """What a probe's answer depends on: the env Kconfig sees and the tool binaries themselves
    (:meth:`~ltobisect.config.Toolchain.identity` of that environment)."""
    return Toolchain().identity(env)
