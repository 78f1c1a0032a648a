"""The LTO matrix: the minimal config built without LTO and with the other LTO mode.

The Kconfig side is played by a tiny resolver that knows the kernel's LTO choice (and whether
the arch offers ThinLTO); the builds by a function that answers from a table. The real kernel
case is in test_e2e_kernel.py.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from ltobisect.matrix import lto as lm
from ltobisect.model import Candidate, Change, Outcome, Resolved, Signature, Verdict

CULPRIT = Change("USELIB", "y")
THIN = Change("LTO_CLANG_THIN", "y")
FULL = Change("LTO_CLANG_FULL", "y")


def resolver(thin_offered: bool = True):
    def resolve(cand: Candidate) -> Resolved:
        chosen = "LTO_NONE"
        for c in cand:
            if c.name in lm.CHOICE and c.value == "y":
                chosen = c.name
        if chosen == "LTO_CLANG_THIN" and not thin_offered:
            chosen = "LTO_NONE"
        lines = [f"CONFIG_{name}=y" if name == chosen else f"# CONFIG_{name} is not set"
                 for name in sorted(lm.CHOICE)]
        lines += [c.line() for c in sorted(cand, key=lambda c: c.name) if c.name not in lm.CHOICE]
        text = "\n".join(lines) + "\n"
        return Resolved(frozenset(cand), text, str(hash(text)))
    return resolve


def builder(table: Dict[str, Verdict], calls: List[List[str]]):
    """Builds answer by the LTO mode the candidate asks for; ``calls`` records each batch."""
    def test(cands: Sequence[Candidate]) -> List[Outcome]:
        modes = [next(c.name for c in cand if c.name in lm.CHOICE) for cand in cands]
        calls.append(modes)
        out = []
        for m in modes:
            v = table[m]
            sig = Signature("link-error", "ld.lld", "undefined symbol: foo", "") if v is Verdict.OTHER_FAILURE else None
            out.append(Outcome(verdict=v, signature=sig, duration=1.0))
        return out
    return test


def test_a_thinlto_result_is_built_without_lto_and_with_full_lto_in_one_batch():
    calls: List[List[str]] = []
    best = frozenset({CULPRIT, THIN})
    resolve = resolver()
    matrix = lm.run_matrix(best, resolve(best).config_text, resolve,
                           builder({"LTO_NONE": Verdict.PASSES, "LTO_CLANG_FULL": Verdict.REPRODUCES}, calls),
                           lambda: "")
    assert calls == [["LTO_NONE", "LTO_CLANG_FULL"]]  # one batch: side by side with 2 workers
    assert matrix == {"reported": "thin", "note": "", "modes": [
        {"lto": "none", "outcome": "builds", "detail": ""},
        {"lto": "full", "outcome": "reproduces", "detail": ""}]}
    assert lm.describe(matrix) == ("fails with ThinLTO (as reported); builds without LTO; "
                                   "fails the same way with full LTO")


def test_each_variant_keeps_the_culprits_and_sets_one_lto_mode():
    best = frozenset({CULPRIT, THIN, Change("LTO_NONE", "n")})
    none = lm.with_mode(best, "none")
    assert none == {CULPRIT, Change("LTO_NONE", "y", "bool", "n")}
    assert lm.with_mode(best, "full") == {CULPRIT, Change("LTO_CLANG_FULL", "y", "bool", "n")}


def test_a_mode_the_arch_does_not_offer_is_reported_not_built():
    calls: List[List[str]] = []
    best = frozenset({CULPRIT, FULL})
    resolve = resolver(thin_offered=False)
    matrix = lm.run_matrix(best, resolve(best).config_text, resolve,
                           builder({"LTO_NONE": Verdict.OTHER_FAILURE}, calls), lambda: "")
    assert calls == [["LTO_NONE"]]
    none, thin = matrix["modes"]
    assert none["lto"] == "none" and none["outcome"] == "fails-otherwise"
    assert "undefined symbol: foo" in none["detail"]
    assert thin["lto"] == "thin" and thin["outcome"] == "unavailable"
    line = lm.describe(matrix)
    assert line.startswith("fails with full LTO (as reported); fails otherwise (")
    assert line.endswith("not offered with ThinLTO")


def test_without_lto_there_is_no_matrix_and_nothing_is_built():
    calls: List[List[str]] = []
    best = frozenset({CULPRIT})
    resolve = resolver()
    assert lm.run_matrix(best, resolve(best).config_text, resolve, builder({}, calls), lambda: "") is None
    assert calls == []
    assert lm.describe(None) == ""


def test_a_budget_that_cannot_afford_the_builds_skips_them_and_says_why():
    calls: List[List[str]] = []
    best = frozenset({CULPRIT, THIN})
    resolve = resolver()
    reason = lm.affordable(time_left=100.0, builds_left=None, build_seconds=300.0, parallel=2, reserved=0.0)
    matrix = lm.run_matrix(best, resolve(best).config_text, resolve, builder({}, calls), lambda: reason)
    assert calls == []
    assert [m["outcome"] for m in matrix["modes"]] == ["skipped", "skipped"]
    assert "budget left (100s) cannot afford two more clean builds of about 1200s" in lm.describe(matrix)


def test_affordable_counts_clean_builds_rounds_the_reserve_and_the_build_limit():
    # A matrix build recompiles everything: counted as CLEAN_BUILD_FACTOR incremental builds.
    one = 100.0 * lm.CLEAN_BUILD_FACTOR
    # Two workers: one round, the lld reserve and the artifacts' 30 s.
    assert lm.affordable(one + 200 + 30 + 1, None, 100.0, 2, 200.0) == ""
    assert lm.affordable(one + 200 + 30 - 1, None, 100.0, 2, 200.0) != ""
    # One worker: the two builds run one after the other.
    assert lm.affordable(2 * one + 30 - 1, None, 100.0, 1, 0.0) != ""
    assert lm.affordable(2 * one + 30 - 1, None, 100.0, 2, 0.0) == ""
    assert lm.affordable(None, 1, 100.0, 2, 0.0) == "the build limit leaves no room for two more builds"
    assert lm.affordable(None, None, 100.0, 2, 0.0) == ""
