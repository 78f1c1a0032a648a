"""Shared fixtures: where the real kernel tree and the shared ccache are.

`scripts/bootstrap test` unpacks Debian's linux-source-6.1 and sets LTOBISECT_KERNEL_TREE and
LTOBISECT_REQUIRE_KERNEL=1, so in CI a missing tree or toolchain fails instead of skipping.
Run by hand without the tree, the kernel tests skip with the reason.
"""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

DEFAULT_TREE = Path("/var/cache/ltobisect/linux-source-6.1")


def pytest_configure(config) -> None:
    # A suite started in the background of a non-interactive shell (`.ci/run &`, nohup, many
    # CI runners) inherits SIGINT ignored, and then _thread.interrupt_main() does nothing: the
    # Ctrl-C tests would wait for an interrupt that never comes. Python's own handler back.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _missing(reason: str):
    if os.environ.get("LTOBISECT_REQUIRE_KERNEL") == "1":
        pytest.fail(reason + " (LTOBISECT_REQUIRE_KERNEL=1: run scripts/bootstrap test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The pristine Linux 6.1 tree (read-only by convention: never build in it)."""
    tree = Path(os.environ.get("LTOBISECT_KERNEL_TREE", DEFAULT_TREE))
    if not (tree / "Makefile").is_file() or not (tree / "Kconfig").is_file():
        _missing(f"no Linux tree at {tree}")
    for tool in ("clang-16", "ld.lld-16", "llvm-ar-16"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is not installed")
    return tree


@pytest.fixture(scope="session")
def shared_ccache(tmp_path_factory) -> Path:
    """One ccache for the whole test run (and across runs when LTOBISECT_CCACHE_DIR is set)."""
    env = os.environ.get("LTOBISECT_CCACHE_DIR")
    path = Path(env) if env else tmp_path_factory.mktemp("ccache")
    path.mkdir(parents=True, exist_ok=True)
    return path
