"""TreeGuard: a build of a tree that vanished is an infrastructure error, not a verdict."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from ..model import Outcome, Resolved, Signature, Verdict
from .spec import Oracle


class TreeGuard:
    """Wraps an oracle so that a build of a vanished tree is an infrastructure error.

    A tree deleted or unmounted during a run makes make fail in ways that look like a config's
    failure; recording those as verdicts would poison the journal. After each test the tree is
    checked, and if it is gone the outcome becomes ``INFRA_ERROR`` (never journaled).
    """

    def __init__(self, inner: Oracle, tree: Path, kconfig_file: str = "Kconfig") -> None:
        self.inner = inner
        self.tree = tree
        self.kconfig_file = kconfig_file
        self._marker = tree / kconfig_file

    def _check(self, outcome: Outcome) -> Outcome:
        if not self._marker.is_file():
            return Outcome(Verdict.INFRA_ERROR, duration=outcome.duration,
                           detail=f"the tree {self.tree} vanished")
        return outcome

    @property
    def signature(self) -> Optional[Signature]:
        return getattr(self.inner, "signature", None)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def observe(self, resolved: Resolved, slot: int) -> Outcome:
        return self._check(self.inner.observe(resolved, slot))

    def test(self, resolved: Resolved, slot: int) -> Outcome:
        return self._check(self.inner.test(resolved, slot))

    def with_signature(self, sig: Signature) -> "TreeGuard":
        return TreeGuard(self.inner.with_signature(sig), self.tree, self.kconfig_file)

    def with_timeout(self, seconds: Optional[float]) -> "TreeGuard":
        return TreeGuard(self.inner.with_timeout(seconds), self.tree, self.kconfig_file)

    def with_targets(self, targets: Optional[Sequence[str]]) -> "TreeGuard":
        return TreeGuard(self.inner.with_targets(targets), self.tree, self.kconfig_file)

    def targets(self) -> List[str]:
        return list(self.inner.targets())

    def build_key(self) -> str:
        return self.inner.build_key()

    def rejudge(self, outcome: Outcome) -> Optional[Outcome]:
        return self.inner.rejudge(outcome)

    def roots(self, slot: int) -> List[str]:
        return list(self.inner.roots(slot)) or [str(self.tree)]

    def close(self) -> None:
        self.inner.close()

    def cancel(self, slot: int) -> None:
        self.inner.cancel(slot)
