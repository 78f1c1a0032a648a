"""How often ltobisect's Kconfig resolution is byte-identical to the kernel's own `conf`.

For one tree, ARCH and toolchain: the named baselines against ``make tinyconfig`` / ``make
defconfig``, fixed-seed randconfigs against ``make olddefconfig`` of themselves, and random
candidates of each randconfig's diff against each baseline (sizes 1, a few, and half of the
changes; a share drawn from choice members, where the Kconfig generations differ most) against
``make olddefconfig`` of the baseline with the candidate's fragment appended, exactly as
``fragment.config`` writes it. Used by ``benchmarks/kconfig_fidelity.py`` and by the test suite.
"""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ltobisect import confcheck
from ltobisect.kconfig import KconfigTree, make_olddefconfig, run_config_target
from ltobisect.model import Change


@dataclass(frozen=True)
class Comparison:
    """One config settled by us and by the kernel's conf."""

    label: str
    kind: str  # "baseline", "randconfig" or "candidate"
    equal: bool
    differing: Tuple[str, ...] = ()  # "CONFIG_X: ours y, conf n", at most 20


@dataclass(frozen=True)
class _Case:
    label: str
    kind: str
    ours: str
    conf_input: Optional[str]  # text for make olddefconfig; None: ``target`` makes the config
    target: str = "olddefconfig"


def describe(a: str, b: str, limit: int = 20) -> Tuple[str, ...]:
    """The settings in which our text ``a`` and conf's text ``b`` differ (``CONFIG_X: ours y,
    conf n``); one line saying so when only order, comments or ``is not set`` lines differ."""
    found = confcheck.compare(a, b)
    if found is None:
        return ("same settings, different text (order, comments or header)",) if a != b else ()
    return found.symbols[:limit]


def _sizes(n: int) -> List[int]:
    """1, a few, and half: the candidate sizes a search builds most."""
    return [1, min(n, 3), max(1, n // 2)]


def candidates(changes: Sequence[Change], count: int, rng: random.Random,
               choice_members: Callable[[str], bool]) -> Iterator[Tuple[Change, ...]]:
    """``count`` random subsets of ``changes``; every third drawn mostly from choice members."""
    changes = list(changes)
    members = [c for c in changes if choice_members(c.name)]
    if not changes:
        return
    for i in range(count):
        size = _sizes(len(changes))[i % 3]
        pool = changes
        if i % 3 == 2 and members:
            # Half a choice switch (a member on or off without the other) is where the two
            # Kconfig generations and merge-versus-append readings part.
            take = rng.sample(members, min(len(members), max(1, size // 2 or 1)))
            rest = [c for c in changes if c not in take]
            yield tuple(take) + tuple(rng.sample(rest, min(len(rest), size - len(take))))
            continue
        yield tuple(rng.sample(pool, size))


def cases(kt: KconfigTree, tree: Path, *, arch: str, llvm: Optional[str], work: Path,
          seeds: Sequence[int], per_config: int, rng_seed: int = 0,
          baselines: Sequence[str] = ("tinyconfig", "defconfig"),
          make_vars: Sequence[str] = (), made: Optional[Dict[int, str]] = None) -> List[_Case]:
    """Everything to compare for one tree and arch (runs ``make randconfig`` for the seeds,
    unless ``made`` already holds the randconfig a seed gives)."""
    rng = random.Random(rng_seed)
    out: List[_Case] = []
    base_texts: Dict[str, str] = {}
    for name in baselines:
        base_texts[name] = kt.baseline(name)
        out.append(_Case(f"{name}", "baseline", base_texts[name], None, target=name))
    for seed in seeds:
        bad = (made or {}).get(seed)
        if bad is None:
            bad = run_config_target(tree, "randconfig", arch=arch, llvm=llvm, make_vars=make_vars,
                                    work_dir=work / "randconfig", extra_env={"KCONFIG_SEED": str(seed)})
        out.append(_Case(f"randconfig-{seed}", "randconfig", kt.normalize(bad), bad))
        for name, base in base_texts.items():
            changes = kt.diff(base, bad)
            for cand in candidates(changes, per_config, rng, kt.is_choice_member):
                res = kt.resolve(base, cand)
                frag = kt.fragment(cand)
                out.append(_Case(f"randconfig-{seed} vs {name}, {len(cand)} of {len(changes)} changes",
                                 "candidate", res.config_text, base + frag))
    return out


def compare(cases_: Sequence[_Case], tree: Path, *, arch: str, llvm: Optional[str], work: Path,
            jobs: int = 2, make_vars: Sequence[str] = ()) -> List[Comparison]:
    """Run the kernel's conf for every case, ``jobs`` at a time, each in an O= of its own."""
    free = [work / f"conf-{i}" for i in range(max(1, jobs))]
    lock = threading.Lock()

    def one(case: _Case) -> Comparison:
        with lock:
            out = free.pop()
        try:
            if case.conf_input is None:
                theirs = run_config_target(tree, case.target, arch=arch, llvm=llvm,
                                           make_vars=make_vars, work_dir=out)
            else:
                theirs = make_olddefconfig(tree, case.conf_input, arch=arch, llvm=llvm,
                                           make_vars=make_vars, work_dir=out)
        finally:
            with lock:
                free.append(out)
        equal = theirs == case.ours
        return Comparison(case.label, case.kind, equal, () if equal else describe(case.ours, theirs))

    with ThreadPoolExecutor(max_workers=len(free)) as pool:
        return list(pool.map(one, cases_))


def tally(results: Sequence[Comparison]) -> Dict[str, Tuple[int, int]]:
    """``{kind: (identical, compared)}`` plus ``"all"``."""
    out: Dict[str, Tuple[int, int]] = {}
    for r in results:
        for key in (r.kind, "all"):
            same, n = out.get(key, (0, 0))
            out[key] = (same + r.equal, n + 1)
    return out
