"""Real, unplanted failures, minimized through the command line as a tester would.

Each case in examples/linux-lto/real/<name>/ was found by examples/linux-lto/hunt.sh on these
machines: a randconfig of a Debian kernel tree that fails to build with a Debian clang. The case
keeps the bad config in `savedefconfig` form (expanded here by the kernel's own `make
olddefconfig`), the build log of the failing `make -k` (xz), and case.json: tree, toolchain,
make variables, which failure to minimize (a `--signature` regex or `--failure N`) and the tier
(the default CI run, or `slow`). A case that is another failure of a kept log names that case
in ``from`` instead of keeping the files twice.

Checked with the kernel's own tools: the fragment appended to the baseline, and through
merge_config.sh, gives the config that was tested (`make olddefconfig`); `reproduce.sh` from a
clean O= directory shows the failure, and with any one line of the fragment left out it does not
(besides the search's own 1-minimality re-check); a compile error is tested on its directory,
not the whole kernel.
"""
from __future__ import annotations

import json
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_support import LINUX_LTO, Run, fragment_lines, minimize

from ltobisect.logs import signature as sg
from ltobisect.model import Signature

pytestmark = pytest.mark.kernel

CASES = LINUX_LTO / "real"


def _cases() -> list:
    out = []
    for d in sorted(p for p in CASES.iterdir() if (p / "case.json").is_file()) if CASES.is_dir() else []:
        meta = json.loads((d / "case.json").read_text())
        marks = [pytest.mark.slow] if meta.get("tier") == "slow" else []
        out.append(pytest.param(d.name, marks=marks, id=d.name))
    return out


@pytest.fixture(scope="module", params=_cases())
def case(request, shared_ccache: Path, tmp_path_factory) -> dict:
    meta = json.loads((CASES / request.param / "case.json").read_text())
    d = CASES / meta.get("from", request.param)  # another failure of a case already kept
    tree = request.getfixturevalue("kernel_tree_612" if meta["kernel"] == "6.12" else "kernel_tree")
    work = tmp_path_factory.mktemp(request.param)
    out = work / "expand"
    out.mkdir()
    (out / ".config").write_text((d / "bad.defconfig").read_text())
    llvm = meta["llvm"]
    subprocess.run(["make", "-s", "-C", str(tree), f"O={out}", f"ARCH={meta['arch']}", f"LLVM={llvm}",
                    *meta.get("make", []), "olddefconfig"], check=True, capture_output=True, text=True)
    bad = work / "bad.config"
    bad.write_text((out / ".config").read_text())
    log = work / "build.log"
    log.write_bytes(lzma.decompress((d / "build.log.xz").read_bytes()))
    # The LTO matrix is shown on the planted 6.1 case (test_e2e_kernel); two more builds each here
    # would cost the default run minutes.
    args = ["--arch", meta["arch"], "--log", str(log), "--workers", "2", "--no-lto-matrix", *meta["args"]]
    for var in meta.get("make", []):
        args += ["--make", var]
    run = minimize(bad, tree, work / "state", shared_ccache, *args, timeout=60 * 60,
                   pytestconfig=request.config, llvm=llvm)
    return {"meta": meta, "run": run, "tree": tree, "log": log}


def test_the_real_failure_is_minimized_and_verified(case: dict) -> None:
    run: Run = case["run"]
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    assert "Traceback" not in run.proc.stderr
    summary = run.summary()
    assert summary["status"] == "minimized"
    assert summary["verified"] is True
    assert summary["verification"]["minimality_checked"] is True
    lines = fragment_lines(run.state)
    assert 1 <= len(lines) < summary["total_changes"]
    # The error line a maintainer greps for, from the failure the case names.
    assert case["meta"]["expect_line"] in summary["failure_line"]
    # The failure's own kind chose the target: a compile error builds its directory.
    if case["meta"].get("expect_target"):
        assert summary["target"] == case["meta"]["expect_target"]
    if case["meta"].get("expect_fragment"):  # measured once; a real failure has one minimal form
        assert lines == set(case["meta"]["expect_fragment"])


def test_every_reproducing_build_showed_the_failure_itself(case: dict) -> None:
    """No slippage: each build judged `reproduces` showed the session's failure (for a crash,
    the same assertion / LLVM error, stage and signal), never another one at the same place."""
    run: Run = case["run"]
    sig = run.summary()["signature"]
    records = [json.loads(ln) for ln in (run.state / "journal.jsonl").read_text().splitlines()]
    reproduced = [r for r in records if r.get("verdict") == "reproduces"]
    assert len(reproduced) >= 2  # the bad config and at least the verified result
    if sig["kind"] == "regex":
        return  # a regex decides by the log alone; its records keep the regex
    ours = Signature.from_json(sig)
    for r in reproduced:
        seen = Signature.from_json(r["signature"])
        assert sg.same(seen, ours), (r["digest"], seen.describe())


def test_the_kernels_tools_read_the_fragment_as_tested(case: dict) -> None:
    summary = case["run"].summary()
    mk = summary["verification"]["olddefconfig"]
    assert mk["checked"] is True and mk["equal"] is True, mk
    assert mk["readings"]["appended"]["equal"] is True
    assert mk["readings"]["merge_config"]["equal"] is True
    assert summary["conf_disagreements"] == 0


def test_reproduce_sh_shows_the_failure_from_a_clean_build_dir(case: dict, tmp_path: Path) -> None:
    run: Run = case["run"]
    out = tmp_path / "out"
    proc = subprocess.run(["sh", str(run.state / "reproduce.sh"), "-o", str(out)],
                          capture_output=True, text=True, timeout=30 * 60)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    meta = case["meta"]
    shown = meta.get("expect_log") or meta["expect_line"].split(": error: ")[-1]
    assert shown in (out / "reproduce.log").read_text()


def test_removing_any_line_of_the_fragment_stops_the_failure(case: dict, tmp_path: Path) -> None:
    """1-minimal by the kernel's own tools: reproduce.sh with each line left out does not fail."""
    run: Run = case["run"]
    lines = sorted(fragment_lines(run.state))
    for i, left_out in enumerate(lines):
        d = tmp_path / f"without-{i}"
        d.mkdir()
        shutil.copy(run.state / "reproduce.sh", d / "reproduce.sh")
        shutil.copy(run.state / "judge.py", d / "judge.py")
        (d / "fragment.config").write_text("".join(ln + "\n" for ln in lines if ln != left_out))
        proc = subprocess.run(["sh", str(d / "reproduce.sh"), "-o", str(d / "out")],
                              capture_output=True, text=True, timeout=30 * 60)
        assert proc.returncode == 1, f"without {left_out}: " + proc.stdout[-2000:] + proc.stderr[-2000:]
