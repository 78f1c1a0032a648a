"""Checking the options a command was given and turning them into settings: the SessionConfig of
`minimize` and `hook`, the BuildSpec of the commands that only read Kconfig, and the checked text
of a config file. Every check that can be made before the first build is made here (with
:mod:`ltobisect.inputs`), so bad input costs a second, not a kernel build."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional, Tuple

from ltobisect.config import BASELINES, BuildSpec, Limits, SessionConfig, is_kernel_tree
from ltobisect.matrix import llvm as llvm_matrix
from ltobisect.logs import signature as sg
from ltobisect.farmcheck import check_farm, farm_access
from ltobisect.errors import UserError
from ltobisect.conductor.failures import numbered
from ltobisect.makecheck import check_make_path, check_targets
from ltobisect.inputs import (
    check_arch,
    check_baseline,
    check_config_text,
    check_llvm,
    check_script,
    check_signature,
    check_strategy,
    check_toolchain,
    check_tree,
    check_writable_dir,
    parse_make_vars,
    read_config,
    read_text_file,
)


def check_llvm_matrix(text: str, build: BuildSpec, test_script: Optional[Path],
                      scheduler: Optional[str]) -> Tuple[str, ...]:
    """--llvm-matrix: releases that exist (here, unless a farm builds), and a toolchain that
    names an LLVM release to move from (checked before the first build)."""
    if test_script is not None:
        raise UserError("--llvm-matrix builds the result with other LLVM releases; a --test "
                        "script decides by itself", hint="drop one of them")
    majors = llvm_matrix.parse(text)
    llvm_matrix.retarget(build, majors[0])  # UserError: not an LLVM toolchain
    if scheduler is None:
        for major in majors:
            gone = llvm_matrix.missing(major)
            if gone:
                raise UserError(f"--llvm-matrix: {gone} not installed",
                                hint=f"apt-get install clang-{major} lld-{major}, or leave {major} out")
    return majors


def _check_positive(args: argparse.Namespace, name: str, minimum: int = 1) -> None:
    value = getattr(args, name, None)
    if value is not None and value < minimum:
        option = "--" + name.replace("_", "-")
        raise UserError(f"{option} must be at least {minimum}, not {value}",
                        f"for example {option} {max(minimum, 2)}")


def _check_conflicts(args: argparse.Namespace) -> None:
    pairs = [("test", "signature"), ("test", "log"), ("test", "target"), ("test", "mem_above"),
             ("test", "time_above"), ("signature", "mem_above"), ("signature", "time_above"),
             ("mem_above", "time_above")]
    pairs += [("failure", other) for other in ("test", "signature", "mem_above", "time_above")]
    pairs += [("each_failure", other) for other in ("failure", "test", "signature", "mem_above",
                                                     "time_above")]
    for a, b in pairs:
        if getattr(args, a, None) not in (None, False) and getattr(args, b, None) not in (None, False):
            raise UserError(f"--{a.replace('_', '-')} and --{b.replace('_', '-')} cannot be "
                            "used together", "each says what the failure is: choose one")


def _check_failure_number(args: argparse.Namespace, tree: Path) -> None:
    """``--failure N`` with ``--log``: the log holds an N-th failure (without a log it is the
    bad config's own build that tells, after its build)."""
    number, log = getattr(args, "failure", None), getattr(args, "log", None)
    if number is None or log is None:
        return
    listed = sg.failures(read_text_file(log, "--log"), roots=(str(tree),))
    numbered(listed, number, str(log))


def session_config(args: argparse.Namespace, *, bad: Path, tree: Path, state: Path,
                   budget: Optional[float], work_dir: Optional[Path] = None) -> SessionConfig:
    """Check every option and turn them into the SessionConfig the session runs.

    ``work_dir`` is the command's default work directory (None: the state directory); a
    ``--work-dir`` option wins over it.
    """
    _check_conflicts(args)
    for name in ("workers", "jobs", "max_builds", "failure"):
        _check_positive(args, name)
    _check_positive(args, "verify", 0)
    _check_positive(args, "seed", 0)
    for name, option in (("timeout", "--timeout"), ("budget", "--budget"),
                         ("time_above", "--time-above")):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise UserError(f"{option} must be more than 0", f"for example {option} 30m")
    for name, option in (("mem_limit", "--mem-limit"), ("mem_above", "--mem-above")):
        value = getattr(args, name, None)
        if value is not None and value < 2**20:
            raise UserError(f"{option} {value} bytes is too small", f"for example {option} 8G")

    bad_settings = read_config(bad, "bad config")
    kernel = is_kernel_tree(tree)
    arch = check_arch(tree, args.arch)
    llvm = check_llvm(args.llvm)
    make_vars = parse_make_vars(args.make)
    given = args.baseline or ("tinyconfig" if kernel else "allnoconfig")
    baseline = check_baseline(given, tree, kernel)
    if baseline not in BASELINES and read_config(Path(baseline), "baseline") == bad_settings:
        raise UserError(f"baseline {given} is the same config as {bad}",
                        "give a baseline that builds, such as tinyconfig or defconfig")
    test_script = check_script(args.test) if args.test is not None else None
    if test_script is None or llvm is not None:
        check_toolchain(llvm, make_vars, kernel)
    check_signature(args.signature, args.log)
    if args.strategy != "default":
        check_strategy(args.strategy)

    workers = args.workers or 1
    jobs = args.jobs or 0
    cores = os.cpu_count() or 1
    if args.build_memory is not None and not args.scheduler:
        raise UserError("--build-memory places builds on a build farm's workers",
                        hint="give --scheduler too, or use --mem-limit for local builds")
    if workers > 4 * cores and not args.scheduler:
        raise UserError(f"--workers {workers} is more than 4x the {cores} cores here",
                        f"use --workers {cores} or fewer; each worker runs its own make -j")
    limits = Limits(deadline=budget, max_tests=args.max_builds)
    ccache_dir = args.ccache_dir or (Path(os.environ["LTOBISECT_CCACHE_DIR"])
                                     if os.environ.get("LTOBISECT_CCACHE_DIR") else None)
    if ccache_dir is not None:
        ccache_dir = check_writable_dir(ccache_dir, "--ccache-dir")
    build = BuildSpec(tree=tree, arch=arch, llvm=llvm, make_vars=make_vars, target=args.target,
                      jobs=jobs, ccache_dir=ccache_dir)
    given_work = getattr(args, "work_dir", None)
    if given_work is not None:
        work_dir = check_writable_dir(given_work, "--work-dir")
    if work_dir is not None and Path(work_dir).resolve() == Path(state).resolve():
        work_dir = None
    # What make is given is checked here, before the session claims its directory: a typo
    # costs a second and leaves nothing behind.
    check_make_path(tree, "the tree")
    check_make_path(work_dir if work_dir is not None else state,
                    "--work-dir" if given_work is not None else
                    "--out" if hasattr(args, "out") else "--state")
    check_targets(tree, args.target, arch)
    _check_failure_number(args, tree)
    extra = {}
    if args.verify is not None:
        extra["verify_repeats"] = args.verify
    if not getattr(args, "lto_matrix", True):
        extra["lto_matrix"] = False
    if not getattr(args, "log_priors", True):
        extra["log_priors"] = False
    if getattr(args, "llvm_matrix", None):
        extra["llvm_matrix"] = check_llvm_matrix(args.llvm_matrix, build, test_script, args.scheduler)
    farm = farm_access(args)
    check_farm(args.scheduler or None, farm)
    return SessionConfig(
        bad_config=bad.resolve(),
        state_dir=state,
        build=build,
        baseline=baseline,
        test_script=test_script,
        signature_regex=args.signature,
        failure_log=args.log.resolve() if args.log is not None else None,
        memory_threshold=args.mem_above,
        duration_threshold=args.time_above,
        workers=workers,
        timeout=args.timeout,
        mem_limit=args.mem_limit,
        strategy=args.strategy,
        seed=args.seed,
        limits=limits,
        failure=getattr(args, "failure", None),
        each_failure=bool(getattr(args, "each_failure", False)),
        scheduler=args.scheduler or None,
        farm=farm,
        build_memory=args.build_memory,
        work_dir=Path(work_dir).resolve() if work_dir is not None else None,
        **extra,
    )


def kconfig_build(args: argparse.Namespace) -> BuildSpec:
    """--tree, --arch, --llvm and --make, checked as `minimize` checks them (no Makefile needed)."""
    tree = check_tree(args.tree, build=False)
    return BuildSpec(tree=tree, arch=check_arch(tree, args.arch), llvm=check_llvm(args.llvm),
                     make_vars=parse_make_vars(args.make))


def config_text(path: Path, what: str, *hint: str) -> str:
    """A config file's text, checked, read once: it may be a pipe (`<(...)`), which a second
    read finds empty."""
    text = read_text_file(path, what)
    check_config_text(text, path, what, *hint)
    return text
