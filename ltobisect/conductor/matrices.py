"""The steps after the search that build the minimal config in other settings: the LTO matrix
(:mod:`ltobisect.matrix.lto`: without LTO, with the other mode) and the LLVM matrix
(:mod:`ltobisect.matrix.llvm`: with other LLVM releases). Both are extra builds of a small config,
never worth the result: they run when the budget affords them, and a stop or an infrastructure
error leaves them incomplete and says so, never failing the session.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ltobisect.matrix import llvm as llvm_matrix

from ltobisect.matrix import lto as lto_matrix
from ltobisect.config import BuildSpec, SessionConfig, is_kernel_tree
from ltobisect.conductor.confirm import Confirmed
from ltobisect.executor import Executor, judged_by
from ltobisect.errors import InfraError, Stopped
from ltobisect.store.journal import Journal
from ltobisect.limits import StopCondition
from ltobisect.conductor.load import Loaded
from ltobisect.model import Candidate, Label, Outcome, Phase, Resolved, SignatureKind
from ltobisect.problem import Problem
from ltobisect.store.state import SessionDoc


@dataclass
class Matrices:
    """What the two matrices need of the session: its settings and document, the problem (the
    gate to the builds, counted with the search's), the journal, the executor and the confirmed
    oracle spec, the loaded tree, the stop condition, how to announce a phase and to load the
    Kconfig tree of another toolchain, the work directory."""

    config: SessionConfig
    doc: SessionDoc
    problem: Problem
    journal: Journal
    executor: Optional[Executor]
    confirmed: Optional[Confirmed]
    loaded: Optional[Loaded]
    stop: StopCondition
    phase: Callable[[Phase, str], None]
    tree_loader: Callable[[SessionConfig, Path], Any]
    work: Path

    def lto(self, best: Candidate) -> Optional[Dict[str, Any]]:
        """The minimal config built in the other LTO modes (``ltobisect.matrix.lto``), when it
        builds with Clang LTO on a kernel tree and the budget affords it. Never fails the
        session: a stop or an infrastructure error leaves the matrix incomplete, said so."""
        problem, loaded, cfg, doc = self.problem, self.loaded, self.config, self.doc
        assert problem is not None and loaded is not None and doc is not None
        if not cfg.lto_matrix or cfg.test_script is not None or not is_kernel_tree(loaded.tree_dir) \
                or self.stop.requested:
            return None
        bad = doc.bad_outcome
        seconds = float(bad.duration) if bad is not None else 0.0
        sig = self.confirmed.signature if self.confirmed else None
        lld = seconds * 1.25 if sig is not None and sig.kind == SignatureKind.LINK_ERROR else 0.0

        def why_not() -> str:
            max_tests = cfg.limits.max_tests
            left = None if max_tests is None else max_tests - problem.stats.tests
            return lto_matrix.affordable(self.stop.time_left(), left, seconds, cfg.workers, lld)

        def test(cands: Sequence[Candidate]) -> List[Outcome]:
            self.phase(Phase.VERIFYING, "the LTO matrix")
            problem.label = Label.LTO_MATRIX
            spec = self.confirmed.spec if self.confirmed else None
            if (spec is None or spec.timeout is None or cfg.timeout is not None
                    or self.executor is None):
                return problem.test_many(cands, adopt=False)
            # Every object recompiles: a derived timeout is for a few of them. The timeout is
            # not part of the oracle's fingerprint, so the journal stays as it is.
            longer = replace(spec, timeout=spec.timeout * lto_matrix.CLEAN_BUILD_FACTOR)
            with judged_by(self.executor, longer, spec):
                return problem.test_many(cands, adopt=False)

        try:
            return lto_matrix.run_matrix(best, problem.resolve(best).config_text, problem.resolve,
                                         test, why_not)
        except (Stopped, InfraError) as exc:
            text = exc.line() if isinstance(exc, InfraError) else str(exc)
            return {"reported": lto_matrix.lto_mode(problem.resolve(best).config_text), "modes": [],
                    "note": f"not built: {text}"}

    def llvm(self, best: Candidate) -> Optional[Dict[str, Any]]:
        """The minimal config built with the other LLVM releases of ``--llvm-matrix``
        (:mod:`ltobisect.matrix.llvm`). Each build has its toolchain's oracle and journal
        fingerprint, so a resumed session finds it; the session's oracle comes back after."""
        problem, cfg, journal, executor = self.problem, self.config, self.journal, self.executor
        if not cfg.llvm_matrix or cfg.build is None or cfg.test_script is not None \
                or problem is None or journal is None or executor is None or self.confirmed is None \
                or self.stop.requested:
            return None
        spec = self.confirmed.spec
        bad = self.doc.bad_outcome if self.doc is not None else None
        seconds = float(bad.duration) if bad is not None else 0.0
        reported = llvm_matrix.major_of(cfg.build, (self.doc.environment or {}).get("toolchain")
                                        if self.doc is not None else None)

        def resolve_for(build: BuildSpec) -> Resolved:
            self.phase(Phase.VERIFYING, f"Kconfig for LLVM {llvm_matrix.major_of(build)}")
            tree = self.tree_loader(replace(cfg, build=build),
                                     self.work / f"kconfig-llvm-{llvm_matrix.major_of(build)}")
            return tree.resolver(tree.baseline(cfg.baseline))(best)

        def why_not(count: int) -> str:
            left = None if cfg.limits.max_tests is None else cfg.limits.max_tests - problem.stats.tests
            return llvm_matrix.affordable(self.stop.time_left(), left, seconds, count)

        def test(build: BuildSpec, resolved: Resolved) -> Outcome:
            self.phase(Phase.VERIFYING, f"the LLVM matrix: LLVM {llvm_matrix.major_of(build)}")
            timeout = spec.timeout * llvm_matrix.CLEAN_BUILD_FACTOR \
                if spec.timeout is not None and cfg.timeout is None else spec.timeout
            problem.label = Label.LLVM_MATRIX
            with judged_by(executor, replace(spec, build=build, timeout=timeout), spec, journal):
                return problem.test_resolved([resolved])[0]

        return llvm_matrix.run_matrix(cfg.llvm_matrix, reported, cfg.build, resolve_for, test, why_not)
