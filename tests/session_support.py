"""Helpers for the session, journal, executor and report tests.

- ``tiny_tree(tmp)``: a copy of ``tests/data/tinytree``, a 24-symbol Kconfig project whose bad
  config differs from its defconfig in 24 changes; the failure needs exactly four of them
  (``NET``, ``NET_FOO`` which depends on it, ``LTO``, and ``KEEP`` turned off). Its
  ``test.sh`` is a real interestingness script (``TINY_DELAY`` seconds per test).
- :class:`PyOracle`: the same predicate evaluated in Python (instant), with injectable
  infrastructure faults, flipped verdicts and a hook per test, following the Oracle protocol.
"""
from __future__ import annotations

import random
import shutil
import threading
from pathlib import Path
from typing import Callable, List, Optional

from ltobisect.config import BuildSpec, RetryPolicy, SessionConfig
from ltobisect.errors import InfraError
from ltobisect.model import Outcome, Resolved, Signature, Verdict
from ltobisect.oracle import OracleDefaults, OracleSpec

DATA = Path(__file__).parent / "data"
EXPECTED = ("# CONFIG_KEEP is not set", "CONFIG_LTO=y", "CONFIG_NET=y", "CONFIG_NET_FOO=y")
LINK_SIG = Signature(kind="link-error", tool="ld.lld", message="undefined symbol: foo_lto_stub")
FAST_RETRY = RetryPolicy(attempts=8, initial_wait=0.001, max_wait=0.01)


def tiny_tree(tmp: Path) -> Path:
    """A private copy of the tiny Kconfig tree."""
    dst = tmp / "tree"
    shutil.copytree(DATA / "tinytree", dst)
    return dst


def tiny_config(tree: Path, state: Path, **kw) -> SessionConfig:
    """A session over the tiny tree with its test script (override anything with ``kw``)."""
    base = dict(bad_config=tree / "bad.config", state_dir=state, build=BuildSpec(tree=tree),
                baseline="defconfig", test_script=tree / "test.sh", retry=FAST_RETRY)
    base.update(kw)
    return SessionConfig(**base)


def reproduces(config_text: str) -> bool:
    """The tiny tree's failure, as test.sh decides it."""
    lines = set(config_text.splitlines())
    return ("CONFIG_NET_FOO=y" in lines and "CONFIG_LTO=y" in lines
            and "# CONFIG_KEEP is not set" in lines)


class PyOracle(OracleDefaults):
    """The tiny tree's failure judged in Python, with faults on demand.

    ``infra``: probability that a test raises InfraError (or, every other time, returns an
    INFRA_ERROR outcome); ``flaky``: probability that a REPRODUCES/PASSES verdict is flipped
    (never for the first ``steady`` tests: the bad config and the baseline, and never on two
    builds of one config in a row: a transient fault, which verification is built to outlast;
    independent flips could, rarely, fake a result by flipping one config three times);
    ``hook(n, r)`` runs before test number ``n``. Copies made by ``with_signature``/``with_timeout`` share the
    counters, the rng and the trace (``tested``: digests in order).
    """

    def __init__(self, log_dir: Path, *, infra: float = 0.0, flaky: float = 0.0, seed: int = 0,
                 steady: int = 1, hook: Optional[Callable[[int, Resolved], None]] = None,
                 signature: Optional[Signature] = None, delay: float = 0.0) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.infra = infra
        self.flaky = flaky
        self.steady = steady
        self.hook = hook
        self.signature = signature
        self.delay = delay
        self.timeout: Optional[float] = None
        self.closed = threading.Event()
        self._shared = {"rng": random.Random(seed), "lock": threading.Lock(), "n": 0,
                        "tested": [], "flipped": [], "faults": 0, "just_flipped": {}}

    @property
    def tested(self) -> List[str]:
        return self._shared["tested"]

    @property
    def flipped(self) -> List[str]:
        return self._shared["flipped"]

    def _copy(self) -> "PyOracle":
        other = PyOracle.__new__(PyOracle)
        other.__dict__.update(self.__dict__)
        return other

    def fingerprint(self) -> str:
        return "py-oracle:" + (repr(self.signature.to_json()) if self.signature else "observe")

    def with_signature(self, sig: Signature) -> "PyOracle":
        other = self._copy()
        other.signature = sig
        return other

    def with_timeout(self, seconds: Optional[float]) -> "PyOracle":
        other = self._copy()
        other.timeout = seconds
        return other

    def roots(self, slot: int) -> List[str]:
        return [str(self.log_dir)]

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        return self._run(resolved, observe=True)

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        return self._run(resolved, observe=False)

    def _run(self, resolved: Resolved, observe: bool) -> Outcome:
        sh = self._shared
        with sh["lock"]:
            sh["n"] += 1
            n = sh["n"]
            fault = sh["rng"].random() < self.infra
            flip = sh["rng"].random() < self.flaky and n > self.steady + 1
            # A transient fault: never the same config's two builds in a row.
            flip = flip and not sh["just_flipped"].get(resolved.digest, False)
            if not fault:
                sh["just_flipped"][resolved.digest] = flip
        if self.hook is not None:
            self.hook(n, resolved)
        if self.closed.is_set():
            return Outcome(Verdict.INFRA_ERROR, detail="interrupted (the oracle was closed)")
        if self.delay:
            if self.closed.wait(self.delay):
                return Outcome(Verdict.INFRA_ERROR, detail="interrupted (the oracle was closed)")
        if fault:
            sh["faults"] += 1
            if n % 2:
                raise InfraError("injected: sandbox setup failed")
            return Outcome(Verdict.INFRA_ERROR, detail="injected: worker lost")
        bad = reproduces(resolved.config_text)
        if flip and not observe:
            bad = not bad
            sh["flipped"].append(resolved.digest)
        log = self.log_dir / f"{resolved.digest}-{n}.log"
        log.write_text("  LD      vmlinux\nld.lld: error: undefined symbol: foo_lto_stub\n"
                       if bad else "  LD      vmlinux\n")
        with sh["lock"]:
            sh["tested"].append(resolved.digest)
        if not bad:
            return Outcome(Verdict.PASSES, duration=0.01, log_path=str(log), peak_rss=1 << 20)
        if observe or self.signature is None:
            verdict = Verdict.OTHER_FAILURE
        else:
            verdict = Verdict.REPRODUCES if self.signature == LINK_SIG else Verdict.OTHER_FAILURE
        return Outcome(verdict, signature=LINK_SIG, duration=0.01, log_path=str(log),
                       peak_rss=1 << 20, detail=LINK_SIG.describe())

    def close(self) -> None:
        self.closed.set()


def py_factory(oracle: PyOracle):
    """An oracle_factory for Session that hands out ``oracle`` (with the spec's signature and
    timeout)."""

    def make(spec: OracleSpec):
        o = oracle.with_timeout(spec.timeout)
        return o.with_signature(spec.signature) if spec.signature is not None else o

    return make
