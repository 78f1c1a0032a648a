"""`ltobisect reduce`: the reproducer beyond the config, on the embedded demo (no kernel needed).

Two real failures of the demo, each minimized for real and then reduced through the command:

- its planted compile error (net/tso.c uses a field only CONFIG_NET_GSO adds), built by the
  machine's cc: the failing compile is found by the recorder, its preprocessed source (300
  lines) reduced by C-Vise to a few lines that still fail with the same message; the run is
  killed with SIGKILL half way and continued;
- its planted link error built with clang-16 ThinLTO and ld.lld-16 (bitcode objects): the
  `ld.lld --reproduce` tarball relinks alone, ddmin cuts its 26 inputs to the two bitcode
  objects, llvm-link merges them and llvm-reduce-16 leaves one function calling the symbol;
- a real LLVM 16 bug, the KCOV crash of Linux 6.1 (ClangBuiltLinux issue 1721) on a demo copy
  with kcov as Linux has it: ld.lld-16 aborts in a ThinLTO backend; the merged module is
  refused by llvm-link's verifier, so each of the two modules left is reduced on its own (one
  function calling the comparison callback without a debug location, and the callback), and
  the failing stage is named.

Every attachment is rerun from a copy of reduced/ alone. The pieces (thin archives, response
files, the compile command's flags, the recorder, the judge at any place) are tested without
builds below.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from ltobisect import process
from ltobisect.logs import signature as sg
from ltobisect.errors import UserError
from ltobisect.artifacts.judge_bundle import judge_program
from ltobisect.model import Signature, SignatureKind
from ltobisect.testing.planted import demo_kcov_tree
from ltobisect.reducer import compile as cc
from ltobisect.reducer import link as lk
from ltobisect.reducer.common import package_of, require

from support import wait_until

from schema_support import check_lines, read_summary

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
LINK_CULPRITS = {"CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"}
GSO_ERROR = "'const struct sk_buff' has no member named 'gso_size'"


def ltobisect(*args, cwd: Path, env=None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "ltobisect", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def finished(proc: subprocess.Popen, timeout: float = 600):
    out, err = proc.communicate(timeout=timeout)
    if "--json" in proc.args:  # every line follows schema 1, whatever ended the run
        check_lines([json.loads(line) for line in out.splitlines()])
    return proc.returncode, out, err


def demo_copy(tmp: Path) -> Path:
    tree = tmp / "tree"
    shutil.copytree(DEMO, tree)
    return tree


def gso_compile_error(tmp: Path):
    """A copy of the demo, and its randconfig without NET_GSO: net/tso.c fails to compile."""
    tree = demo_copy(tmp)
    bad = tmp / "bad.config"
    bad.write_text((tree / "configs" / "randconfig.config").read_text().replace(
        "CONFIG_NET_GSO=y", "# CONFIG_NET_GSO is not set"))
    return tree, bad


def summary(state: Path) -> dict:
    return read_summary(state / "summary.json")


def rerun_download(state: Path, where: Path) -> subprocess.CompletedProcess:
    """reduced.tar.gz unpacked in ``where``, as a maintainer downloads it, and its repro.sh run."""
    with tarfile.open(state / "reduced" / "reduced.tar.gz") as tar:
        tar.extractall(where)
    return subprocess.run(["sh", str(where / "reduced" / "repro.sh")], capture_output=True,
                          text=True, timeout=60)


needs_cvise = pytest.mark.needs("cvise", "cc")
needs_llvm16 = pytest.mark.needs("clang-16", "ld.lld-16", "llvm-link-16", "llvm-reduce-16")


# -- the compile error, through the CLI -----------------------------------------------------------
@needs_cvise
def test_the_compile_error_reduces_to_a_few_lines_and_a_kill_continues(tmp_path):
    tree, bad = gso_compile_error(tmp_path)
    state = tmp_path / "state"
    code, _, err = finished(ltobisect("minimize", bad, "--tree", tree, "--baseline",
                                      tree / "configs" / "baseline.config", "--state", state,
                                      "--workers", "2", "--json", cwd=tmp_path))
    assert code == 0, err
    assert summary(state)["signature"]["kind"] == "compile-error"
    assert summary(state)["reduced"] is None  # no reduction unless asked

    # Kill -9 once C-Vise has written a smaller file; the next run starts from that file.
    proc = ltobisect("reduce", state, "--json", cwd=tmp_path, start_new_session=True)
    current = state / "reduce" / "reduced.i"
    original = state / "reduce" / "original.i"

    def halved() -> bool:
        try:
            return current.stat().st_size < original.stat().st_size // 2
        except FileNotFoundError:  # not written yet (or being replaced)
            return False

    wait_until(lambda: proc.poll() is not None or halved(), timeout=300,
               what="C-Vise to halve the source", interval=0.2)
    assert proc.poll() is None, "the reduction ended before it could be killed: " + \
        proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed_at = current.stat().st_size
    # C-Vise runs in a process group of its own: the kill of ltobisect left it reducing.
    left = json.loads((state / "reduce" / "reduce.json").read_text())["cvise_tmp"]
    assert process.groups_with_env("TMPDIR", [left + os.sep]), "no C-Vise left behind to test with"
    steps = json.loads((state / "reduce" / "reduce.json").read_text())["steps"]
    assert steps["command"]["found"] is True and "cvise" not in steps  # the step in flight
    assert steps["command"]["lines"] > 200

    code, out, err = finished(ltobisect("reduce", state, "--json", cwd=tmp_path))
    assert code == 0, err
    assert not process.groups_with_env("TMPDIR", [left + os.sep])  # the next run killed it
    events = [json.loads(line) for line in out.splitlines()]
    progress = [e for e in events if e["event"] == "ReduceProgress"]
    assert progress and progress[0]["size"] <= killed_at  # it went on from the killed run's file
    assert all(e["start"] == steps["command"]["bytes"] for e in progress)
    red = events[-1]["reduced"]
    assert red["kind"] == "source" and red["complete"] is True and red["reruns"] is True
    assert summary(state)["reduced"]["line"] == red["line"]
    assert red["before"]["lines"] > 200 and red["after"]["lines"] <= 6
    assert "net/tso.c" in red["command"] and " -c " in red["command"]

    reduced = (state / "reduced" / "reduced.i").read_text()
    assert "gso_size" in reduced and "#include" not in reduced
    # The attachment alone, elsewhere: repro.sh compiles it and says so.
    alone = tmp_path / "elsewhere"
    shutil.copytree(state / "reduced", alone)
    proc = subprocess.run(["sh", str(alone / "repro.sh")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REPRODUCED" in proc.stdout and "gso_size" in proc.stdout
    # A fixed source does not reproduce: exit 1.
    (alone / "reduced.i").write_text("int x;\n")
    assert subprocess.run(["sh", str(alone / "repro.sh")], capture_output=True,
                          timeout=60).returncode == 1

    report = (state / "report.txt").read_text()
    assert "Reduced reproducer:" in report
    assert f"from {red['before']['lines']} to {red['after']['lines']} lines" in report
    assert "reruns alone (one compile, from reduced/ only): sh reduced/repro.sh" in report
    assert "reduced/" in report.split("Attachments:")[1]


# -- the LTO link error, through minimize --reduce -----------------------------------------------
@needs_llvm16
def test_the_lto_link_reduces_to_one_function_after_minimize(tmp_path):
    tree = demo_copy(tmp_path)
    state = tmp_path / "state"
    code, out, err = finished(ltobisect(
        "minimize", tree / "configs" / "randconfig.config", "--tree", tree, "--baseline",
        tree / "configs" / "baseline.config", "--state", state, "--workers", "2",
        "--make", "CC=clang-16 -flto=thin -fuse-ld=lld", "--reduce", "--json", cwd=tmp_path))
    assert code == 0, err
    s = json.loads(out.splitlines()[-1])
    assert set(s["fragment"]) == LINK_CULPRITS
    assert s["signature"]["tool"] == "ld.lld"
    red = s["reduced"]
    assert red["kind"] == "link" and red["linker"] == "ld.lld-16"
    assert red["relinks"] is True
    assert red["before"]["inputs"] >= 20 and red["after"]["inputs"] == 2
    assert red["module"]["merged"] is True
    assert red["module"]["after_bytes"] < red["module"]["before_bytes"]
    assert red["complete"] is True and red["reruns"] is True
    assert s["ld_reproduce"]["made"] is True and s["ld_reproduce"]["relinks"] is True
    assert summary(state)["reduced"]["kind"] == "link"

    ll = (state / "reduced" / "link" / "reduced.ll").read_text()
    assert ll.count("define ") == 1 and "call void @trace_net_queue_packet()" in ll

    # The tarball a maintainer downloads, unpacked anywhere, fails the same way.
    proc = rerun_download(state, tmp_path / "download")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "undefined symbol: trace_net_queue_packet" in proc.stdout

    report = (state / "report.txt").read_text()
    assert "the ld.lld --reproduce tarball relinks alone with the same failure" in report
    assert "needs ld.lld-16: cd link && ld.lld-16 @response.txt --error-limit=0" in report

    # Run again from a state directory that moved: every step is in the journal, found by
    # name, no link is run again, the outcome is the same.
    state = Path(shutil.move(state, tmp_path / "moved"))
    tests = (state / "reduce" / "tests.jsonl").read_text()
    code, out, err = finished(ltobisect("reduce", state, "--json", cwd=tmp_path))
    assert code == 0, err
    assert (state / "reduce" / "tests.jsonl").read_text() == tests
    again = json.loads(out.splitlines()[-1])["reduced"]
    assert again["after"] == red["after"] and again["module"] == red["module"]


# -- a real LLVM 16 crash at the ThinLTO link, through minimize --reduce ---------------------------
KCOV_TRIGGER = {"CONFIG_KCOV=y", "CONFIG_KCOV_ENABLE_COMPARISONS=y", "CONFIG_DEBUG_INFO=y"}


def kcov_crash_tree(tmp: Path):
    """A copy of the demo with kcov as Linux has it (:func:`ltobisect.testing.planted.demo_kcov_tree`)."""
    return demo_kcov_tree(DEMO, tmp)


@needs_llvm16
@pytest.mark.needs("clang-19", "ld.lld-19")
def test_an_llvm16_crash_at_the_thinlto_link_reduces_to_two_small_modules(tmp_path):
    tree, bad = kcov_crash_tree(tmp_path)
    state = tmp_path / "state"
    code, out, err = finished(ltobisect(
        "minimize", bad, "--tree", tree, "--baseline", tree / "configs" / "baseline.config",
        "--state", state, "--workers", "2", "--make", "CC=clang-16 -flto=thin -fuse-ld=lld",
        "--reduce", "--llvm-matrix", "-16,-19", "--json", cwd=tmp_path))
    assert code == 0, err
    s = json.loads(out.splitlines()[-1])
    assert set(s["fragment"]) == KCOV_TRIGGER
    # The LLVM axis: clang 17+ no longer writes the call without a debug location, so the
    # minimal config builds with LLVM 19 (its own Kconfig, one build); 16 is the result itself.
    llvm = s["llvm_matrix"]
    assert [(r["llvm"], r["outcome"]) for r in llvm["releases"]] == [("16", "reproduces"),
                                                                     ("19", "builds")]
    assert llvm["line"] == ("LLVM: fails with 16; builds with 19; it was fixed between 16 and 19 "
                            "(releases in between not tested)")
    sig = s["signature"]
    assert sig["kind"] == "crash" and sig["tool"] == "ld.lld"
    assert "Broken module found (inlinable function call in a function with debug info must " \
           "have a !dbg location)" in sig["message"]
    # The log pointed at the options before any search: the callback's name is what
    # trace-cmp calls (added under KCOV_ENABLE_COMPARISONS), kcov.c defines it (built under
    # KCOV), the verifier speaks of debug info (-g, added under DEBUG_INFO). One build of those
    # three held, and the search went on inside them.
    guess = s["log_priors"]
    assert set(guess["options"]) == {"KCOV", "KCOV_ENABLE_COMPARISONS", "DEBUG_INFO"}
    assert "kernel/kcov.c defines __sanitizer_cov_trace_const_cmp8" in guess["options"]["KCOV"]
    assert guess["held"] is True and guess["size"] == 3
    # 136 changes: 11 builds in all (measured: 23 with --no-log-priors).
    assert s["counts"]["builds"] <= 13, s["counts"]
    red = s["reduced"]
    assert red["relinks"] is True and red["complete"] is True and red["reruns"] is True
    # The caller and the callback's definition: neither alone crashes.
    assert red["after"]["inputs"] == 2 and red["bitcode_inputs"] == 2
    # Merged, the module is invalid as written (llvm-link's verifier refuses it), so each
    # module is reduced on its own, linked with the other.
    mod = red["module"]
    assert mod["merged"] is False and mod["separate"] == 2 and mod["complete"] is True
    assert "llvm-link refused them" in mod["why"]
    assert mod["after_bytes"] < mod["before_bytes"] // 2
    assert sorted(red["module_files"]) == ["link/irq.ll", "link/kcov.ll"]
    irq = (state / "reduced" / "link" / "irq.ll").read_text()
    assert irq.count("define ") == 1 and "@__sanitizer_cov_trace_const_cmp8" in irq
    # The stage: the ThinLTO backend's optimization; opt-16 alone on the module ld.lld wrote
    # before it reads the invalid debug info back dropped, so the link is the reproducer.
    st = red["stage"]
    assert st["stage"] == "ThinLTO backend optimization" and st["alone"] is False
    assert st["tool"] == "opt-16" and "ignoring invalid debug info" in st["said"]
    report = " ".join((state / "report.txt").read_text().split())
    assert ("failing stage: ThinLTO backend optimization; opt-16 alone on the module ld.lld "
            "wrote before it does not show it (warning: ignoring invalid debug info in "
            "stage-irq.import.bc), so ld.lld-16 is the reproducer") in report
    assert "the modules: reduced/link/irq.ll, reduced/link/kcov.ll" in report
    assert ("The log pointed at DEBUG_INFO, KCOV, KCOV_ENABLE_COMPARISONS: a build of 3 "
            "changes for them reproduced (the guess held, the search went on inside them)") in report

    proc = rerun_download(state, tmp_path / "download")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LLVM ERROR: Broken module found" in proc.stdout
    # The reduced link with ld.lld-19: the IR clang-16 wrote (a call without a debug location)
    # is what is wrong, and LLVM 19 rejects it too, in its verifier rather than in the ThinLTO
    # backend: another crash by the signature, said as such.
    assert red["llvm"]["19"].startswith("fails otherwise: ld.lld crashed in ThinLTO backend "
                                        "optimization (verify): LLVM ERROR: Broken module found")
    assert "the reproducer fails otherwise with LLVM 19" in red["line"]
    assert "LLVM: fails with 16; builds with 19;" in report


# -- refusals: one line, nothing written -----------------------------------------------------------
def test_reduce_refuses_a_state_without_a_minimized_result(tmp_path):
    code, _, err = finished(ltobisect("reduce", tmp_path / "nothing", cwd=tmp_path), 60)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.needs("cc", "make")
def test_a_missing_reducer_is_one_line_with_the_apt_command(tmp_path):
    tree, bad = gso_compile_error(tmp_path)
    # --reduce checks its programs before the first build. PATH: all of this machine's
    # programs but C-Vise.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name != "cvise" and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(os.path.join(d, name))
    path = {"PATH": str(bin_dir)}
    state = tmp_path / "state"
    code, _, err = finished(ltobisect("minimize", bad, "--tree", tree, "--baseline",
                                      tree / "configs" / "baseline.config", "--state", state,
                                      "--reduce", cwd=tmp_path, env=path), 120)
    assert code == 1, err
    assert err.strip().splitlines() == [
        "ltobisect: error: --reduce needs cvise, not found on PATH (apt-get install cvise)"]
    assert not state.exists()


# -- the pieces -----------------------------------------------------------------------------------
@pytest.mark.needs("ar")
def test_a_thin_archive_is_read_for_its_members_long_names_too(tmp_path):
    (tmp_path / "d").mkdir()
    names = ["a.o", "d/a_rather_long_member_name.o"]
    for n in names:
        (tmp_path / n).write_bytes(b"\x7fELF")
    subprocess.run(["ar", "rcT", "thin.a", *names], cwd=tmp_path, check=True)
    assert lk.thin_members(tmp_path / "thin.a") == names
    (tmp_path / "plain.a").write_bytes(b"!<arch>\n")
    assert lk.thin_members(tmp_path / "plain.a") is None


def _fake_link(tmp: Path) -> lk.Link:
    root = tmp / "repro"
    for f in ("obj/x.o", "obj/y.o", "obj/z.o", "lib/libfoo.a", "vmlinux.lds"):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"BC\xc0\xde" if f.endswith(".o") else b"x")
    subprocess.run(["ar", "rcT", "all.a", "x.o", "y.o"], cwd=root / "obj", check=True)
    (root / "response.txt").write_text(
        "--chroot .\n-m elf_x86_64\n-o vmlinux.o\n-T vmlinux.lds\n-L lib\n--whole-archive\n"
        "obj/all.a\n--no-whole-archive\nobj/z.o\n-l foo\n-l missing\n")
    return lk.Link.read(root)


@pytest.mark.needs("ar")
def test_the_units_of_a_link_are_its_inputs_with_whole_thin_archives_opened(tmp_path):
    link = _fake_link(tmp_path)
    assert link.units() == ["obj/x.o", "obj/y.o", "obj/z.o", "-l foo"]
    text = link.response(["obj/y.o", "-l foo"], output="/tmp/out")
    assert text.splitlines() == ["-m elf_x86_64", "-o /tmp/out", "-T vmlinux.lds", "-L lib",
                                 "--whole-archive", "obj/y.o", "--no-whole-archive", "-l foo",
                                 "-l missing"]
    merged = link.response(["obj/x.o", "obj/z.o"], replace={"obj/x.o": "m.bc", "obj/z.o": ""},
                           extra=["--export-dynamic"])
    assert merged.splitlines()[4:] == ["--whole-archive", "m.bc", "--no-whole-archive",
                                       "-l missing", "--export-dynamic"]
    assert link.files_of("-l foo") == ["lib/libfoo.a"]
    assert lk.is_bitcode(link.root / "obj/x.o") and not lk.is_bitcode(link.root / "vmlinux.lds")


def test_the_compile_of_the_preprocessed_file_keeps_codegen_flags_only():
    call = cc.Call(cwd="/o", status=1, argv=(
        "clang-16", "-Wp,-MMD,fs/.exec.o.d", "-nostdinc", "-I./arch/x86/include", "-I", "inc",
        "-include", "./include/linux/kconfig.h", "-D__KERNEL__", "-DKBUILD_MODNAME=\"exec\"",
        "-Werror", "-O2", "-flto=thin", "-mcmodel=kernel", "--target=x86_64-linux-gnu",
        "-mllvm", "-x86-pad=1", "-c", "-o", "fs/exec.o", "../fs/exec.c"))
    assert call.source() == "../fs/exec.c" and call.output() == "fs/exec.o" and call.compiles()
    assert cc.judge_argv(call, "reduced.i") == [
        "clang-16", "-Werror", "-O2", "-flto=thin", "-mcmodel=kernel",
        "--target=x86_64-linux-gnu", "-mllvm", "-x86-pad=1", "-ferror-limit=0", "-c", "reduced.i",
        "-o", "/dev/null"]
    pp = cc.preprocess_argv(call, Path("/s/original.i"))
    assert pp[-3:] == ["../fs/exec.c", "-o", "/s/original.i"] and "-E" in pp and "-c" not in pp
    assert "-Wp,-MMD,fs/.exec.o.d" not in pp and "-I./arch/x86/include" in pp


def test_the_recorder_notes_each_call_with_its_status(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    script = tmp_path / "record.sh"
    script.write_text(cc.RECORDER)
    env = {**os.environ, "LTOBISECT_RECORD": str(rec)}
    ok = subprocess.run(["sh", str(script), "ccache", "true", "-c", "a b.c", "-o", "a.o"],
                        cwd=tmp_path, env=env)
    bad = subprocess.run(["sh", str(script), "false", "-c", "x.c"], cwd=tmp_path, env=env)
    assert (ok.returncode, bad.returncode) == (0, 1)
    calls = cc.recorded(rec)
    assert [(c.argv, c.status, c.cwd) for c in calls] == [
        (("true", "-c", "a b.c", "-o", "a.o"), 0, str(tmp_path)),
        (("false", "-c", "x.c"), 1, str(tmp_path))]
    sig = Signature(kind=SignatureKind.COMPILE_ERROR, tool="gcc", message="m", location="x.c:3")
    assert cc.candidates(calls, sig) == [calls[1]]


def test_the_judge_of_a_reduced_file_accepts_the_failure_anywhere_but_no_other(tmp_path):
    sig = Signature(kind=SignatureKind.COMPILE_ERROR, tool="gcc", message=GSO_ERROR,
                    location="net/tso.c:11")
    moved = "reduced.i:4:19: error: 'const struct sk_buff' has no member named 'gso_size'\n"
    other = "reduced.i:4:19: error: 'const struct sk_buff' has no member named 'len'\n"
    assert sg.shows_anywhere(sig, moved) and not sg.matches(sig, moved)
    assert not sg.shows_anywhere(sig, other)
    judge = tmp_path / "judge.py"
    judge.write_text(judge_program(sig))
    for text, code in ((moved, 0), (other, 10)):
        log = tmp_path / "log"
        log.write_text(text)
        assert subprocess.run([sys.executable, str(judge), "--anywhere", str(log)],
                              capture_output=True).returncode == code
    log.write_text(moved)
    assert subprocess.run([sys.executable, str(judge), str(log)],
                          capture_output=True).returncode == 10  # without: the place counts


def test_missing_programs_name_their_debian_packages():
    assert package_of("llvm-reduce-16") == "llvm-16"
    assert package_of("ld.lld-19") == "lld-19"
    assert package_of("cvise") == "cvise"
    with pytest.raises(UserError) as err:
        require(["ld.lld-97", "llvm-link-97", "llvm-reduce-97", "sh"], "the reduction")
    assert str(err.value) == \
        "the reduction needs ld.lld-97, llvm-link-97, llvm-reduce-97, not found on PATH"
    assert err.value.hint == "apt-get install lld-97 llvm-97"


@needs_llvm16
def test_a_link_of_an_earlier_links_output_steps_back_to_that_link(tmp_path):
    """kbuild links vmlinux.o from the bitcode objects with ld.lld -r (LTO runs there), then
    vmlinux from vmlinux.o: an undefined symbol shows only at the second link. The reduction
    finds the first link's command in its .cmd file, and tests subsets of its inputs through
    both links."""
    build = tmp_path / "out"
    build.mkdir()
    (build / "a.c").write_text("extern int missing(int);\nint from_a(int x) { return missing(x); }\n")
    (build / "b.c").write_text("int from_b(int y) { return y + 1; }\n")
    (build / "c.c").write_text("int from_a(int);\nint _start(void) { return from_a(2); }\n")
    for name in ("a", "b", "c"):
        subprocess.run(["clang-16", "-O2", "-flto=thin", "-c", f"{name}.c", "-o", f"{name}.o"],
                       cwd=build, check=True)
    first = ["ld.lld-16", "-r", "-o", "vmlinux.o", "a.o", "b.o"]
    subprocess.run(first, cwd=build, check=True)
    (build / ".vmlinux.o.cmd").write_text(
        "savedcmd_vmlinux.o := " + " ".join(first) + " ; ./tools/objtool/objtool --ignored\n")
    assert lk.kbuild_command(build / "vmlinux.o") == first
    final = subprocess.run(["ld.lld-16", "-o", "vmlinux", "vmlinux.o", "c.o",
                            f"--reproduce={tmp_path / 'final.tar'}"], cwd=build,
                           capture_output=True, text=True)
    assert "undefined symbol: missing" in final.stderr

    sig = Signature(kind=SignatureKind.LINK_ERROR, tool="ld.lld", message="undefined symbol: missing",
                    location="missing")
    link = lk.Link.read(lk.unpack(tmp_path / "final.tar", tmp_path / "final"))
    units = link.units()
    assert [Path(u).name for u in units] == ["vmlinux.o", "c.o"]
    unit, argv = lk.earlier_link(link, units, build)
    assert Path(unit).name == "vmlinux.o" and argv == first
    subprocess.run([*argv, f"--reproduce={tmp_path / 'first.tar'}"], cwd=build, check=True)
    chain = lk.Chain(final=link, final_keep=units,
                     first=lk.Link.read(lk.unpack(tmp_path / "first.tar", tmp_path / "first")),
                     made=unit)
    a, b = chain.first.units()
    stop = threading.Event()
    for keep, fails in (([a, b], True), ([a], True), ([b], False)):
        status, text = chain.run("ld.lld-16", keep, tmp_path / "s", 60, stop)
        assert (status != 0 and lk.shows(sig, text, link.root)) is fails, text
