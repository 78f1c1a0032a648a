"""What make is given, checked before anything is written: the directories it builds in and
from (no whitespace, no colon) and the ``--target`` words (something the tree can build).

A typo here would otherwise cost the first build and leave a claimed state directory; a path
make cannot use would end in a failure that looks like the config's ("the baseline already
fails the same way").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from ltobisect.config import srcarch_of
from ltobisect.errors import UserError

_MAKE_UNSAFE = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return",
                ":": "a colon"}
_OBJECT_SUFFIXES = (".o", ".i", ".s", ".ll", ".lst", ".ko", ".a", ".dtb", ".mod")


def check_make_path(path: Path, what: str) -> None:
    """A directory make builds in or from: no whitespace and no colon in its path.

    make splits its words at whitespace and takes a colon for a rule (kbuild itself refuses
    both in its source and output directories), so a build there fails in a way that looks like
    the config's fault ("the baseline already fails"). Refused before anything is written.
    """
    text = str(path)
    for char, name in _MAKE_UNSAFE.items():
        if char in text:
            raise UserError(f"{what} {text!r} has {name} in its path, where make cannot build",
                            "use a path without spaces or colons")


def check_targets(tree: Path, target: Optional[str], arch: Optional[str]) -> None:
    """Each word of ``--target`` is something the tree can build, checked before the first
    build: a directory (``drivers/gpu/``), an object or listing whose directory exists and whose
    source or Makefile names it, or a goal the top (or the arch's) Makefile names."""
    if not target:
        return
    hint = ("a directory target ends with a slash, as drivers/gpu/ does; paths are relative "
            "to the tree; names such as vmlinux come from its Makefile")
    for word in target.split():
        path = tree / word
        if word.endswith("/"):
            if not path.is_dir():
                raise UserError(f"--target {word}: the tree has no directory {word}", hint)
        elif "/" in word or word.endswith(_OBJECT_SUFFIXES):
            if not _buildable_file(path):
                raise UserError(f"--target {word}: no source in the tree builds it", hint)
        elif not _named_goal(tree, word, arch):
            raise UserError(f"--target {word}: the tree's Makefile has no such goal", hint)


def _buildable_file(path: Path) -> bool:
    if path.exists():
        return True
    folder = path.parent
    if not folder.is_dir():
        return False
    stem = path.name.rsplit(".", 1)[0]
    if any(p.name.rsplit(".", 1)[0] == stem for p in folder.iterdir() if p.is_file()):
        return True  # its source: stem.c, stem.S, stem.rs, stem.dts...
    for name in ("Makefile", "Kbuild"):
        try:
            if path.name in (folder / name).read_text(errors="replace"):
                return True  # a generated source the directory's Makefile builds
        except OSError:
            continue
    return False


def _named_goal(tree: Path, word: str, arch: Optional[str]) -> bool:
    """Whether the top Makefile (or the arch's, or a top-level Makefile.* it includes) names
    ``word``: a plain word match, so a goal defined in an unusual place is not refused."""
    places = [tree / "Makefile", *sorted(tree.glob("Makefile.*")), *sorted(tree.glob("*.mk"))]
    if arch:
        places.append(tree / "arch" / srcarch_of(arch) / "Makefile")
    elif (tree / "arch").is_dir():
        places += sorted((tree / "arch").glob("*/Makefile"))
    pattern = re.compile(r"(?<![\w.-])" + re.escape(word) + r"(?![\w.-])")
    for place in places:
        try:
            if pattern.search(place.read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False
