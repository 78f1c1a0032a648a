"""Shared fixtures: where the real kernel tree and the shared ccache are.

`scripts/bootstrap test` unpacks Debian's linux-source-6.1 and linux-source-6.12 and sets
LTOBISECT_KERNEL_TREE (6.1, built with clang-16), LTOBISECT_KERNEL_TREE_612 (6.12, clang-19)
and LTOBISECT_REQUIRE_KERNEL=1, so in CI a missing tree or toolchain fails instead of skipping.
Run by hand without the tree, the kernel tests skip with the reason. The same holds for the
programs a test names with ``@pytest.mark.needs(...)``, and for what a test asks for with
``support.missing(...)`` (tests/support.py, which also has ``wait_until``).
"""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import background
from support import missing as _missing

DEFAULT_TREE = Path("/var/cache/ltobisect/linux-source-6.1")
DEFAULT_TREE_612 = Path("/var/cache/ltobisect/linux-source-6.12")


def pytest_configure(config) -> None:
    # A suite started in the background of a non-interactive shell (`.ci/run &`, nohup, many
    # CI runners) inherits SIGINT ignored, and then _thread.interrupt_main() does nothing: the
    # Ctrl-C tests would wait for an interrupt that never comes. Python's own handler back.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items) -> None:
    background.order_last(items)


@pytest.fixture(scope="session", autouse=True)
def background_fixtures(request, own_cache_home):
    """The ``@background.fixture`` runs start with the session (tests/background.py)."""
    background.start(request)
    yield
    background.stop()


def pytest_runtest_setup(item) -> None:
    """``@pytest.mark.needs("cc", "make")``: a test whose programs are missing is skipped by hand
    and failed in CI, which installs them all (a silent skip there would hide a broken setup)."""
    for mark in item.iter_markers(name="needs"):
        gone = [p for p in mark.args if shutil.which(p) is None]
        if gone:
            _missing(f"{', '.join(gone)} not installed (scripts/bootstrap test installs them)")


def _tree(variable: str, default: Path, suffix: str) -> Path:
    tree = Path(os.environ.get(variable, default))
    if not (tree / "Makefile").is_file() or not (tree / "Kconfig").is_file():
        _missing(f"no Linux tree at {tree} ({variable})")
    for tool in (f"clang{suffix}", f"ld.lld{suffix}", f"llvm-ar{suffix}"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is not installed")
    return tree


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The pristine Linux 6.1 tree, built with clang-16 (read-only: never build in it)."""
    return _tree("LTOBISECT_KERNEL_TREE", DEFAULT_TREE, "-16")


@pytest.fixture(scope="session")
def kernel_tree_612() -> Path:
    """The pristine Linux 6.12 tree (6.11+ Kconfig choices), built with clang-19."""
    return _tree("LTOBISECT_KERNEL_TREE_612", DEFAULT_TREE_612, "-19")


@pytest.fixture(scope="session", autouse=True)
def own_cache_home(tmp_path_factory) -> Path:
    """The hook's default work directories go under the test run's own cache directory, never
    into the user's ~/.cache (commands started by the tests inherit the variable)."""
    path = tmp_path_factory.mktemp("cache-home")
    os.environ["LTOBISECT_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def shared_ccache(tmp_path_factory) -> Path:
    """One ccache for the whole test run (and across runs when LTOBISECT_CCACHE_DIR is set)."""
    env = os.environ.get("LTOBISECT_CCACHE_DIR")
    path = Path(env) if env else tmp_path_factory.mktemp("ccache")
    path.mkdir(parents=True, exist_ok=True)
    return path
