"""The commands that run something: a session (`minimize`, `hook`, `resume`, `demo`), the report
of one (`report`), or the checkout's benchmark scripts (`bench`). Each checks its own inputs,
records the state directory in the Context as soon as it is known, and returns the exit code."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict

from ltobisect import process
from ltobisect.conductor import each_failure

from ltobisect.artifacts import report
from ltobisect.cli.context import PROG, Context
from ltobisect.cli.options import check_llvm_matrix, session_config
from ltobisect.cli.reduce import check_reduce_tools, with_reduction
from ltobisect.cli.run import resume_starter, run_session, starter
from ltobisect.config import BuildSpec, FarmAccess, SessionConfig, default_work_dir, is_kernel_tree
from ltobisect.farmcheck import check_farm, farm_access
from ltobisect.store.dirlock import write_problem
from ltobisect.errors import ExitCode, UserError
from ltobisect.conductor.load import validate
from ltobisect.makecheck import check_make_path
from ltobisect.store.state import StateDir
from ltobisect.inputs import (
    arch_from_config,
    check_outputs,
    check_state_dir,
    check_state_path,
    check_tree,
    find_source_tree,
    free_dir,
    llvm_from_config,
    read_config,
    read_text_file,
)

#: The checkout this package runs from, when it runs from one: the benchmarks live there.
REPO = Path(__file__).resolve().parent.parent.parent


def demo_source() -> Path:
    """The demo's sources: the package data ``ltobisect/demo_tree`` of an installed ltobisect
    (pyproject.toml installs examples/demo there), else examples/demo of the checkout."""
    import importlib.resources

    try:
        installed = Path(str(importlib.resources.files("ltobisect") / "demo_tree"))
    except (ImportError, TypeError, ValueError):
        installed = None
    if installed is not None and (installed / "Kconfig").is_file():
        return installed
    return REPO / "examples" / "demo"


DEMO_SOURCE = demo_source()
BENCH_DIR = REPO / "benchmarks"


def cmd_minimize(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect minimize`."""
    check_outputs(args)  # every output path is writable, before the first build
    tree = check_tree(args.tree)
    bad = args.bad_config
    read_config(bad, "bad config")
    summary_json = args.summary_json  # checked by check_outputs
    state_path = args.state if args.state is not None else free_dir("ltobisect-state")
    state = check_state_path(state_path, "--state")
    # Everything that can be checked is checked before the session creates its state directory.
    config = session_config(args, bad=bad, tree=tree, state=state, budget=args.budget)
    check_reduce_tools(args, config)
    ctx.state = state
    reporter = ctx.reporter(args.json, config.workers)
    return run_session(with_reduction(starter(config), args, config, args.budget), state,
                       reporter, args.budget, summary_json)


def cmd_hook(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect hook`: minimize after a failed build, within a budget, without questions."""
    check_outputs(args)  # every output path is writable, before the first build
    build_dir = args.build_dir
    if not build_dir.is_dir():
        raise UserError(f"--build-dir {build_dir} is not a directory",
                        "give the O= directory of the failed build")
    bad = build_dir / ".config"
    if not bad.exists():
        raise UserError(f"{build_dir} has no .config",
                        "give the O= directory of the failed build, the one holding .config")
    settings = read_config(bad, "bad config")
    tree = check_tree(args.tree if args.tree is not None else find_source_tree(build_dir))
    if args.arch is None and is_kernel_tree(tree):
        args.arch = arch_from_config(settings, read_text_file(bad, "bad config")[:400])
    if args.llvm is None:
        args.llvm = llvm_from_config(settings)
    budget = args.budget if args.budget is not None else args.budget_default
    summary_json = args.summary_json  # checked by check_outputs
    out = check_state_path(args.out if args.out is not None else free_dir("ltobisect-hook"), "--out")
    # Only what a CI job uploads goes to --out: the journal and build directories go elsewhere.
    config = session_config(args, bad=bad, tree=tree, state=out, budget=budget,
                            work_dir=default_work_dir(out))
    check_reduce_tools(args, config)
    ctx.state = out
    # A build farm's log is not a terminal: plain lines unless --json, even under a TTY.
    reporter = ctx.reporter(args.json, config.workers, plain=True)
    code = run_session(with_reduction(starter(config), args, config, budget), out, reporter,
                       budget, summary_json)
    if code in (ExitCode.MINIMIZED, ExitCode.NOT_REPRODUCED) and args.work_dir is None \
            and config.work_dir is not None:
        prune_work_dir(Path(config.work_dir))  # our default; a given --work-dir may be a cache
    return code


def prune_work_dir(work: Path) -> None:
    """After a hook session that will not be resumed: drop the build directories (gigabytes on
    a kernel; the next session has its own). The journal and logs stay for `report`."""
    for name in ("workers", "lld-reproduce", "olddefconfig"):
        shutil.rmtree(work / name, ignore_errors=True)


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect resume`."""
    check_outputs(args)  # every output path is writable, before the first build
    state = check_state_dir(args.state_dir)
    ctx.state = state
    config = each_failure.stored(state).config  # UserError if the session is damaged
    settings = resume_settings(args, config)
    check_resumable(state, config)
    workers = settings.get("workers", config.workers)
    reporter = ctx.reporter(args.json, workers)
    return run_session(resume_starter(state, settings), state, reporter, args.budget)


def check_resumable(state: Path, config: SessionConfig) -> None:
    """The session's inputs are where it found them (a moved tree, a deleted config), checked
    before the session claims its directory: the error says so in the words of `resume`, and
    nothing in the state directory is written. A session an earlier run minimized needs none
    of them (it only says its result)."""
    if StateDir(state).minimized() is not None:
        return
    try:
        validate(config)
    except UserError as exc:
        raise UserError(f"cannot resume {state}: {exc}",
                        f"put it back where the session found it, or start a new session; "
                        f"what {state} holds is unchanged") from None


def resume_settings(args: argparse.Namespace, config: SessionConfig) -> Dict[str, Any]:
    """What `resume` changes of the stored session: where and how many builds run, its limits."""
    for name in ("workers", "max_builds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} must be at least 1, not {value}", f"for example {option} 2")
    if args.budget is not None and args.budget <= 0:
        raise UserError("--budget must be more than 0", "for example --budget 2h")
    settings: Dict[str, Any] = {}
    if args.scheduler:
        settings["scheduler"] = args.scheduler
    asked = farm_access(args)
    if asked != FarmAccess():
        settings["farm"] = asked
    check_farm(settings.get("scheduler", config.scheduler), settings.get("farm", config.farm))
    if args.workers is not None:
        settings["workers"] = args.workers
    limits = config.limits
    if args.budget is not None:
        limits = replace(limits, deadline=args.budget)
    if args.max_builds is not None:
        limits = replace(limits, max_tests=args.max_builds)
    if limits != config.limits:
        settings["limits"] = limits
    if getattr(args, "llvm_matrix", None):
        assert config.build is not None or config.test_script is not None
        settings["llvm_matrix"] = check_llvm_matrix(
            args.llvm_matrix, config.build, config.test_script,  # type: ignore[arg-type]
            settings.get("scheduler", config.scheduler))
    return settings


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect report`: render report.txt again and print it."""
    state = check_state_dir(args.state_dir)
    sys.stdout.write(report_of(state))
    sys.stdout.flush()
    return ExitCode.MINIMIZED


def report_of(state: Path) -> str:
    """The session's report: rendered again (and written) when the session is all here; printed
    as written when its journal is not (a --out directory downloaded from a CI job: the render
    would lose the statistics); rendered without writing in a read-only directory."""
    written = state / each_failure.REPORT_FILE
    if each_failure.is_each_failure(state):
        return written.read_text(errors="replace")
    stored = StateDir(state)
    stored.read_session()  # a damaged session.json is one clear line, not an empty report
    if not stored.journal_file.is_file() and written.is_file():
        return written.read_text(errors="replace")
    if write_problem(state) is not None:  # a read-only copy: what a render gives, unwritten
        return report.render_text(state)
    return Path(report.render(state)).read_text(errors="replace")


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect demo`: copy the embedded demo and minimize its randconfig for real."""
    check_outputs(args)  # every output path is writable, before the first build
    if not (DEMO_SOURCE / "Kconfig").is_file():
        raise UserError(f"the demo sources are missing ({DEMO_SOURCE})",
                        "reinstall ltobisect with `pip install .` in its checkout, or run "
                        "`scripts/bootstrap demo` there")
    for tool in ("make", "cc"):
        if shutil.which(tool) is None:
            raise UserError(f"the demo needs {tool}, which is not installed",
                            "apt-get install make gcc libc6-dev")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, not {args.workers}", "for example --workers 2")
    if args.dir is not None:
        top = args.dir.expanduser()
        check_make_path(top.resolve(), "the demo directory")
        if top.exists() and (not top.is_dir() or any(top.iterdir())):
            raise UserError(f"{top} already exists and is not empty", "give a new directory")
        top.mkdir(parents=True, exist_ok=True)
    else:
        top = Path(tempfile.mkdtemp(prefix="ltobisect-demo-"))
    top = top.resolve()
    tree = top / "tree"
    shutil.copytree(DEMO_SOURCE, tree, ignore=shutil.ignore_patterns("__pycache__", "*.o", "out*"))
    _read_only(tree)
    state = top / "state"
    ctx.state = state
    config = SessionConfig(
        bad_config=tree / "configs" / "randconfig.config",
        state_dir=state,
        build=BuildSpec(tree=tree, jobs=1),
        baseline=str(tree / "configs" / "baseline.config"),
        workers=args.workers,
        strategy=args.strategy,
    )
    if not args.json:
        # One path a line: a long temporary path must not break in the middle at 80 columns.
        sys.stderr.write(f"{PROG}: demo tree {tree}\n{PROG}: artifacts {state}\n")
    reporter = ctx.reporter(args.json, config.workers, title="ltobisect demo")
    return run_session(starter(config), state, reporter, None)


def _read_only(tree: Path) -> None:
    """Make a copied tree read-only, as the source tree of a real run is treated."""
    for root, dirs, files in os.walk(tree):
        for name in files:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode & ~0o222)


def cmd_bench(args: argparse.Namespace, ctx: Context) -> int:
    """`ltobisect bench`: run benchmarks/*.py of the checkout."""
    if not BENCH_DIR.is_dir():
        raise UserError(f"no benchmarks in this installation ({BENCH_DIR} does not exist)",
                        "run from a checkout of ltobisect")
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
    if args.list:
        for p in scripts:
            print(p.stem)
        return 0
    if args.name:
        wanted = [p for p in scripts if p.stem == args.name or p.name == args.name]
        if not wanted:
            raise UserError(f"no benchmark named {args.name!r}",
                            "one of " + ", ".join(p.stem for p in scripts))
        scripts = wanted
    if not scripts:
        raise UserError(f"{BENCH_DIR} has no benchmark scripts", "see `ltobisect bench --list`")
    worst = 0
    for p in scripts:
        print(f"== {p.stem}", flush=True)
        # Through the process room: Ctrl-C or a kill of ltobisect kills the benchmark's group.
        rc = process.run([sys.executable, str(p), *args.args], cwd=REPO).exit_code
        rc = 1 if rc is None else rc  # a signal ended it
        worst = worst or rc
    return ExitCode.INFRA if worst else 0
