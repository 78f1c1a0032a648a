"""reproduce.sh judges a build as ltobisect does, and names the tree it was given.

A compile error of the function whose call failed to link prints the same symbol as the link
error: reproduce.sh must call that build another failure (exit 1, 125 with --bisect), as the
session did, not REPRODUCED. With python3 it asks judge.py, ltobisect's own matcher written
out beside it; without python3 it greps the failure's line in its tool's layout. One demo
session (real builds of examples/demo by the machine's cc, about 20-40 s) serves the module;
the judge is also held against :func:`ltobisect.logs.signature.matches` on the logs of tests/logs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from ltobisect.logs import signature as sg
from ltobisect.artifacts.judge_bundle import OTHER, SHOWS, bundled_sources, judge_program
from ltobisect.logs.judge_grep import fallback_pattern
from ltobisect.model import Signature

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "tests" / "logs"
#: Where tests/logs' kernel logs were built (their README); the GNU ones name their own roots.
LOG_ROOTS = ("/tmp/ltb/tree", "/tmp/ltb/out")
REPRODUCED, NOT_REPRODUCED, CANNOT = 0, 1, 2
BAD, SKIP = 1, 125
#: The demo's failing call, and the same call as a compile error (one argument too few).
CALL = "trace_net_queue_packet(skb->queue_mapping, skb->len);"
TOO_FEW = "trace_net_queue_packet(skb->queue_mapping);"
#: What reproduce.sh and the demo's build run, for a PATH without python3.
TOOLS = ("sh", "make", "cc", "gcc", "as", "ld", "grep", "sed", "dirname", "mktemp", "mkdir",
         "cp", "date", "nproc", "getconf", "cat", "cmp", "mv", "rm", "ln")

needs_cc = pytest.mark.needs("cc", "make")


# -- the judge against ltobisect's matcher, on real logs ---------------------------------------
def judge(tmp: Path, sig: Signature, log: Path, *roots: str) -> Tuple[int, str]:
    """Run judge.py for ``sig`` on ``log`` by a python that cannot import ltobisect (-I -S)."""
    program = tmp / "judge.py"
    program.write_text(judge_program(sig), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-S", str(program), str(log), *roots], cwd=tmp,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (SHOWS, OTHER), done.stderr
    return done.returncode, done.stdout.strip()


def swapped(sig: Signature) -> Signature:
    """The same message and location as the other of compile and link error."""
    if sig.kind == "compile-error":
        return replace(sig, kind="link-error", tool="ld")
    return replace(sig, kind="compile-error", tool="gcc")


def own_failures(text: str) -> List[Signature]:
    found = [f.signature for f in sg.find_all(text, roots=LOG_ROOTS)]
    fb = sg.fallback(text, LOG_ROOTS)
    return found + ([fb.signature] if fb else [])


LOG_FILES = sorted(p.name for p in LOGS.glob("*.log"))


@pytest.mark.parametrize("name", LOG_FILES)
def test_the_judge_says_what_ltobisect_says_of_each_log(name, tmp_path):
    log = LOGS / name
    text = log.read_text(encoding="utf-8", errors="replace")
    own = own_failures(text)
    for sig in own:  # every failure the log shows: reproduced
        assert sg.matches(sig, text, roots=LOG_ROOTS) is True, sig
        assert judge(tmp_path, sig, log, *LOG_ROOTS)[0] == SHOWS, sig
    linkish = [s for s in own if s.kind in ("compile-error", "link-error")]
    for sig in linkish:  # the same words as the other kind: another failure
        other = swapped(sig)
        assert sg.matches(other, text, roots=LOG_ROOTS) is False, other
        status, said = judge(tmp_path, other, log, *LOG_ROOTS)
        assert status == OTHER, other
        primary = sg.extract(text, roots=LOG_ROOTS)
        assert said == (primary.describe() if primary else "")
    # A failure of another log: the judge's verdict is the matcher's.
    foreign = Signature(kind="link-error", tool="ld.lld", message="undefined symbol: demo_missing",
                        location="demo_missing")
    assert sg.matches(foreign, text, roots=LOG_ROOTS) is False
    assert judge(tmp_path, foreign, log, *LOG_ROOTS)[0] == OTHER


@pytest.mark.parametrize("name", LOG_FILES)
def test_the_grep_without_python_finds_the_line_of_each_failure_and_not_the_other_kind(name):
    log = LOGS / name
    text = log.read_text(encoding="utf-8", errors="replace")
    for sig in own_failures(text):
        pattern = fallback_pattern(sig)
        assert pattern is not None, sig
        for locale in ("C", "C.UTF-8"):
            found = subprocess.run(["grep", "-Eq", "-e", pattern, str(log)],
                                   env={**os.environ, "LC_ALL": locale})
            assert found.returncode == 0, (sig, pattern, locale)
        # A link error's words as a compile error, a compile error in another file: no line.
        if sig.kind == "link-error":
            other = swapped(sig)
        elif sig.kind == "compile-error" and sig.location:
            other = replace(sig, location="drivers/elsewhere.c")
        else:
            continue
        found = subprocess.run(["grep", "-Eq", "-e", fallback_pattern(other), str(log)])
        assert found.returncode == 1, (other, fallback_pattern(other))


def test_the_judge_bundles_the_matcher_with_what_it_imports_first():
    """The log modules live in ltobisect/logs/, model and errors at the top: the bundle crosses
    the packages, by dotted name, and keeps a module after the ones it imports."""
    order = list(bundled_sources())
    assert order[-1] == "logs.signature"
    for name in ("model", "errors", "logs.lognorm", "logs.logtools", "logs.logscan"):
        assert order.index(name) < order.index("logs.signature")
    assert order.index("logs.lognorm") < order.index("logs.logscan")
    assert order.index("model") < order.index("logs.logtools")


def test_a_log_it_cannot_read_is_not_another_failure(tmp_path):
    program = tmp_path / "judge.py"
    program.write_text(judge_program(Signature(kind="link-error", tool="ld.lld",
                                               message="undefined symbol: x", location="x")))
    done = subprocess.run([sys.executable, "-I", "-S", str(program), str(tmp_path / "no.log")],
                          capture_output=True, text=True)
    assert done.returncode not in (SHOWS, OTHER) and "cannot read the log" in done.stderr


# -- the demo: reproduce.sh on the tree, and on the tree with a compile error ------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Dict[str, Path]:
    """One demo session: its state, its tree, and a copy of the tree whose failing call is a
    compile error (too few arguments) instead of a link error."""
    top = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ltobisect", "demo", str(top / "demo")],
                          cwd=top, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state, tree = top / "demo" / "state", top / "demo" / "tree"
    edited = top / "edited"
    shutil.copytree(tree, edited)
    for path in [edited, *edited.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    sched = edited / "net" / "sched.c"
    assert CALL in sched.read_text()
    sched.write_text(sched.read_text().replace(CALL, TOO_FEW))
    return {"state": state, "tree": tree, "edited": edited, "top": top}


def run(script: Path, *args, cwd: Path, path: str = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LTOBISECT_TREE"}
    if path is not None:
        env["PATH"] = path
    sh = shutil.which("sh")
    return subprocess.run([sh, str(script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@needs_cc
def test_the_demo_tree_reproduces(demo, tmp_path):
    state = demo["state"]
    assert (state / "judge.py").is_file()
    assert "judge.py" in (state / "report.txt").read_text().split("Attachments:", 1)[1]
    ok = run(state / "reproduce.sh", demo["tree"], "-o", tmp_path / "out", cwd=tmp_path)
    assert ok.returncode == REPRODUCED, ok.stdout + ok.stderr
    assert "REPRODUCED: ld: undefined reference to 'trace_net_queue_packet' (link-error)" \
        in ok.stdout
    assert run(state / "reproduce.sh", "--bisect", demo["tree"], "-o", tmp_path / "out2",
               cwd=tmp_path).returncode == BAD


@needs_cc
def test_a_compile_error_of_the_same_function_is_another_failure(demo, tmp_path):
    state, edited = demo["state"], demo["edited"]
    other = run(state / "reproduce.sh", edited, "-o", tmp_path / "out", cwd=tmp_path)
    assert other.returncode == NOT_REPRODUCED, other.stdout + other.stderr
    assert "REPRODUCED" not in other.stdout
    assert "did not reproduce: the build failed in another way" in other.stdout
    assert "too few arguments to function 'trace_net_queue_packet' [net/sched.c] " \
           "(compile-error)" in other.stdout
    # ltobisect says the same of that log: another failure, the compile error.
    log = (tmp_path / "out" / "reproduce.log").read_text()
    sig = Signature.from_json(json.loads((state / "session.json").read_text())["signature"])
    roots = (str(edited), str(tmp_path / "out"))
    assert sg.matches(sig, log, roots=roots) is False
    assert sg.extract(log, roots=roots).kind == "compile-error"
    # git bisect run must skip it (another error may hide the failure), not call it bad.
    bisect = run(state / "reproduce.sh", "--bisect", edited, "-o", tmp_path / "out2",
                 cwd=tmp_path)
    assert bisect.returncode == SKIP, bisect.stdout + bisect.stderr
    assert "REPRODUCED" not in bisect.stdout


@needs_cc
def test_without_python3_the_grep_still_tells_the_two_apart(demo, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    assert shutil.which("python3", path=str(bin_dir)) is None
    script = demo["state"] / "reproduce.sh"
    ok = run(script, demo["tree"], "-o", tmp_path / "out1", cwd=tmp_path, path=str(bin_dir))
    assert ok.returncode == REPRODUCED, ok.stdout + ok.stderr
    assert "no python3: judging the log by grep" in ok.stderr
    other = run(script, demo["edited"], "-o", tmp_path / "out2", cwd=tmp_path, path=str(bin_dir))
    assert other.returncode == NOT_REPRODUCED, other.stdout + other.stderr
    assert "REPRODUCED" not in other.stdout
    assert run(script, "--bisect", demo["edited"], "-o", tmp_path / "out3", cwd=tmp_path,
               path=str(bin_dir)).returncode == SKIP


@needs_cc
def test_without_judge_py_it_says_so_and_greps(demo, tmp_path):
    mailed = tmp_path / "mailed"
    mailed.mkdir()
    for name in ("reproduce.sh", "minimal.config"):
        shutil.copy(demo["state"] / name, mailed / name)
    other = run(mailed / "reproduce.sh", demo["edited"], "-o", tmp_path / "out", cwd=tmp_path)
    assert other.returncode == NOT_REPRODUCED, other.stdout + other.stderr
    assert "judge.py is missing beside" in other.stderr and "by grep" in other.stderr


@needs_cc
def test_a_path_that_is_not_a_tree_is_named_and_nothing_is_made(demo, tmp_path):
    script = demo["state"] / "reproduce.sh"
    missing = tmp_path / "does-not-exist"
    # Run inside a tree, as the user did: the typo is not taken as the output directory.
    for args, code in (((missing,), CANNOT), (("--bisect", missing), SKIP)):
        done = run(script, *args, cwd=demo["tree"])
        assert done.returncode == code, done.stdout + done.stderr
        assert f"no source tree at {missing}" in done.stderr
        assert not missing.exists() and "building" not in done.stdout
    plain = tmp_path / "plain-dir"
    plain.mkdir()
    done = run(script, plain, cwd=demo["tree"])
    assert done.returncode == CANNOT and f"{plain} is not a source tree" in done.stderr
    assert list(plain.iterdir()) == []
