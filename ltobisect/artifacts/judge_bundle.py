"""judge.py: ltobisect's own matcher of a failure, as one standalone program beside reproduce.sh.

reproduce.sh must call a build reproduced exactly when ltobisect would: the same normalized
message, kind, tool and location (:func:`ltobisect.logs.signature.matches`), never a grep of a
symbol that a compile error of the same function also prints. A maintainer who runs it may not
have ltobisect installed, so :func:`judge_program` writes the matcher out: the sources of
:mod:`ltobisect.logs.signature` and of every module it imports, relatively, are copied verbatim into
one file and loaded there as a small in-memory package, so the judge is ltobisect's code of
this version and cannot drift from it. The session's signature is written into the program
as JSON.

``python3 judge.py [--anywhere] LOG [ROOT...]`` (the roots: the tree and the output directory,
whose paths normalization removes, as the build oracle's roots; ``--anywhere``: the failure may
name any file, as in a reduced reproducer, :func:`ltobisect.logs.signature.shows_anywhere`) exits:

- 0 (:data:`SHOWS`): the log shows the failure;
- 10 (:data:`OTHER`): it does not; stdout has the failure the log shows instead, if any, in
  the words of :meth:`ltobisect.model.Signature.describe`;
- 3 (:data:`OLD_PYTHON`): this python is too old (3.7 is needed) for the bundled modules;
- anything else: the judge itself failed (python's own 1 and 2 included), so that a crash
  never reads as "not reproduced".

The program's own lines keep to syntax every python3 (and python 2) parses, so that an old
interpreter reaches the version check and says so instead of failing with a syntax error.
"""
from __future__ import annotations

import ast
import json
import pprint
from pathlib import Path
from typing import Dict, List, Optional

from ltobisect import __version__
from ltobisect.logs.kinds import MEASURED_KINDS
from ltobisect.model import Signature

#: The attachment's name, beside reproduce.sh.
JUDGE_FILE = "judge.py"
#: judge.py's exit statuses (see the module docstring).
SHOWS, OTHER, OLD_PYTHON = 0, 10, 3
#: The module whose ``matches`` and ``extract`` decide; it and its imports are bundled.
_ENTRY = "logs.signature"
#: The name of the in-memory package the bundled modules are loaded as (no clash with an
#: installed ltobisect, which the judge never imports).
_PACKAGE = "ltobisect_judge"
#: The directory of the package ltobisect, which the dotted names are read under.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def uses_judge(sig: Optional[Signature]) -> bool:
    """Whether reproduce.sh judges the log with judge.py: every signature a log answers
    (a regex too), not the measured ones (memory, duration) nor a timeout or a test script."""
    return sig is not None and sig.kind not in MEASURED_KINDS


def _relative_imports(source: str, name: str) -> List[str]:
    """The modules of ltobisect that ``source``, the module ``name`` (dotted, under
    ltobisect: ``logs.signature``), imports relatively: ``from .x import ...``,
    ``from ..x import ...``, ``from . import x``, as dotted names under ltobisect.

    An absolute import of ltobisect could not be loaded beside the bundle under another
    package's name: that is an error here, at generation, never at a maintainer's.
    """
    deps: List[str] = []
    package = name.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=f"{name}.py")):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] == "ltobisect":
                raise ValueError(f"{name}.py imports {node.module} absolutely: cannot be bundled")
            if node.level == 0:
                continue
            if node.level - 1 > len(package):
                raise ValueError(f"{name}.py imports from above ltobisect: cannot be bundled")
            base = package[:len(package) - (node.level - 1)]
            if node.module:
                deps.append(".".join(base + [node.module]))
            else:
                deps += [".".join(base + [a.name]) for a in node.names]
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "ltobisect"
                                                  for a in node.names):
            raise ValueError(f"{name}.py imports ltobisect absolutely: cannot be bundled")
    return deps


def bundled_sources() -> Dict[str, str]:
    """The sources of the entry module and everything it imports, dependencies first, by
    dotted name under ltobisect (``model``, ``logs.lognorm``)."""
    sources: Dict[str, str] = {}
    visiting: set = set()

    def visit(name: str) -> None:
        if name in sources:
            return
        if name in visiting:
            raise ValueError(f"import cycle through {name}.py: cannot be bundled")
        visiting.add(name)
        path = _PACKAGE_DIR.joinpath(*name.split(".")).with_suffix(".py")
        if not path.is_file():
            raise ValueError(f"{name}.py is a package or missing: cannot be bundled")
        text = path.read_text(encoding="utf-8")
        for dep in _relative_imports(text, name):
            visit(dep)
        sources[name] = text

    visit(_ENTRY)
    return sources


def _literal(source: str) -> str:
    """A module's source as a Python string literal: verbatim in a raw triple-quoted string
    when it can be (readable), else escaped."""
    if "'''" not in source and not source.endswith("\\") and "\r" not in source:
        return "r'''" + source + "'''"
    return repr(source)


_HEAD = '''\
#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Does a build log show the failure ltobisect minimized? reproduce.sh asks this program.

Generated by ltobisect {version}. The matcher below is ltobisect's own code, copied verbatim
(modules {modules}),
so this verdict is the one ltobisect gives. Do not edit it: ltobisect writes it again with
the report.

usage: python3 judge.py [--anywhere] LOG [ROOT...]
  ROOT   the directories the build ran in (tree, output directory), left out of paths
  --anywhere  the failure may name any file (a reduced reproducer's own)
exit: 0 the log shows the failure; 10 it does not (stdout: the failure it shows instead,
      if any); 3 this python is too old (3.7 or later is needed); other: the judge failed
"""
import sys

#: The failure, as ltobisect's session recorded it (its summary.json has it too).
SIGNATURE = {signature}

SHOWS, OTHER, OLD_PYTHON, FAILED = {shows}, {other}, {old}, 4
PACKAGE = {package!r}
#: The bundled modules in load order (a module after the ones it imports).
ORDER = {order!r}
SOURCES = {{}}


def main(argv):
    if sys.version_info < (3, 7):
        sys.stderr.write("judge.py: python 3.7 or later is needed, not %s\\n"
                         % sys.version.split()[0])
        return OLD_PYTHON
    anywhere = bool(argv) and argv[0] == "--anywhere"
    if anywhere:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: python3 judge.py [--anywhere] LOG [ROOT...]\\n")
        return FAILED
    try:
        with open(argv[0], encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        sys.stderr.write("judge.py: cannot read the log: %s\\n" % exc)
        return FAILED
    roots = [r for r in argv[1:] if r]
    pkg = load()
    sig = pkg.model.Signature.from_json(SIGNATURE)
    shows = pkg.logs.signature.shows_anywhere if anywhere else pkg.logs.signature.matches
    if shows(sig, text, roots=roots):
        return SHOWS
    found = pkg.logs.signature.extract(text, roots=roots)
    if found is not None:
        sys.stdout.buffer.write((found.describe() + "\\n").encode("utf-8", "replace"))
    return OTHER


def load():
    """The bundled modules as the package PACKAGE, so that their relative imports work."""
    import enum
    import types
    if not hasattr(enum, "StrEnum"):  # python before 3.11: the same behaviour for these enums
        class StrEnum(str, enum.Enum):
            def __str__(self):
                return str(self.value)

            def __format__(self, spec):
                return format(str(self.value), spec)
        enum.StrEnum = StrEnum
    def package(name):
        if name not in sys.modules:
            made = types.ModuleType(name)
            made.__path__ = []
            made.__package__ = name
            sys.modules[name] = made
            parent, _, leaf = name.rpartition(".")
            if parent:
                setattr(package(parent), leaf, made)
        return sys.modules[name]

    for name in ORDER:
        full = PACKAGE + "." + name
        parent, _, leaf = full.rpartition(".")
        mod = types.ModuleType(full)
        mod.__package__ = parent
        mod.__file__ = "judge.py:" + name.replace(".", "/") + ".py"
        sys.modules[full] = mod
        setattr(package(parent), leaf, mod)
        exec(compile(SOURCES[name], mod.__file__, "exec"), mod.__dict__)
    return package(PACKAGE)

'''

_TAIL = '''

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def judge_program(sig: Signature) -> str:
    """judge.py for ``sig``: the bundled matcher, the signature, and the code that runs them."""
    sources = bundled_sources()
    data = json.loads(json.dumps(sig.to_json()))  # plain str/float/None/dict values only
    head = _HEAD.format(version=__version__, modules=", ".join(f"{n.replace('.', '/')}.py" for n in sources),
                        signature=pprint.pformat(data, width=88, sort_dicts=False),
                        shows=SHOWS, other=OTHER, old=OLD_PYTHON, package=_PACKAGE,
                        order=tuple(sources))
    body = ""
    for name, text in sources.items():
        rule = f"# ---- {name.replace('.', '/')}.py of ltobisect {__version__} "
        body += f"\n{rule}{'-' * max(0, 78 - len(rule))}\nSOURCES[{name!r}] = {_literal(text)}\n"
    return head + body + _TAIL
