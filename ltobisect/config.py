"""Frozen settings of a session, built by the CLI (or a test) and read by every layer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple


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
    ccache_dir: Optional[Path] = None  # None: <state>/ccache; ccache unused when not installed
    use_ccache: bool = True
    sandbox: str = "auto"  # auto (bubblewrap when installed) | bwrap | none
    keep_going: bool = True  # make -k, so an unrelated earlier error cannot hide ours
    kconfig_file: str = "Kconfig"  # the top Kconfig file, relative to the tree


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
    #: Which distinct failure of the log to minimize (1-based, as `ltobisect failures` numbers
    #: them: the user's --log, else the bad config's own build log); None: the primary one.
    failure: Optional[int] = None
    #: One of several searches of ``--each-failure``: every build makes the targets of all the
    #: log's failures, so that its log answers each search (see ``ltobisect.each_failure``).
    each_failure: bool = False
    #: Where the worker O= directories, logs, ccache and journal live; None: the state directory.
    work_dir: Optional[Path] = None
