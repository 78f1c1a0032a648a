"""The build farm: the search's builds on a real Dask cluster (LocalCluster worker processes on
127.0.0.1), with real builds: the demo's, the tiny tree's test script, a kernel's (slow tier).

What a farm user relies on: the same result as the local pool; a worker killed mid-build costs
that build only; a cancelled build's process group dies on its worker; a cluster without the
memory a build asks for is a clear error, not a hang; without Dask installed, one line says how
to install it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict

import pytest

from ltobisect.config import BuildSpec, FarmAccess, SessionConfig
from ltobisect.errors import Stopped, UserError
from ltobisect.farmcheck import check_farm
from ltobisect.events import ListReporter
from ltobisect.limits import StopCondition
from ltobisect.model import Resolved, Verdict
from ltobisect.oracle import OracleSpec
from ltobisect.conductor.session import Session

from schema_support import read_summary
from session_support import FAST_RETRY, tiny_tree
from support import missing, wait_until

if os.environ.get("CI"):
    import distributed  # CI installs the dask extra: there these tests run or fail
else:
    try:
        import distributed
    except ImportError:  # by hand without the extra: skipped; under scripts/bootstrap test, failed
        missing("Dask's distributed is not installed (pip install -e '.[dask]'; "
                "scripts/bootstrap test installs it)", module=True)

from ltobisect import farm  # noqa: E402  (needs distributed)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo"
CULPRITS = {"CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"}


@pytest.fixture(autouse=True)
def farm_dir(tmp_path, monkeypatch):
    """Workers keep their build directories here (worker processes inherit the environment)."""
    monkeypatch.setenv("LTOBISECT_FARM_DIR", str(tmp_path / "farm"))
    return tmp_path / "farm"


@pytest.fixture
def cluster():
    """Two worker processes of one thread each, as `dask worker --nthreads 1` would run."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as c:
        yield c


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.needs("cc", "make")
def test_the_demo_minimized_through_dask_gives_the_local_pools_fragment(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(DEMO, tree, ignore=shutil.ignore_patterns("*.o"))
    results = {}
    for name, extra in (("local", []), ("farm", ["--scheduler", "local:2"])):
        proc = subprocess.run(
            [sys.executable, "-m", "ltobisect", "minimize", str(tree / "configs" / "randconfig.config"),
             "--tree", str(tree), "--baseline", str(tree / "configs" / "baseline.config"),
             "--workers", "2", "--state", str(tmp_path / name), "--json", *extra],
            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        results[name] = read_summary(tmp_path / name / "summary.json")
    local, farmed = results["local"], results["farm"]
    assert set(farmed["fragment"]) == set(local["fragment"]) == CULPRITS
    assert farmed["verified"] is True and farmed["signature"] == local["signature"]
    # The logs came home: the report's excerpt is read from the client's own logs/.
    assert Path(farmed["log"]).is_file() and Path(farmed["log"]).parent == tmp_path / "farm" / "logs"
    assert "trace_net_queue_packet" in Path(farmed["log"]).read_text()
    # Every build ran in a worker's persistent directory, none in the client's state.
    assert not (tmp_path / "farm" / "workers").exists()
    assert list((tmp_path / "farm").parent.glob("farm/*/slot-*/workers/0/out"))


def _tiny_config(tree: Path, state: Path, script: Path, **kw) -> SessionConfig:
    kw.setdefault("baseline", "defconfig")
    return SessionConfig(bad_config=tree / "bad.config", state_dir=state, build=BuildSpec(tree=tree),
                         test_script=script, retry=FAST_RETRY, **kw)


def test_a_worker_killed_mid_build_costs_that_build_only(tmp_path, cluster):
    tree = tiny_tree(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    # From the fourth build on, a build writes its worker's pid and waits until a worker was
    # killed; the test kills the worker of the first one that waits, then lets the others go.
    # (A build started ahead may itself be killed as moot while it waits: its worker is still
    # there to kill, and the next build waits in its place.)
    script = tmp_path / "slow-once.sh"
    script.write_text(f"""#!/bin/sh
n=$(ls {marks} | grep -c '^build-')
touch {marks}/build-$$
if [ "$n" -ge 3 ] && [ ! -e {marks}/killed ]; then
    echo $PPID > {marks}/waiting-$$.tmp && mv {marks}/waiting-$$.tmp {marks}/waiting-$$
    i=0
    while [ ! -e {marks}/killed ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
exec {tree}/test.sh "$1"
""")
    script.chmod(0o755)
    undisturbed = Session(_tiny_config(tree, tmp_path / "local", tree / "test.sh", workers=2)).run()
    assert undisturbed.status == "minimized", undisturbed.message
    killed: list = []

    def kill_the_worker() -> None:
        try:
            waiting = wait_until(lambda: sorted(marks.glob("waiting-*[0-9]")), timeout=60,
                                 what="a build to wait to be killed")
        except BaseException:  # pytest's failure in this thread: the assertion below says it
            return
        pid = int(waiting[0].read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        (marks / "killed").touch()

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    rep = ListReporter()
    result = Session(_tiny_config(tree, tmp_path / "farm", script, workers=2,
                                  scheduler=cluster.scheduler_address), rep).run()
    killer.join(timeout=5)
    assert killed, (f"no build ever waited to be killed: {result.status} ({result.message}), "
                    f"marks {sorted(p.name for p in marks.iterdir())}")
    assert result.status == "minimized", result.message
    assert result.fragment == undisturbed.fragment
    # The killed build was never taken for a verdict: the journal has only finished builds.
    journal = [json.loads(line) for line in (tmp_path / "farm" / "journal.jsonl").read_text().splitlines()]
    assert journal and all(r["verdict"] != "infra-error" for r in journal)


def test_a_cancelled_build_is_killed_on_its_worker_within_seconds(tmp_path, cluster):
    pid_file = tmp_path / "build.pid"
    script = tmp_path / "forever.sh"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nsleep 300\nexit 1\n")
    script.chmod(0o755)
    spec = OracleSpec(work_dir=tmp_path / "client", script=script)
    stop = StopCondition()
    executor = farm.farm_pool(cluster.scheduler_address, 1)(spec, stop)
    item = Resolved(candidate=frozenset(), config_text="CONFIG_A=y\n", digest="a" * 32)
    raised = []

    def run() -> None:
        try:
            executor.run([item], lambda i, r, o: None)
        except Stopped as exc:
            raised.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    wait_until(lambda: pid_file.is_file() and pid_file.read_text().strip(), timeout=60,
               what="the build to run on its worker")
    pid = int(pid_file.read_text())
    assert alive(pid)
    stop.request("no longer needed")
    runner.join(timeout=30)  # a guard against a hang only
    assert raised and raised[0].reason == "no longer needed"
    # The build would sleep 300 s: gone at all means killed.
    wait_until(lambda: not alive(pid), timeout=30, what="the cancelled build to die on its worker")
    executor.close()


def test_a_build_started_ahead_on_the_farm_is_killed_on_its_worker_when_moot(tmp_path, cluster):
    """A worker no item needs builds what the search will likely ask next; when a verdict makes
    it moot, its build dies on the worker (cancel = kill) and no verdict of it is kept."""
    script = tmp_path / "build.sh"
    script.write_text(f"#!/bin/sh\ngrep -q CONFIG_AHEAD=y \"$1\" && {{ echo $$ > {tmp_path}/ahead.pid; sleep 300; }}\n"
                      f"while [ ! -f {tmp_path}/go ]; do sleep 0.1; done\nexit 1\n")
    script.chmod(0o755)
    spec = OracleSpec(work_dir=tmp_path / "client", script=script)
    executor = farm.farm_pool(cluster.scheduler_address, 2)(spec, StopCondition())
    item = Resolved(candidate=frozenset(), config_text="CONFIG_A=y\n", digest="a" * 32)
    guess = Resolved(candidate=frozenset(), config_text="CONFIG_AHEAD=y\n", digest="b" * 32)

    class Ahead:
        def __init__(self):
            self.wants, self.proposed, self.ended, self.killed = True, False, [], []

        def next(self, busy):
            if self.proposed:
                return None
            self.proposed = True
            return guess

        def wanted(self, digest):
            return self.wants

        def finished(self, r, o):
            self.ended.append(r.digest)

        def dropped(self, r):
            self.killed.append(r.digest)

    ahead = Ahead()
    out = []
    runner = threading.Thread(target=lambda: out.extend(executor.run([item], lambda *a: None, ahead=ahead)))
    runner.start()
    pid_file = tmp_path / "ahead.pid"
    wait_until(lambda: pid_file.is_file() and pid_file.read_text().strip(), timeout=60,
               what="the build ahead to run on its worker")
    pid = int(pid_file.read_text())
    ahead.wants = False  # the item's verdict will make it moot
    (tmp_path / "go").write_text("")
    runner.join(timeout=60)  # a guard against a hang only
    assert [o.verdict for o in out] == [Verdict.PASSES]
    wait_until(lambda: not alive(pid), timeout=30, what="the moot build to die on its worker")
    assert ahead.killed == ["b" * 32] and ahead.ended == []
    executor.close()


def test_a_build_asking_more_memory_than_any_worker_has_is_bad_input(tmp_path, cluster):
    """A clear error, not a hang: the session returns bad input, before any build. It runs in
    a thread only so that a hang fails the test (after a generous guard) instead of hanging it."""
    tree = tiny_tree(tmp_path)
    session = Session(_tiny_config(tree, tmp_path / "state", tree / "test.sh",
                                   scheduler=cluster.scheduler_address, build_memory=64 * 10**9))
    ended = []
    runner = threading.Thread(target=lambda: ended.append(session.run()), daemon=True)
    runner.start()
    runner.join(timeout=300)
    assert ended, "the session still waits for a worker with the memory (a hang)"
    result = ended[0]
    assert result.status == "bad-input" and result.exit_code == 1
    assert result.message == ("no worker of the cluster offers 59.6 GiB (6.4e+10 bytes) of MEM for "
                              "a build (the most is 0)")
    assert "--resources" in result.hint
    assert not (tmp_path / "state" / "journal.jsonl").is_file() or \
        not (tmp_path / "state" / "journal.jsonl").read_text().strip()  # no build ran


def test_a_worker_with_another_tree_refuses_the_build_by_name(tmp_path, cluster):
    tree = tiny_tree(tmp_path)
    spec = OracleSpec(work_dir=tmp_path / "client", build=BuildSpec(tree=tree), script=tree / "test.sh")
    item = Resolved(candidate=frozenset(), config_text="CONFIG_A=y\n", digest="b" * 32)
    with distributed.Client(cluster) as client:
        fut = client.submit(farm.build_task, spec, item, False, "ltobisect-test-cancel",
                            {"makefile": "another version", "toolchain": {}}, pure=False)
        with pytest.raises(farm.WorkerRefused) as info:
            fut.result(timeout=60)
        workers = set(client.scheduler_info()["workers"])
    assert info.value.worker in workers
    assert "is another version than the client's" in str(info.value)


def test_without_dask_the_scheduler_option_says_how_to_install_it(tmp_path, monkeypatch):
    import ltobisect

    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "ltobisect.farm", raising=False)
    monkeypatch.delattr(ltobisect, "farm", raising=False)
    tree = tiny_tree(tmp_path)
    result = Session(_tiny_config(tree, tmp_path / "state", tree / "test.sh", scheduler="local:1")).run()
    assert result.status == "bad-input"
    assert result.message == "--scheduler local:1: the build farm needs Dask: pip install 'ltobisect[dask]'"


def test_a_client_killed_with_sigkill_resumes_on_the_cluster_without_rebuilding(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_DELAY", "0.3")  # the workers inherit it: each build takes a while
    tree = tiny_tree(tmp_path)
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        addr = cluster.scheduler_address
        client = subprocess.Popen(
            [sys.executable, "-m", "ltobisect", "minimize", str(tree / "bad.config"), "--tree", str(tree),
             "--baseline", "allnoconfig", "--test", str(tree / "test.sh"), "--scheduler", addr,
             "--workers", "2", "--state", str(state), "--json"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = state / "journal.jsonl"
        wait_until(lambda: client.poll() is not None
                   or journal.is_file() and len(journal.read_text().splitlines()) >= 6,
                   timeout=120, what="six builds in the journal")
        assert client.poll() is None, "the session ended before it could be killed"
        client.kill()  # SIGKILL: no handler runs, the journal is all that is left
        client.wait()
        before = [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]
        assert len(before) >= 6
        resumed = subprocess.run([sys.executable, "-m", "ltobisect", "resume", str(state), "--scheduler",
                                  addr, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = [json.loads(line) for line in journal.read_text().splitlines()]
    searched = {"verify", "recheck", "bad config (observed)"}
    for rec in before:
        if rec["label"] in searched:
            continue
        again = [r for r in after[len(before):] if r["digest"] == rec["digest"] and r["label"] not in searched]
        assert not again, f"config {rec['digest'][:12]} ({rec['label']}) was built again after resume"
    summary = read_summary(state / "summary.json")
    undisturbed = Session(_tiny_config(tree, tmp_path / "local", tree / "test.sh", workers=2,
                                       baseline="allnoconfig")).run()
    assert summary["status"] == "minimized"
    assert tuple(summary["fragment"]) == undisturbed.fragment


@pytest.mark.kernel
@pytest.mark.slow
def test_a_kernel_minimization_through_a_two_worker_cluster(kernel_tree, shared_ccache, tmp_path,
                                                            monkeypatch, pytestconfig):
    """The 6.1 ThinLTO link failure of test_e2e_kernel, with every build on a Dask worker."""
    from e2e_support import fragment_lines, leaf_randconfig, minimize
    from ltobisect.testing.planted import Fault, scratch_tree

    symbol = "ltobisect_e2e_lto_missing"
    culprits = {"CONFIG_USELIB=y", "CONFIG_CROSS_MEMORY_ATTACH=y"}
    fault = Fault("fs/exec.c", ("LTO_CLANG", "USELIB", "CROSS_MEMORY_ATTACH"), "undefined", symbol)
    monkeypatch.setenv("CCACHE_DIR", str(shared_ccache))  # the workers' ccache: the warm one
    tree = scratch_tree(kernel_tree, tmp_path / "linux", [fault])
    baseline, bad = leaf_randconfig(kernel_tree, tmp_path, seed=2, enable=sorted(culprits))
    run = minimize(bad, tree, tmp_path / "state", shared_ccache, "--arch", "x86_64",
                   "--baseline", str(baseline), "--scheduler", "local:2", "--workers", "2",
                   timeout=60 * 60, pytestconfig=pytestconfig)
    assert run.proc.returncode == 0, run.proc.stderr[-3000:]
    assert fragment_lines(run.state) == culprits
    summary = run.summary()
    assert summary["verified"] is True and summary["verification"]["olddefconfig"]["equal"] is True
    assert symbol in summary["signature"]["message"] + summary["signature"]["location"]
    assert not (tmp_path / "state" / "workers").exists()  # every build ran on a worker


def test_builds_refused_by_a_worker_without_the_tree_go_to_the_others(tmp_path):
    tree = tiny_tree(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        # A worker started by hand whose tree is elsewhere (and missing there).
        stray = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
             "--nworkers", "1", "--nthreads", "1", "--dashboard-address", ":0", "--name", "stray"],
            env={**os.environ, "LTOBISECT_TREE_MAP": f"{tree}={tmp_path / 'elsewhere'}"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(cluster) as client:
                client.wait_for_workers(2, timeout=60)
            rep = ListReporter()
            result = Session(_tiny_config(tree, tmp_path / "state", tree / "test.sh", workers=2,
                                          scheduler=cluster.scheduler_address), rep).run()
        finally:
            stray.kill()
            stray.wait()
    assert result.status == "minimized", result.message
    refused = [m.text for m in rep.events if getattr(m, "level", "") == "warning"
               and "no more builds go there" in m.text]
    assert len(refused) == 1 and f"no tree at {tmp_path / 'elsewhere'}" in refused[0]


@pytest.mark.needs("cc", "make", "git")
def test_the_first_bad_commit_found_on_the_farm_is_the_local_one(tmp_path):
    from ltobisect.testing.planted import demo_git_history

    repo, revs, bad = demo_git_history(DEMO, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*args) -> dict:
        proc = subprocess.run([sys.executable, "-m", "ltobisect", *map(str, args), "--json"],
                              capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.splitlines()[-1])

    cli("minimize", bad, "--tree", repo, "--state", tmp_path / "state")
    shutil.copytree(tmp_path / "state", tmp_path / "farmed")
    local = cli("bisect", tmp_path / "state", "--good", revs["good"], "--verify", "0")["bisect"]
    farmed = cli("bisect", tmp_path / "farmed", "--good", revs["good"], "--verify", "0",
                 "--scheduler", "local:1")["bisect"]
    assert farmed["first_bad"] == local["first_bad"] == revs["first_bad"]
    assert [s["verdict"] for s in farmed["steps"]] == [s["verdict"] for s in local["steps"]]
    # The farm's builds ran in its workers' directories, not in the client's work directory.
    assert not (tmp_path / "farmed" / "bisect" / "workers").exists()
    assert (tmp_path / "state" / "bisect" / "workers").exists()


# -- the farm's doors: TLS, plain tcp:// off this machine, the sandbox on a worker ----------------
FAKE = Path(__file__).parent / "fakelinux"


def _certificates(top: Path) -> Dict[str, Path]:
    """A CA and the certificates it signs for a scheduler, a worker and a client; and a
    stranger's certificate, signed by another CA. Made with openssl, valid for a day."""
    top.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=top, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    for name, ca in (("scheduler", "ca"), ("worker", "ca"), ("client", "ca"), ("stranger", "other-ca")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "1", "-out", f"{name}.pem")
    return {p.stem + p.suffix: p for p in top.iterdir()}


@pytest.fixture
def tls_farm(tmp_path):
    """`dask scheduler` and one `dask worker` on 127.0.0.1 speaking only TLS, as the README
    starts them; the scheduler's address and the certificates."""
    certs = _certificates(tmp_path / "certs")
    dask = str(Path(sys.executable).parent / "dask")
    tls = lambda who: ["--tls-ca-file", str(certs["ca.pem"]), "--tls-cert", str(certs[f"{who}.pem"]),
                       "--tls-key", str(certs[f"{who}.key"])]
    address_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([dask, "scheduler", "--protocol", "tls", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file),
                               *tls("scheduler")], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        wait_until(lambda: address_file.is_file() and json.loads(address_file.read_text() or "{}"),
                   timeout=60, what="the TLS scheduler to start")
        address = json.loads(address_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                       *tls("worker")], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        yield address, certs
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


@pytest.mark.needs("openssl", "cc", "make")
def test_a_tls_farm_refuses_a_stranger_and_minimizes_the_demo_for_its_client(tls_farm, tmp_path):
    address, certs = tls_farm
    stranger = FarmAccess(certs["other-ca.pem"], certs["stranger.pem"], certs["stranger.key"])
    with pytest.raises(UserError) as refused:
        farm.connect(address, stranger, timeout=10)
    assert "with our certificate" in str(refused.value)
    tree = tmp_path / "tree"
    shutil.copytree(DEMO, tree)
    proc = subprocess.run(
        [sys.executable, "-m", "ltobisect", "minimize", str(tree / "configs" / "randconfig.config"),
         "--tree", str(tree), "--baseline", str(tree / "configs" / "baseline.config"),
         "--workers", "1", "--state", str(tmp_path / "state"), "--json", "--scheduler", address,
         "--tls-ca", str(certs["ca.pem"]), "--tls-cert", str(certs["client.pem"]),
         "--tls-key", str(certs["client.key"])],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(tmp_path / "state" / "summary.json")
    assert set(summary["fragment"]) == CULPRITS and summary["verified"] is True
    # A resume (no TLS options given) reaches the farm the way the session did.
    session = json.loads((tmp_path / "state" / "session.json").read_text())
    assert session["config"]["farm"]["tls_cert"] == str(certs["client.pem"])


def test_a_plain_tcp_farm_off_this_machine_is_refused_before_anything_is_written(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(DEMO, tree)
    base = [sys.executable, "-m", "ltobisect", "minimize", str(tree / "configs" / "randconfig.config"),
            "--tree", str(tree), "--state", str(tmp_path / "state")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(base + ["--scheduler", "tcp://192.0.2.7:8786"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "a plain tcp:// farm off this machine is unauthenticated" in proc.stderr
    assert "--insecure-farm" in proc.stderr and "--tls-ca" in proc.stderr
    assert not (tmp_path / "state").exists()
    wrong = subprocess.run(base + ["--scheduler", "tcp://127.0.0.1:8786", "--tls-ca", str(tree / "Kconfig")],
                           capture_output=True, text=True, timeout=120, env=env)
    assert wrong.returncode == 1 and "--tls-ca is for a tls:// scheduler" in wrong.stderr
    # The checks themselves: loopback and local:N need nothing, the opt-in lets tcp:// through,
    # a tls:// farm takes all three files or none (Dask's configuration).
    for address in ("tcp://127.0.0.1:8786", "tcp://localhost:8786", "127.0.0.1:8786", "local:2",
                    "tcp://[::1]:8786"):
        check_farm(address, FarmAccess())
    check_farm("tcp://192.0.2.7:8786", FarmAccess(insecure=True))
    check_farm("tls://192.0.2.7:8786", FarmAccess())
    with pytest.raises(UserError, match="--tls-cert, --tls-key missing"):
        check_farm("tls://192.0.2.7:8786", FarmAccess(tls_ca=tree / "Kconfig"))
    with pytest.raises(UserError, match="reaches a farm by tls:// or tcp://"):
        check_farm("ws://192.0.2.7:8786", FarmAccess())
    # A certificate moved since the session started: one line naming it, before any connection.
    gone = tmp_path / "moved"
    with pytest.raises(UserError, match="--tls-cert .*moved/client.pem: no such file"):
        farm.connect("tls://127.0.0.1:1", FarmAccess(tree / "Kconfig", gone / "client.pem",
                                                      gone / "client.key"), timeout=3)


@pytest.mark.needs("bwrap", "python3")
def test_a_build_on_a_worker_has_the_local_sandbox_read_only_tree_and_no_network(tmp_path, cluster):
    """The worker builds in the same sandbox as the local pool: the tree is read-only even
    where the disk would let it be written, and the network is not there, while the same
    misbehaving build without the sandbox does both."""
    import socket
    tree = tmp_path / "fakelinux"
    shutil.copytree(FAKE, tree)  # writable on disk: only the sandbox stops the write
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def build(sandbox: str, option: str) -> str:
        spec = OracleSpec(work_dir=tmp_path / f"client-{sandbox}-{option}",
                          build=BuildSpec(tree=tree, sandbox=sandbox, jobs=1))
        executor = farm.farm_pool(cluster.scheduler_address, 1)(spec, StopCondition())
        try:
            text = f'CONFIG_{option}=y\nCONFIG_PORT="{port}"\n'
            item = Resolved(candidate=frozenset(), config_text=text, digest=f"{sandbox}-{option}")
            outcome = executor.run([item], lambda i, r, o: None, observe=True)[0]
        finally:
            executor.close()
        return Path(outcome.log_path).read_text()

    try:
        assert "fake: cannot write the source tree" in build("bwrap", "WRITE_SOURCE")
        assert not (tree / "written-by-build").exists()
        assert "fake: no network" in build("bwrap", "NETWORK")
        assert "fake: no network" not in build("none", "NETWORK")  # the test's listener answers
        assert "fake: cannot write" not in build("none", "WRITE_SOURCE")
        assert (tree / "written-by-build").exists()
    finally:
        listener.close()
