"""The house is described where a newcomer looks first: ARCHITECTURE.md, at the top of the
repository, names every module of the package and of the strategies, and names none that does not
exist, so that a module added, moved or removed without the document fails here. The product never
imports the support of the tests and benchmarks (planted faults, the simulation, the fidelity
check), which ARCHITECTURE.md calls the testing room."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "ARCHITECTURE.md"
TESTING = {"ltobisect.planted", "ltobisect.simulate", "ltobisect.fidelity"}


def modules() -> list:
    found = [p.relative_to(REPO).as_posix() for p in (REPO / "ltobisect").rglob("*.py")]
    found += [p.relative_to(REPO).as_posix() for p in (REPO / "strategies").glob("*.py")]
    return sorted(found)


def test_every_module_is_named_in_the_architecture_and_every_named_one_exists():
    text = DOC.read_text()
    assert [m for m in modules() if m not in text] == []
    named = set(re.findall(r"\b((?:ltobisect|strategies)/[\w/]*\w\.py)\b", text))
    assert sorted(n for n in named if not (REPO / n).is_file()) == []


def test_the_product_never_imports_the_test_support():
    for path in modules():
        if path.startswith("strategies/") or path.replace("/", ".")[:-3] in TESTING:
            continue
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            assert not names & TESTING, (path, sorted(names & TESTING))
