"""Builds and oracles on a fake kernel tree (tests/fakelinux): sandbox, limits, process-group kill.

The fake tree's Makefile takes O= and reads $(O)/.config like kbuild and fails on demand (see
tests/fakelinux/fake-build.sh). Each test copies it and makes the copy read-only.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import stat
import threading
from pathlib import Path
from typing import Dict

import pytest

from ltobisect.logs import signature as sigmod
from ltobisect.build import build_env, bwrap_works, make_args, make_command, run_make, toolchain_versions
from ltobisect.config import BuildSpec
from ltobisect.errors import UserError
from ltobisect.kconfig import digest as kconfig_digest
from ltobisect.model import ConfDisagreement, Resolved, Signature, Verdict, candidate
from ltobisect.oracle import KernelOracle, Oracle, ScriptOracle, targets_for

from support import missing, wait_until

FAKE = Path(__file__).parent / "fakelinux"
SANDBOXES = ["none", "bwrap"]


def need_bwrap() -> None:
    """Skip a bubblewrap test where bwrap cannot run by hand; in CI (``CI`` set, or
    LTOBISECT_REQUIRE_KERNEL=1 from scripts/bootstrap test, which installs bubblewrap) fail it
    instead, so that a broken sandbox is never silently untested."""
    if bwrap_works():
        return
    if os.environ.get("CI"):
        pytest.fail("bubblewrap cannot run here, but CI is set: CI installs bubblewrap")
    missing("bubblewrap cannot run here (scripts/bootstrap test installs it)")


def _snapshot(tree: Path) -> Dict[str, tuple]:
    out = {}
    for p in sorted(tree.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(tree))] = (st.st_mode, st.st_mtime_ns, digest)
    return out


@pytest.fixture
def fake_tree(tmp_path: Path):
    """A read-only copy of the fake tree (restored to writable afterwards so tmp can be removed)."""
    tree = tmp_path / "fakelinux"
    shutil.copytree(FAKE, tree)
    paths = [tree, *tree.rglob("*")]
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield tree
    for p in paths:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def config(*options: str, token: str = "") -> Resolved:
    lines = [f"CONFIG_{o}=y" for o in options]
    if token:
        lines.append(f'CONFIG_TOKEN="{token}"')
    text = "\n".join(lines) + "\n"
    return Resolved(candidate=candidate(), config_text=text, digest=hashlib.sha256(text.encode()).hexdigest()[:12])


def spec_for(tree: Path, sandbox: str = "none") -> BuildSpec:
    if sandbox == "bwrap":
        need_bwrap()
    return BuildSpec(tree=tree, sandbox=sandbox, jobs=1)


def _alive_with(token: str) -> list:
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmd and state != "Z":
            pids.append(int(name))
    return pids


# --- make arguments --------------------------------------------------------------------------

def ccache_on_path(tmp_path: Path, monkeypatch, installed: bool) -> None:
    """PATH with a ccache or without one, whatever this machine has: both cases are tested
    everywhere (an ``if shutil.which("ccache")`` around an assertion tests one of them)."""
    bin_dir = tmp_path / ("with-ccache" if installed else "without-ccache")
    bin_dir.mkdir()
    if installed:
        (bin_dir / "ccache").write_text("#!/bin/sh\nexec \"$@\"\n")
        (bin_dir / "ccache").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize("ccache", [True, False], ids=["ccache", "no-ccache"])
def test_make_args_kernel_spec_is_printable_and_carries_user_vars(tmp_path: Path, monkeypatch,
                                                                  ccache: bool) -> None:
    ccache_on_path(tmp_path, monkeypatch, ccache)
    spec = BuildSpec(tree=Path("/src/linux"), arch="x86_64", llvm="-16", make_vars=("W=1", "KCFLAGS=-O1 -g"))
    args = make_args(spec, tmp_path / "out")
    assert args[:2] == ["-C", "/src/linux"]
    assert f"O={tmp_path / 'out'}" in args and "ARCH=x86_64" in args and "LLVM=-16" in args
    assert args[-2:] == ["W=1", "KCFLAGS=-O1 -g"]
    assert [a for a in args if a.startswith("CC=")] == (["CC=ccache clang-16"] if ccache else [])
    line = shlex.join(make_command(spec, tmp_path / "out", ["vmlinux"], 2))
    assert shlex.split(line)[0] == "make" and "-k" in shlex.split(line) and line.endswith("-j2 vmlinux")


def test_make_args_cross_arch_llvm1_and_directory_prefix(tmp_path: Path, monkeypatch) -> None:
    ccache_on_path(tmp_path, monkeypatch, True)
    arm = make_args(BuildSpec(tree=Path("/t"), arch="arm64", llvm="1", use_ccache=False), None)
    assert arm == ["-C", "/t", "ARCH=arm64", "LLVM=1"]
    pre = make_args(BuildSpec(tree=Path("/t"), arch="arm64", llvm="/usr/lib/llvm-16/bin/"), None)
    assert "CC=ccache /usr/lib/llvm-16/bin/clang" in pre
    # A user's CC wins over ours.
    own = make_args(BuildSpec(tree=Path("/t"), llvm="-16", make_vars=("CC=clang-16",)), None)
    assert own.count("CC=clang-16") == 1 and not any(a.startswith("CC=ccache") for a in own)


def test_make_args_non_kernel_project_has_no_arch_or_llvm() -> None:
    assert make_args(BuildSpec(tree=Path("/demo")), Path("/w/out")) == ["-C", "/demo", "O=/w/out"]


def test_bad_make_variable_is_a_user_error() -> None:
    with pytest.raises(UserError):
        make_args(BuildSpec(tree=Path("/t"), make_vars=("-j8",)), None)


@pytest.mark.needs("clang-16", "ld.lld-16")
def test_toolchain_versions_names_clang_and_lld() -> None:
    v = toolchain_versions(BuildSpec(tree=Path("/t"), llvm="-16"))
    assert "clang version 16" in v["clang"] and "LLD 16" in v["ld.lld"] and "Make" in v["make"]


def test_targets_follow_the_signature(kernel_like: Path) -> None:
    spec = BuildSpec(tree=kernel_like)
    assert targets_for(spec, Signature("compile-error", "clang", "x", "fs/fhandle.c")) == ["fs/"]
    assert targets_for(spec, Signature("compile-error", "clang", "x", "include/linux/fs.h")) == []
    assert targets_for(spec, Signature("link-error", "ld.lld", "undefined symbol: f", "f")) == ["vmlinux"]
    assert targets_for(spec, None) == []
    assert targets_for(BuildSpec(tree=kernel_like, target="bzImage modules"), None) == ["bzImage", "modules"]
    # Not kbuild: never invent directory targets.
    assert targets_for(BuildSpec(tree=FAKE), Signature("compile-error", "clang", "x", "fs/a.c")) == []


@pytest.fixture
def kernel_like(tmp_path: Path) -> Path:
    (tmp_path / "k" / "scripts").mkdir(parents=True)
    (tmp_path / "k" / "scripts" / "Makefile.build").write_text("")
    (tmp_path / "k" / "Makefile").write_text("")
    return tmp_path / "k"


# --- the source stays untouched --------------------------------------------------------------

@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_builds_never_write_the_source(fake_tree: Path, tmp_path: Path, sandbox: str) -> None:
    before = _snapshot(fake_tree)
    oracle = KernelOracle(spec_for(fake_tree, sandbox), tmp_path / "state")
    for cfg in (config(), config("COMPILE_ERROR"), config("LINK_ERROR", "OTHER_ERROR")):
        oracle.observe(cfg, 0)
    assert _snapshot(fake_tree) == before
    out = oracle.out_dir(0)
    assert (out / "vmlinux").is_file() or (out / ".config").is_file()
    env = (out / "env.txt").read_text()
    assert f"TMPDIR={(tmp_path / 'state' / 'workers' / '0' / 'tmp').resolve()}" in env
    assert f"HOME={(tmp_path / 'state' / 'workers' / '0' / 'home').resolve()}" in env


def test_bwrap_makes_the_source_read_only_even_for_root(tmp_path: Path) -> None:
    tree = tmp_path / "writable-tree"
    shutil.copytree(FAKE, tree)  # writable on disk: only the sandbox stops the write
    oracle = KernelOracle(spec_for(tree, "bwrap"), tmp_path / "state")
    out = oracle.observe(config("WRITE_SOURCE"), 0)
    assert out.verdict is Verdict.OTHER_FAILURE
    assert not (tree / "written-by-build").exists()
    loose = KernelOracle(spec_for(tree, "none"), tmp_path / "state2").observe(config("WRITE_SOURCE"), 0)
    assert loose.verdict is Verdict.PASSES  # the fake build misbehaves; the sandbox is what stopped it
    (tree / "written-by-build").unlink()


def test_output_directory_inside_the_tree_is_refused(fake_tree: Path) -> None:
    with pytest.raises(UserError):
        run_make(spec_for(fake_tree), fake_tree / "out", [], jobs=1, timeout=None, mem_limit=None,
                 log_path=fake_tree.parent / "x.log", sandbox_root=fake_tree / "w")


# --- verdicts --------------------------------------------------------------------------------

@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_verdicts_on_the_fake_tree(fake_tree: Path, tmp_path: Path, sandbox: str) -> None:
    oracle = KernelOracle(spec_for(fake_tree, sandbox), tmp_path / "state")
    assert isinstance(oracle, Oracle)
    seen = oracle.observe(config("COMPILE_ERROR"), 0)
    assert seen.verdict is Verdict.OTHER_FAILURE
    assert seen.signature == Signature("compile-error", "clang", '"planted compile error"', "fs/planted.c")
    judged = oracle.with_signature(seen.signature)
    assert judged.test(config("COMPILE_ERROR"), 0).verdict is Verdict.REPRODUCES
    # Our error next to an unrelated one (make -k): still ours.
    assert judged.test(config("OTHER_ERROR", "COMPILE_ERROR"), 0).verdict is Verdict.REPRODUCES
    other = judged.test(config("OTHER_ERROR"), 0)
    assert other.verdict is Verdict.OTHER_FAILURE and other.signature.location == "kernel/other.c"
    assert judged.test(config(), 0).verdict is Verdict.PASSES
    link = judged.test(config("LINK_ERROR"), 0)
    assert link.verdict is Verdict.OTHER_FAILURE
    assert link.signature == Signature("link-error", "ld.lld", "undefined symbol: planted_symbol", "planted_symbol")
    assert Path(link.log_path).is_file() and Path(link.log_path).parent == tmp_path / "state" / "logs"
    assert judged.fingerprint() != oracle.fingerprint()


def _text(body: str) -> Resolved:
    return Resolved(candidate=candidate(), config_text=body, digest=hashlib.sha256(body.encode()).hexdigest()[:12])


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_a_build_whose_own_conf_changes_the_config_says_which_config_was_built(
        fake_tree: Path, tmp_path: Path, sandbox: str) -> None:
    oracle = KernelOracle(spec_for(fake_tree, sandbox), tmp_path / "state")
    # The fake conf turns LINK_ERROR off: what is built passes, and the outcome says why.
    ours = _text('# ours\nCONFIG_LINK_ERROR=y\nCONFIG_KEEP=y\nCONFIG_CONF_DROPS="LINK_ERROR"\n')
    conf_made = '# ours\n# CONFIG_LINK_ERROR is not set\nCONFIG_KEEP=y\nCONFIG_CONF_DROPS="LINK_ERROR"\n'
    expected = ConfDisagreement(kconfig_digest(conf_made), ("CONFIG_LINK_ERROR: ours y, conf n",), 1)
    first = oracle.observe(ours, 0)
    assert first.verdict is Verdict.PASSES and first.conf == expected
    assert (oracle.out_dir(0) / ".config").read_text() == conf_made
    # The same config again in the same slot: ours is written again, conf rewrites it again.
    judged = oracle.with_signature(Signature("link-error", "ld.lld", "undefined symbol: planted_symbol",
                                             "planted_symbol"))
    assert judged.test(ours, 0).conf == expected
    # The config conf made, asked for: the file already holds it (left untouched), it agrees.
    agreed = judged.test(_text(conf_made), 0)
    assert agreed.verdict is Verdict.PASSES and agreed.conf is None
    # A config conf leaves alone agrees, and so does one where it finds nothing to drop.
    assert judged.test(config("LINK_ERROR"), 0).conf is None
    assert judged.test(_text('CONFIG_KEEP=y\nCONFIG_CONF_DROPS="LINK_ERROR"\n'), 0).conf is None
    # A script runs no conf of the kernel's: never compared, even when it rewrites its config.
    script = tmp_path / "rewrites.sh"
    script.write_text("#!/bin/sh\necho 'CONFIG_OTHER=y' > \"$1\"\nexit 0\n")
    script.chmod(0o755)
    assert ScriptOracle(script, tmp_path / "script-state").test(ours, 0).conf is None


def test_infra_errors_disk_full_and_foreign_signal(fake_tree: Path, tmp_path: Path) -> None:
    oracle = KernelOracle(spec_for(fake_tree), tmp_path / "state")
    full = oracle.observe(config("DISK_FULL"), 0)
    assert full.verdict is Verdict.INFRA_ERROR and "space" in full.detail
    foreign = oracle.observe(config("SELF_SIGNAL"), 0)
    assert foreign.verdict is Verdict.INFRA_ERROR and "did not send" in foreign.detail


def test_regex_and_duration_signatures(fake_tree: Path, tmp_path: Path) -> None:
    base = KernelOracle(spec_for(fake_tree), tmp_path / "state")
    rx = base.with_signature(sigmod.from_regex(r"undefined symbol: planted_\w+"))
    assert rx.test(config("LINK_ERROR"), 0).verdict is Verdict.REPRODUCES
    assert rx.test(config("COMPILE_ERROR"), 0).verdict is Verdict.OTHER_FAILURE
    slow = KernelOracle(spec_for(fake_tree), tmp_path / "state", duration_threshold=1.0)
    past = slow.test(config("SLOW"), 0)
    assert past.verdict is Verdict.REPRODUCES
    # Stopped once past the threshold: the fake build never got to the end of its 3 s part.
    assert "FAKE    slow part done" not in Path(past.log_path).read_text()
    assert slow.test(config(), 0).verdict is Verdict.PASSES


def test_a_command_s_peak_memory_is_its_own_not_ltobisect_s() -> None:
    """The command starts as a fork of this process and Linux carries our high-water mark into
    its ru_maxrss: with a big Kconfig loaded, every build would otherwise weigh at least what
    ltobisect weighs, and a --memory threshold could be passed by ltobisect itself."""
    from ltobisect import process
    ballast = bytearray(400 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched: resident
    with open(os.devnull, "wb") as sink:
        done = process.run(["sh", "-c", "exit 0"], stdout=sink)
    assert done.exit_code == 0
    assert done.peak_rss is None or done.peak_rss < 100 * 2**20, done.peak_rss
    del ballast


def test_memory_is_measured_limited_and_a_threshold(fake_tree: Path, tmp_path: Path) -> None:
    plain = KernelOracle(spec_for(fake_tree), tmp_path / "state")
    big = plain.observe(config("MEMORY"), 0)
    assert big.verdict is Verdict.PASSES and big.peak_rss is not None and big.peak_rss > 250 * 2**20
    small = plain.observe(config(), 0)
    assert small.peak_rss is not None and small.peak_rss < 100 * 2**20
    limited = KernelOracle(spec_for(fake_tree), tmp_path / "state", mem_limit=150 * 2**20)
    assert limited.observe(config("MEMORY"), 0).verdict is Verdict.OUT_OF_MEMORY
    needs = KernelOracle(spec_for(fake_tree), tmp_path / "state", memory_threshold=200 * 2**20)
    assert needs.test(config("MEMORY"), 0).verdict is Verdict.REPRODUCES
    assert needs.test(config(), 0).verdict is Verdict.PASSES


# --- killing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_timeout_kills_the_whole_process_group(fake_tree: Path, tmp_path: Path, sandbox: str) -> None:
    token = f"ltobisect-sleeper-{os.getpid()}-{sandbox}-t"
    oracle = KernelOracle(spec_for(fake_tree, sandbox), tmp_path / "state", timeout=2.0)
    # The sleepers never end by themselves: the verdict says the timeout ended the build.
    out = oracle.observe(config("SLEEPERS", token=token), 0)
    assert out.verdict is Verdict.TIMEOUT and out.signature.kind == "timeout"
    wait_until(lambda: _alive_with(token) == [], timeout=10, what="the timed-out build's group to die")


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_close_from_another_thread_kills_running_builds(fake_tree: Path, tmp_path: Path, sandbox: str) -> None:
    token = f"ltobisect-sleeper-{os.getpid()}-{sandbox}-c"
    oracle = KernelOracle(spec_for(fake_tree, sandbox), tmp_path / "state")
    copy = oracle.with_timeout(None)
    results = []
    th = threading.Thread(target=lambda: results.append(copy.observe(config("SLEEPERS", token=token), 0)))
    th.start()
    # fake-build.sh starts four sleepers, which never end by themselves.
    wait_until(lambda: len(_alive_with(token)) >= 4, timeout=30, what="the fake build's four sleepers")
    oracle.close()  # the original; the copy's build must die too
    th.join(30)  # a guard against a hang only: the build ends when killed, or never
    assert not th.is_alive(), "the build still runs after close()"
    assert results[0].verdict is Verdict.INFRA_ERROR
    wait_until(lambda: _alive_with(token) == [], timeout=10, what="the closed build's group to die")
    assert oracle.observe(config(), 0).verdict is Verdict.INFRA_ERROR  # closed for good


# --- the script oracle -----------------------------------------------------------------------

def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "interesting.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_script_oracle_exit_codes(tmp_path: Path) -> None:
    script = _script(tmp_path, 'grep -q "^CONFIG_BAD=y" "$1" && exit 0\n'
                               'grep -q "^CONFIG_SKIP=y" "$1" && exit 125\n'
                               '[ "$PWD" = "$LTOBISECT_WORKER" ] || exit 3\nexit 1\n')
    oracle = ScriptOracle(script, tmp_path / "state")
    assert isinstance(oracle, Oracle)
    assert oracle.test(config("BAD"), 0).verdict is Verdict.REPRODUCES
    skip = oracle.test(config("SKIP"), 0)
    assert skip.verdict is Verdict.OTHER_FAILURE and "125" in skip.signature.message
    plain = oracle.test(config(), 1)
    assert plain.verdict is Verdict.PASSES and plain.exit_code == 1
    assert (tmp_path / "state" / "workers" / "1" / ".config").read_text() == config().config_text
    assert oracle.observe(config("BAD"), 0).verdict is Verdict.REPRODUCES


def test_script_oracle_timeout_kills_group_and_bad_script_is_user_error(tmp_path: Path) -> None:
    token = f"ltobisect-sleeper-{os.getpid()}-script"
    script = _script(tmp_path, f"sh {FAKE / 'scripts' / 'sleeper.sh'} {token} &\nwait\n")
    oracle = ScriptOracle(script, tmp_path / "state", timeout=1.0)
    assert oracle.test(config(), 0).verdict is Verdict.TIMEOUT
    wait_until(lambda: _alive_with(token) == [], timeout=10, what="the script's group to die")
    with pytest.raises(UserError):
        ScriptOracle(tmp_path / "missing.sh", tmp_path / "state")
    fp = oracle.fingerprint()
    script.write_text(script.read_text() + "# changed\n")
    assert oracle.fingerprint() != fp


def test_a_build_finds_the_rust_toolchain_kconfig_probed(tmp_path, monkeypatch):
    """HOME is the sandbox's own, but a rustup-managed rustc still finds its toolchains where
    Kconfig's probes found them (else conf sees RUSTC_VERSION=0 and builds another config)."""
    home = tmp_path / "home"
    (home / ".rustup").mkdir(parents=True)
    (home / ".cargo").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RUSTUP_HOME", raising=False)
    monkeypatch.delenv("CARGO_HOME", raising=False)
    env = build_env(None, tmp_path / "sandbox")
    assert env["HOME"] == str(tmp_path / "sandbox" / "home")
    assert (env["RUSTUP_HOME"], env["CARGO_HOME"]) == (str(home / ".rustup"), str(home / ".cargo"))
    monkeypatch.setenv("RUSTUP_HOME", "/opt/rustup")
    assert build_env(None, tmp_path / "sandbox")["RUSTUP_HOME"] == "/opt/rustup"
    (home / ".rustup").rmdir()
    monkeypatch.delenv("RUSTUP_HOME")
    assert "RUSTUP_HOME" not in build_env(None, tmp_path / "sandbox")


# -- the toolchain: LLVM=, CROSS_COMPILE= and the make variables, read once ---------------------
def test_toolchain_names_the_tools_llvm_selects() -> None:
    from ltobisect.config import Toolchain

    assert (Toolchain(llvm="1").cc, Toolchain(llvm="1").ld) == ("clang", "ld.lld")
    assert Toolchain(llvm="-16").tool("llvm-ar") == "llvm-ar-16"
    assert Toolchain(llvm="/opt/llvm/bin/").tool("clang") == "/opt/llvm/bin/clang"
    gcc = Toolchain(make_vars=("CROSS_COMPILE=aarch64-linux-gnu-",))
    assert (gcc.cc, gcc.ld) == ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-ld")
    assert Toolchain(kernel=False).cc == "cc"
    # The user's CC wins; ccache in it is not the compiler.
    assert Toolchain(llvm="-16", make_vars=("CC=ccache clang-17",)).cc == "clang-17"
    assert Toolchain(llvm="-16").cc_command(ccache=True) == "ccache clang-16"
    assert Toolchain(llvm="-16").cc_command(ccache=False) == "clang-16"


def test_toolchain_make_args_and_kconfig_tools() -> None:
    from ltobisect.config import Toolchain

    tc = Toolchain(llvm="-16", arch="arm64", make_vars=("W=1",))
    assert tc.make_args(ccache=True) == ["ARCH=arm64", "LLVM=-16", "CC=ccache clang-16", "W=1"]
    assert tc.make_args() == ["ARCH=arm64", "LLVM=-16", "W=1"]
    env = tc.tool_env()
    assert (env["CC"], env["LD"], env["HOSTCXX"], env["LLVM"]) == ("clang-16", "ld.lld-16", "clang++-16", "-16")
    assert "LLVM_IAS" not in env and env["CROSS_COMPILE"] == ""
    assert Toolchain(make_vars=("LD=ld.bfd", "LLVM_IAS=0")).tool_env()["LD"] == "ld.bfd"
    assert tc.identity() == Toolchain(llvm="-16", arch="arm64", make_vars=("W=1",)).identity()
    assert tc.identity() != Toolchain(llvm="-17", arch="arm64").identity()
    with pytest.raises(UserError, match="not VAR=VALUE"):
        Toolchain(make_vars=("1X=2",)).make_args()


def test_one_kernel_tree_check(tmp_path: Path) -> None:
    from ltobisect.config import is_kernel_tree

    assert not is_kernel_tree(None) and not is_kernel_tree(FAKE)
    (tmp_path / "arch").mkdir()
    (tmp_path / "scripts" / "kconfig").mkdir(parents=True)
    (tmp_path / "Makefile").write_text("all:\n")
    assert not is_kernel_tree(tmp_path)
    (tmp_path / "scripts" / "kconfig" / "merge_config.sh").write_text("#!/bin/sh\n")
    assert is_kernel_tree(tmp_path)


def test_process_group_is_killed_when_stopped(tmp_path: Path) -> None:
    """The stop is set once the command and its background child run; the command would run
    60 s: that it was killed by us, with a signal and no exit code, says the stop ended it."""
    from ltobisect import process

    running = tmp_path / "running"
    stop = threading.Event()

    def stop_once_running() -> None:
        wait_until(running.exists, timeout=30, what="the command to run")
        stop.set()

    threading.Thread(target=stop_once_running, daemon=True).start()
    done = process.run(["sh", "-c", f"sleep 60 & touch {running}; sleep 60; wait"], stop=stop)
    assert running.exists()
    assert done.killed_by_us and done.exit_code is None and done.signal is not None
    assert not process.group_members(done.pgid)


def test_a_build_past_a_derived_timeout_continues_while_it_makes_new_objects(fake_tree: Path, tmp_path: Path) -> None:
    """The derived timeout measured one build (maybe from a warm ccache); a config of new
    objects builds slower. The build continues in its O= directory, where make resumes, as long
    as each round makes something new; a given --timeout, or a round that makes nothing new (a
    link that never ends), is a timeout."""
    link = sigmod.extract("ld.lld: error: undefined symbol: planted_symbol\n")
    derived = KernelOracle(spec_for(fake_tree), tmp_path / "state", signature=link, timeout=1.6,
                           timeout_derived=True)
    slow = derived.test(config("STAGED", "LINK_ERROR"), 0)
    assert slow.verdict is Verdict.REPRODUCES, slow.detail
    assert slow.duration >= 3.0  # the rounds' durations add up: three objects of 1 s each
    text = Path(slow.log_path).read_text()
    assert "still making new objects: continued (round 2)" in text
    # Each round redoes the object the timeout cut short, and goes on from there.
    assert [ln.split()[-1] for ln in text.splitlines() if "CC      stage" in ln] == [
        "stage-1.o", "stage-2.o", "stage-2.o", "stage-3.o", "stage-3.o"]
    # A link that never ends: the second round makes nothing new, so it is a timeout (2 rounds),
    # not the 30 s the fake link would take.
    hang = derived.test(config("HANG", "LINK_ERROR"), 1)
    assert hang.verdict is Verdict.TIMEOUT
    rounds = Path(hang.log_path).read_text()
    assert "continued (round 2)" in rounds and "continued (round 3)" not in rounds
    # A timeout the user gave is the limit.
    given = KernelOracle(spec_for(fake_tree), tmp_path / "state2", signature=link, timeout=1.6)
    assert given.test(config("STAGED", "LINK_ERROR"), 0).verdict is Verdict.TIMEOUT

