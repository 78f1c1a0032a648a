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
TESTING = "ltobisect.testing"


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
        if path.startswith("strategies/") or path.startswith("ltobisect/testing/"):
            continue
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            bad = sorted(n for n in names if n == TESTING or n.startswith(TESTING + "."))
            assert bad == [], (path, bad)


#: The floors of ARCHITECTURE.md: a room imports rooms on its own floor or below. A module at
#: the top level of ltobisect/ is a room of its own; a folder is one room.
FLOORS = {
    "__init__": 0, "__main__": 9, "model": 0, "errors": 0, "config": 0, "dotconfig": 0,
    "process": 0, "events": 0, "limits": 0, "costs": 0, "makecheck": 0, "farmcheck": 0,
    "history": 0,
    "textfit": 0,
    "logs": 1, "store": 1, "kconfig": 1, "matrix": 1, "confcheck": 1,
    "build": 2, "inputs": 2, "oracle": 2,
    "problem": 3, "speculate": 3, "engines": 3, "executor": 3, "farm": 3, "pools": 3,
    "strategies": 4, "testing": 4,
    "artifacts": 5, "conductor": 6, "reducer": 7, "ui": 8, "cli": 9,
}
#: The arrows up that ARCHITECTURE.md lists, and none other.
UP = {("inputs", "strategies")}


def dotted_of(path: str) -> str:
    """``strategies/bisect.py`` -> ``ltobisect.strategies.bisect``, as installed."""
    if path.startswith("strategies/"):
        path = "ltobisect/" + path
    return path.replace("/", ".")[:-3]


def room(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: str) -> set:
    """The ltobisect modules ``path`` imports, as dotted names, relative imports resolved."""
    package = dotted_of(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (node.module or "") if node.level == 0 else ".".join(
                package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            if base == "ltobisect":
                found |= {"ltobisect" if a.name.startswith("__") else f"ltobisect.{a.name}"
                          for a in node.names}
            elif base.startswith("ltobisect."):
                found.add(base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ltobisect.")}
    return found


def test_every_room_imports_only_its_floor_and_below():
    rooms = {room(dotted_of(m)) for m in modules()}
    assert sorted(rooms - set(FLOORS)) == []  # a new room gets a floor here and in the document
    wrong = set()
    for path in modules():
        mine = room(dotted_of(path))
        for target in imports_of(path):
            theirs = room(target)
            if theirs != mine and FLOORS[theirs] > FLOORS[mine] and (mine, theirs) not in UP:
                wrong.add((path, target))
    assert sorted(wrong) == []


def test_every_subprocess_of_the_product_runs_in_the_process_room():
    """A process started elsewhere has no timeout, no process group of its own and no kill on
    a stop; the process room (ltobisect/process.py) gives every command all three."""
    starters = []
    for path in modules():
        if path in ("ltobisect/process.py",) or path.startswith("ltobisect/testing/"):
            continue
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            names = ({a.name for a in node.names} if isinstance(node, ast.Import)
                     else {node.module} if isinstance(node, ast.ImportFrom) else set())
            if names & {"subprocess", "multiprocessing", "pty"} or (
                    isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "os" and node.attr in ("system", "popen", "fork",
                                                                "execv", "execvp", "spawnv")):
                starters.append(path)
    assert starters == []
