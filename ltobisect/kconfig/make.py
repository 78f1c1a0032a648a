"""The kernel's own config targets (``make olddefconfig``, ``tinyconfig``, ``randconfig`` ...),
run in an O= directory: the reference the Kconfig layer is checked against."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

from ltobisect import process
from ltobisect.config import Toolchain
from ltobisect.errors import InfraError

#: Seconds a config target may take (olddefconfig takes ~4 s on Linux 6.1 here; the first one
#: in a fresh O= directory builds the kconfig tools too).
CONFIG_TARGET_TIMEOUT = 600.0


def _make(tree: Path, target: str, *, arch: Optional[str], llvm: Optional[str], make_vars: Sequence[str],
          work_dir: Path, extra_env: Optional[Dict[str, str]]) -> None:
    """``make -C tree O=work_dir ARCH=.. LLVM=.. <make_vars> target`` through the process room
    (bounded, stopped with the rest); InfraError when it fails or does not end."""
    toolchain = Toolchain(llvm=llvm, arch=arch, make_vars=tuple(make_vars))
    argv = ["make", "-s", f"-j{os.cpu_count() or 1}", "-C", str(Path(tree).resolve()), f"O={Path(work_dir).resolve()}",
            *toolchain.make_args(), target]
    # The caller's KCONFIG_* (KCONFIG_CONFIG, KCONFIG_ALLCONFIG...) would change what conf does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCONFIG_") and k not in ("ARCH", "LLVM")}
    env.update(extra_env or {})
    try:
        code, said = process.capture(argv, env=env, timeout=CONFIG_TARGET_TIMEOUT)
    except OSError as exc:
        raise InfraError(f"cannot run make {target}: {exc}") from exc
    if code != 0:
        tail = " | ".join(said.strip().splitlines()[-3:])
        what = f"exit {code}" if code >= 0 else f"stopped: over {CONFIG_TARGET_TIMEOUT:.0f} s, or a stop"
        raise InfraError(f"make {target} failed ({what}): {tail}")


def make_olddefconfig(tree: Path, config_text: str, *, arch: Optional[str], llvm: Optional[str],
                      make_vars: Sequence[str] = (), work_dir: Path, target: str = "olddefconfig",
                      extra_env: Optional[Dict[str, str]] = None) -> str:
    """Run the kernel's own ``make O=work_dir ARCH=.. LLVM=.. olddefconfig`` on ``config_text``.

    Returns the ``.config`` it writes. The source tree is only read. ``target`` may name another
    config target that starts from ``.config`` (``savedefconfig`` returns the ``defconfig`` file).
    Raises :class:`InfraError` when make fails.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / ".config").write_text(config_text)
    _make(tree, target, arch=arch, llvm=llvm, make_vars=make_vars, work_dir=work_dir, extra_env=extra_env)
    return (work_dir / ("defconfig" if target == "savedefconfig" else ".config")).read_text()


def run_config_target(tree: Path, target: str, *, arch: Optional[str], llvm: Optional[str],
                      make_vars: Sequence[str] = (), work_dir: Path,
                      extra_env: Optional[Dict[str, str]] = None) -> str:
    """``make O=work_dir <target>`` for a target that makes a new .config (tinyconfig, randconfig...).

    ``extra_env`` passes e.g. ``KCONFIG_SEED`` / ``KCONFIG_PROBABILITY`` to randconfig.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (work_dir / ".config").unlink()
    _make(tree, target, arch=arch, llvm=llvm, make_vars=make_vars, work_dir=work_dir, extra_env=extra_env)
    return (work_dir / ".config").read_text()
