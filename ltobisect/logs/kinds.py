"""What each kind of failure is, in one place: the table every room reads.

A failure's kind (:class:`ltobisect.model.SignatureKind`) decides more than its name: whether a
finished build's log can answer it again, which make target shows it (the oracle builds that
target, and reproduce.sh and the report name the same one), whether it happens in the final
link (then ``ld.lld --reproduce`` replays it), and which reduction goes beyond the config. Those
answers are written here once, as a :class:`Kind` per kind, and read by the oracle
(:func:`ltobisect.oracle.targets_for`), the signature matcher, the artifacts and the reducer.

How a log shows a failure of each kind is :mod:`ltobisect.logs.logscan`'s (its recognizers are
code over several lines, not patterns). Adding a kind: its value in ``SignatureKind``, its
:class:`Kind` here, its recognizer in logscan, a sample log under ``tests/logs/``.

This module is bundled into judge.py with the other log modules: it imports only them and the
model, relatively.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from ..model import Signature, SignatureKind
from .lognorm import LINKERS

# Which make target shows a failure of a kind, on a kbuild tree.
#: The directory of the file it names (``fs/`` for ``fs/namei.c``): the directory target builds
#: what the config enables there, unlike an object target that compiles the file regardless.
SOURCE_DIRECTORY = "source-directory"
#: The directory of the object it names, or ``vmlinux`` when it names vmlinux (objtool).
OBJECT_OR_VMLINUX = "object-or-vmlinux"
#: ``vmlinux``: the final link.
VMLINUX = "vmlinux"
#: ``olddefconfig``: Kconfig alone.
OLDDEFCONFIG = "olddefconfig"
#: make's default goal, as the failing build ran.
DEFAULT = "default"

#: The reductions beyond the config (:mod:`ltobisect.reducer`).
SOURCE, LINK = "source", "link"


@dataclass(frozen=True)
class Kind:
    """What one kind of failure is.

    ``measured``: judged by a measurement or an outside judge (memory, duration, a timeout, a
    test script), never by a log's error lines, so a finished build's log cannot answer it
    again and judge.py does not judge it. ``target``: which make target shows it (the names
    above). ``reduction``: ``source``, ``link`` or ``None``. ``by_linker``: a failure of this
    kind printed by a linker happens in the final link (an lld crash is an LTO crash).
    """

    kind: SignatureKind
    target: str = DEFAULT
    measured: bool = False
    reduction: Optional[str] = None
    by_linker: bool = False


K = SignatureKind
KINDS: Dict[SignatureKind, Kind] = {k.kind: k for k in (
    Kind(K.COMPILE_ERROR, target=SOURCE_DIRECTORY, reduction=SOURCE),
    Kind(K.LINK_ERROR, target=VMLINUX, reduction=LINK),
    Kind(K.MODPOST),
    Kind(K.OBJTOOL, target=OBJECT_OR_VMLINUX),
    Kind(K.OBJTOOL_WARNING, target=OBJECT_OR_VMLINUX),
    Kind(K.KCONFIG, target=OLDDEFCONFIG),
    Kind(K.MAKE),
    Kind(K.CRASH, reduction=SOURCE, by_linker=True),
    Kind(K.KILLED),
    Kind(K.TIMEOUT, measured=True),
    Kind(K.MEMORY, measured=True),
    Kind(K.DURATION, measured=True),
    Kind(K.REGEX),
    Kind(K.SCRIPT, measured=True),
)}
del K

#: The kinds a log cannot answer again (see :class:`Kind`).
MEASURED_KINDS = frozenset(k.kind for k in KINDS.values() if k.measured)


def _basis(sig: Optional[Signature]) -> Optional[Signature]:
    """A regex signature stands for the failure of the log line it picked, when it picked one."""
    if sig is not None and sig.kind == SignatureKind.REGEX:
        return sig.basis
    return sig


def at_the_link(sig: Optional[Signature]) -> bool:
    """Whether a failure happens in the final link: a link error, or a linker's crash (an LTO
    crash). Such a failure needs ``vmlinux`` built, and ``ld.lld --reproduce`` replays it."""
    if sig is None:
        return False
    kind = KINDS.get(sig.kind)
    return kind is not None and (kind.reduction == LINK
                                 or (kind.by_linker and sig.tool in LINKERS))


def reduction(sig: Optional[Signature]) -> Optional[str]:
    """``link``, ``source`` or ``None``: the reproducer beyond the config a failure gets."""
    sig = _basis(sig)
    if sig is None:
        return None
    if at_the_link(sig):
        return LINK
    kind = KINDS.get(sig.kind)
    return kind.reduction if kind is not None else None


def _directory(location: str, suffixes: tuple) -> Optional[str]:
    """``fs/namei.c:12`` -> ``fs/`` when the location is a file of the tree with a suffix."""
    path = location.split(":", 1)[0]
    if path.endswith(suffixes) and "/" in path and not path.startswith(("/", "<")):
        return path.rsplit("/", 1)[0] + "/"
    return None


def make_targets(sig: Optional[Signature]) -> List[str]:
    """The make targets that show ``sig`` on a kbuild tree (empty: make's default goal).

    A compile error in a C, assembler or Rust file builds that file's directory (a header's
    builds the default goal); an objtool finding builds its object's directory, or vmlinux; a
    failure in the final link builds vmlinux; a Kconfig warning only olddefconfig; anything
    else (no signature, thresholds, make's own errors, a regex that picked no failure) the
    default goal, as the failing build ran.
    """
    sig = _basis(sig)
    if sig is None:
        return []
    if at_the_link(sig):
        return ["vmlinux"]
    kind = KINDS.get(sig.kind)
    target = kind.target if kind is not None else DEFAULT
    if target == SOURCE_DIRECTORY:
        if sig.tool in LINKERS:
            return []
        found = _directory(sig.location, (".c", ".S", ".rs"))
        return [found] if found else []
    if target == OBJECT_OR_VMLINUX:
        if sig.location.startswith("vmlinux"):
            return ["vmlinux"]
        found = _directory(sig.location, (".o",))
        return [found] if found else ["vmlinux"]
    if target == VMLINUX:
        return ["vmlinux"]
    if target == OLDDEFCONFIG:
        return ["olddefconfig"]
    return []
