"""The oracle protocol and the plain specification an oracle is made from."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Protocol, Sequence, Tuple, runtime_checkable

from ..config import BuildSpec
from ..model import Outcome, Resolved, Signature


#: Exit status of a script that cannot test a config (as ``git bisect run``'s "skip").
CANNOT_TEST = 125


@runtime_checkable
class Oracle(Protocol):
    """What the executor and the session need from an oracle."""

    signature: Optional[Signature]

    def fingerprint(self) -> str:
        """Identity of everything a verdict depends on; part of the journal's cache key."""
        ...

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        """Run the test without a signature: PASSES or a failure verdict carrying its signature."""
        ...

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        """Run the test and judge it against ``self.signature``."""
        ...

    def with_signature(self, sig: Signature) -> "Oracle":
        """The same oracle judging by ``sig``."""
        ...

    def with_timeout(self, seconds: Optional[float]) -> "Oracle":
        """The same oracle with another per-test wall-clock limit (``None``: none)."""
        ...

    def with_targets(self, targets: Optional[Sequence[str]]) -> "Oracle":
        """The same oracle building ``targets`` (``None``: the ones its signature chooses)."""
        ...

    def targets(self) -> List[str]:
        """The make targets a test builds (empty: the default goal, or no make at all)."""
        ...

    def build_key(self) -> str:
        """What makes two tests the same build whatever their signature ("": cannot say, so
        no two tests share a build)."""
        ...

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]:
        """``outcome`` of the same build judged by this oracle's signature, from its log
        (``None``: the log cannot say)."""
        ...

    def roots(self, slot: int) -> List[str]:
        """The directories the tests of ``slot`` run in, which normalization strips from logs."""
        ...

    def close(self) -> None:
        """Kill running tests (callable from another thread); later tests give INFRA_ERROR."""
        ...

    def cancel(self, slot: int) -> None:
        """Kill the test running in ``slot`` only (callable from another thread): a build
        started ahead that no result needs any more. Its outcome is discarded."""
        ...


class OracleDefaults:
    """The answers of an oracle that builds nothing with make: no targets, no build shared
    between signatures, no rejudging, no directories of its own in logs. Oracles other than
    the kernel's (the user's script, tests' stand-ins) inherit them."""

    def with_targets(self, targets: Optional[Sequence[str]]) -> "OracleDefaults":
        return self

    def targets(self) -> List[str]:
        return []

    def build_key(self) -> str:
        return ""

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]:
        return None

    def roots(self, slot: int) -> List[str]:
        return []

    def cancel(self, slot: int) -> None:
        """Nothing to kill: the executor discards the outcome when the test ends."""


@dataclass(frozen=True)
class OracleSpec:
    """Everything an oracle is made of, as plain values: picklable, so an executor can send it
    to another machine and build the same oracle there (:func:`make_oracle`). What is local to
    a machine (running process groups, slot locks) is made there, never sent.

    ``work_dir`` holds the worker directories and logs; ``targets`` overrides the targets the
    signature chooses (``--each-failure`` builds every failure's targets).
    """

    work_dir: Path
    build: Optional[BuildSpec] = None
    script: Optional[Path] = None
    signature: Optional[Signature] = None
    timeout: Optional[float] = None
    mem_limit: Optional[int] = None
    memory_threshold: Optional[int] = None
    duration_threshold: Optional[float] = None
    workers: int = 1
    targets: Optional[Tuple[str, ...]] = None
    #: The timeout was derived from one build, not given: a test it stops while the build still
    #: makes new objects continues (see :class:`ltobisect.oracle.kernel.KernelOracle`).
    timeout_derived: bool = False

    def judged_by(self, sig: Signature, timeout: Optional[float],
                  targets: Optional[Sequence[str]] = None, *,
                  derived: bool = False) -> "OracleSpec":
        """The spec of the tests: the signature found, the timeout derived (``derived``) or given,
        the targets chosen (the thresholds became the signature)."""
        return replace(self, signature=sig, timeout=timeout, memory_threshold=None,
                       duration_threshold=None, timeout_derived=derived,
                       targets=tuple(targets) if targets is not None else self.targets)
