"""The one description of each kind of failure (ltobisect/logs/kinds.py) and the rooms that read
it: the oracle builds the target the kind names, reproduce.sh and the report name the same
target, the reducer picks the reduction the kind names, and judge.py leaves the measured kinds
alone."""
from __future__ import annotations

from pathlib import Path

import pytest

from ltobisect.artifacts.judge_bundle import uses_judge
from ltobisect.config import BuildSpec
from ltobisect.logs import kinds
from ltobisect.logs.signature import at_the_link
from ltobisect.model import Signature, SignatureKind
from ltobisect.oracle import targets_for
from ltobisect.reducer.run import kind_of

REPO = Path(__file__).resolve().parent.parent


def test_every_kind_a_signature_can_have_is_described_once():
    assert set(kinds.KINDS) == set(SignatureKind)
    assert kinds.MEASURED_KINDS == {"memory", "duration", "timeout", "script"}


@pytest.mark.parametrize("sig, targets, reduction", [
    (Signature("compile-error", "clang", "use of undeclared identifier 'x'", "fs/namei.c:12"),
     ["fs/"], "source"),
    (Signature("compile-error", "clang", "unknown type name 'y'", "include/linux/fs.h"), [], "source"),
    (Signature("link-error", "ld.lld", "undefined symbol: f", "f"), ["vmlinux"], "link"),
    (Signature("crash", "ld.lld", "LLVM ERROR: invalid symbol index", ""), ["vmlinux"], "link"),
    (Signature("crash", "clang", "Assertion `x' failed", "net/core/dev.c"), [], "source"),
    (Signature("objtool", "objtool", "unreachable instruction", "arch/x86/kvm/vmx.o"),
     ["arch/x86/kvm/"], None),
    (Signature("objtool", "objtool", "missing __noreturn", "vmlinux.o"), ["vmlinux"], None),
    (Signature("kconfig", "kconfig", "unmet direct dependencies", "FOO"), ["olddefconfig"], None),
    (Signature("modpost", "modpost", "section mismatch", "vmlinux.o"), [], None),
    (Signature("memory", threshold=8e9), [], None),
    (None, [], None),
])
def test_a_kind_names_the_target_that_shows_it_and_its_reduction(sig, targets, reduction,
                                                                tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "Makefile.build").write_text("")  # a kbuild tree
    assert kinds.make_targets(sig) == targets
    assert targets_for(BuildSpec(tree=tmp_path), sig) == targets
    assert targets_for(BuildSpec(tree=REPO / "examples" / "demo"), sig) == []  # no kbuild
    assert kind_of(sig) == reduction
    assert at_the_link(sig) == (reduction == "link")


def test_a_regex_stands_for_the_failure_of_the_line_it_picked():
    link = Signature("link-error", "ld.lld", "undefined symbol: f", "f")
    picked = Signature("regex", "", "undefined symbol", basis=link)
    assert kinds.make_targets(picked) == ["vmlinux"] and kind_of(picked) == "link"
    assert kinds.make_targets(Signature("regex", "", "Entering")) == []
    assert kind_of(Signature("regex", "", "Entering")) is None


def test_judge_py_judges_every_kind_a_log_can_answer_and_no_measured_one():
    for kind in SignatureKind:
        assert uses_judge(Signature(kind, "x", "m")) == (kind not in kinds.MEASURED_KINDS)
