"""The JSON contract's schema as the tests check it: the JSON Schema that ships in the package
(``ltobisect.artifacts.summary.schema_path()``), never a copy of it kept here.

Every test that reads what ``--json`` printed or a summary.json goes through these helpers, so
that a field the code writes with another type, or stops writing, fails the test that saw it:
:func:`check_lines` for stdout's lines (events and the Summary), :func:`check_summary` for one
Summary (``--summary-json``'s file), :func:`read_summary` for summary.json in a state directory.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, List

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from ltobisect.artifacts.summary import schema_path


@lru_cache(maxsize=None)
def schema() -> dict:
    """The schema file, parsed."""
    return json.loads(schema_path().read_text(encoding="utf-8"))


def definition(name: str) -> dict:
    """One of the schema's ``$defs``."""
    return schema()["$defs"][name]


@lru_cache(maxsize=None)
def validator(name: str = "") -> Draft202012Validator:
    """A validator of the root (one stdout line), or of ``#/$defs/<name>`` with the rest of the
    schema reachable by its ``$id``."""
    doc = schema()
    if not name:
        return Draft202012Validator(doc)
    registry = Registry().with_resource(doc["$id"], Resource.from_contents(doc))
    return Draft202012Validator({"$ref": f"{doc['$id']}#/$defs/{name}"}, registry=registry)


def _deepest(error: ValidationError) -> ValidationError:
    """Of an error of ``anyOf`` (null or a value...), the alternative's error that says most:
    not "is not of type 'null'", and the one deepest in the document."""
    while error.context:
        error = min(error.context, key=lambda e: (e.schema == {"type": "null"},
                                                  -len(e.absolute_path)))
    return error


def problems(doc: Any, name: str = "") -> List[str]:
    """Every way ``doc`` breaks the schema (empty: it follows it), one line each."""
    found = [_deepest(e) for e in validator(name).iter_errors(doc)]
    found.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def _check(doc: Any, name: str, what: str) -> None:
    wrong = problems(doc, name)
    assert not wrong, f"{what} breaks schema 1:\n  " + "\n  ".join(wrong[:10])


def check_lines(lines: Iterable[dict]) -> None:
    """Every line ``--json`` printed (parsed) follows the schema."""
    for number, line in enumerate(lines, 1):
        _check(line, "", f"stdout line {number} ({line.get('event') if isinstance(line, dict) else line!r})")


def check_summary(doc: dict) -> None:
    """One Summary: the last stdout line, or what ``--summary-json`` wrote."""
    _check(doc, "Summary", "the Summary")


def read_summary(path: Path) -> dict:
    """summary.json in a state directory, checked against the schema; its contents."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    _check(doc, "summaryFile", str(path))
    return doc
