"""The build's own conf as a safety net: did it build the config we resolved?

Every kernel build runs kbuild's own conf (syncconfig) on the ``.config`` the oracle wrote into
the worker's O= directory before it compiles anything, and what it compiles is what conf made
of that file. Our resolution is meant to be exactly that (a fragment means what the kernel's
own ``make olddefconfig`` makes of it), so after each build :func:`check_build` compares the
``.config`` conf left with the text we wrote, setting by setting (header comments, order and
``# CONFIG_X is not set`` lines do not count: they change nothing that is built).

When they differ, the outcome carries a :class:`~ltobisect.model.ConfDisagreement`: the digest
of the config really built and the differing settings. The journal then records the verdict
under that digest too (:meth:`ltobisect.store.journal.Journal.append`), the executor warns once,
and the report counts such builds (:func:`summarize`) and says loudly when the result itself
was built so. A build that never got as far as conf leaves our file as it was: that agrees.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ltobisect import dotconfig
from ltobisect.model import ConfDisagreement
from ltobisect.textfit import plural

#: Differing settings kept per build (the count of all of them is kept too).
MAX_SYMBOLS = 20
#: Distinct differing settings summary.json lists over the whole session.
SUMMARY_SYMBOLS = 10


def settings(config_text: str) -> Dict[str, str]:
    """``{CONFIG_NAME: value}`` of the symbols a config sets (``n`` and unset left out)."""
    return {k: v for k, v in dotconfig.parse(config_text, prefix="").items() if v != "n"}


def _show(value: Optional[str]) -> str:
    if value is None:
        return "n"
    return value if value else '""'


def compare(ours: str, built: str) -> Optional[ConfDisagreement]:
    """How ``built`` (what conf left) differs from ``ours`` (what we wrote); ``None``: agrees."""
    if built == ours:
        return None
    a, b = settings(ours), settings(built)
    if a == b:
        return None
    names = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    lines = tuple(f"{k}: ours {_show(a.get(k))}, conf {_show(b.get(k))}" for k in names[:MAX_SYMBOLS])
    return ConfDisagreement(built_digest=dotconfig.digest(built), symbols=lines, total=len(names))


def check_build(config_path: Path, ours: str) -> Optional[ConfDisagreement]:
    """Compare the ``.config`` a build left at ``config_path`` with ``ours``.

    ``None`` when they agree, and when the file is gone or unreadable (nothing to compare: the
    build failed before conf wrote it, or someone removed it; never guessed to disagree).
    """
    try:
        built = Path(config_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return compare(ours, built)


def warning(digest_of_ours: str, conf: ConfDisagreement) -> str:
    """The one warning line of a session whose builds disagreed with conf."""
    return (f"the kernel's conf built config {digest_of_ours[:12]} differently than we resolved it "
            f"({plural(conf.total, 'setting')}: {conf.describe(MAX_SYMBOLS)}); its verdict is recorded "
            f"for the config conf built ({conf.built_digest[:12]}) too; later disagreements are "
            "counted in summary.json, not shown")


def summarize(records: Iterable[Any], best_digest: Optional[str]) -> Dict[str, Any]:
    """The summary.json fields of conf disagreements, from the journal records of builds.

    ``records`` are :class:`~ltobisect.store.journal.JournalRecord` values, one per build (the copies
    under a conf-built digest left out). Returns ``conf_disagreements`` (how many builds),
    ``conf_disagreement_symbols`` (the first distinct differing settings) and
    ``best_conf_disagreement`` (the disagreement of the best config's own build, or ``None``).
    """
    records = list(records)
    disagreed = [r for r in records if r.outcome.conf is not None]
    symbols: List[str] = []
    for r in disagreed:
        for line in r.outcome.conf.symbols:
            if line not in symbols and len(symbols) < SUMMARY_SYMBOLS:
                symbols.append(line)
    best = None
    if best_digest is not None:
        best = next((r.outcome.conf for r in reversed(disagreed) if r.digest == best_digest), None)
    return {
        "conf_disagreements": len(disagreed),
        "conf_disagreement_symbols": symbols,
        "best_conf_disagreement": best.to_json() if best is not None else None,
    }
