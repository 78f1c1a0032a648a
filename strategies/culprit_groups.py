"""The groups bisect keeps, and how one round cuts them and reads its verdicts.

:mod:`ltobisect.strategies.bisect` keeps the changes in units grouped as culprits, positive
groups (:class:`Group`: known, or when optimistic likely, to hold a culprit) and unknown
groups. This module holds what it does with them that needs no test: how a round's slots are
shared out among the positive groups (:func:`allot`), the binary codes that cut a group with
three or more slots and what each unit's code reaches through the units it needs
(:func:`codes_for`, :func:`reaches`), what the verdicts of a group's pieces or codes leave
(:func:`after_pieces`, :func:`decode`), and the dependency rules: changes that lost their needs
are gone (:func:`shrink_groups`) and what a culprit needs is a culprit too (:func:`pull_needs`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, List, Mapping, Sequence, Tuple

from ltobisect.model import Candidate, Change

from .base import Unit, split, union

#: What each change needs (``Structure.needs``): the changes without which it takes no effect.
Needs = Mapping[Change, FrozenSet[Change]]

@dataclass
class Group:
    """Units that hold a culprit, or (when ``fallback`` is set) probably do.

    An optimistic group's ``fallback`` units are alive and never removed while the group is
    searched: ``units + fallback`` surely hold a culprit.
    """

    units: List[Unit]
    fallback: List[Unit] = field(default_factory=list)
    #: Cut out of a group that held a culprit, so it most likely holds one culprit only.
    narrowed: bool = True
    #: Its parts were each clean but not together: it holds one of several alternatives (the
    #: sides of a "depends on A || B", the options that select one symbol), so it is cut by
    #: nested removals (:func:`after_prefixes`) rather than by parts removed side by side.
    nested: bool = False
    #: Of a nested group: its first ``lead`` units can each bring back a setting that went
    #: only when its parts went together (Kconfig's alternatives, ``Structure.providers``):
    #: they most likely hold what is needed, and a nested cut splits them alone.
    lead: int = 0

    @property
    def optimistic(self) -> bool:
        return bool(self.fallback)

    def alive(self) -> List[Unit]:
        return self.units + self.fallback


def flat(groups: List[List[Unit]]) -> List[Unit]:
    """The units of all the groups, in order."""
    return [u for g in groups for u in g]


def trim(units: List[Unit], keep: Candidate) -> List[Unit]:
    """The units cut down to the changes of ``keep``; units left empty are gone."""
    return [u & keep for u in units if u & keep]


def shrink(groups: List[List[Unit]], keep: Candidate) -> List[List[Unit]]:
    """Each group trimmed to ``keep``; groups left empty are gone."""
    return [g2 for g2 in (trim(g, keep) for g in groups) if g2]


def to_test(pieces: List[List[Unit]]) -> List[List[Unit]]:
    """The pieces a round tests: all but the last, which the others' results settle."""
    return pieces[:-1] if len(pieces) > 1 else pieces


def reaches(units: List[Unit], codes: List[int], needs: Needs) -> List[int]:
    """Each unit's code with the codes of the units it needs: the slots whose removal takes
    it away (a change without what it needs takes no effect), which is what decoding reads."""
    at = {c: i for i, u in enumerate(units) for c in u}
    out = []
    for u, code in zip(units, codes):
        for c in u:
            for d in needs.get(c, ()):
                j = at.get(d)
                if j is not None:
                    code |= codes[j]
        out.append(code)
    return out


def unproven_of(clean: List[List[Unit]]) -> List[Unit]:
    """Of sets dropped in one round (each clean on its own), the units whose removal together
    with the others no test has shown harmless: all but the first set's (none of none)."""
    if not clean:
        return []
    first = set(clean[0])
    return list(dict.fromkeys(u for c in clean[1:] for u in c if u not in first))


def allot(groups: List[Group], w: int) -> Tuple[List[Group], List[int]]:
    """The groups searched this round and their slots: each gets what it can use, in order.

    A group of m units can use about log2(m + 1) slots (codes settle it in one round); slots
    spread thinly over many groups narrow each less than the same slots spent on one, so the
    first groups are served in full and the others wait for the next round.
    """
    tasks: List[Group] = []
    slots: List[int] = []
    left = w
    for g in groups:
        if not left:
            break
        m = len(g.units)
        want = max(1, min(m if g.optimistic else m - 1, m.bit_length()))
        tasks.append(g)
        slots.append(min(want, left))
        left -= slots[-1]
    for i in range(left):  # more slots than the groups can use: spread the rest
        slots[i % len(slots)] += 1
    return tasks, slots


def codes_for(units: List[Unit], slots: int, needs: Needs) -> Tuple[int, List[int]]:
    """Bits used and a non-zero code for each unit, chosen so that the reaches spread evenly.

    Decoding reads a unit's reach (its code with the codes of what it needs), so the units
    share out the ``2**bits - 1`` reach values as evenly as their needs allow: a unit that needs
    others can only reach supersets of their codes. Units needed by others go first, to the
    codes of fewest bits, which leaves those who need them the most room. A unit's code is the
    reach it gets, so that it is removed in every slot that takes it away anyway (more units
    dropped per clean slot).
    """
    m = len(units)
    bits = min(slots, m.bit_length())
    cells = (1 << bits) - 1
    at = {c: i for i, u in enumerate(units) for c in u}
    inner = []  # per unit: the other units of the group that it needs
    for i, u in enumerate(units):
        deps = {at.get(d) for c in u for d in needs.get(c, ())}
        inner.append(deps - {None, i})
    needed = [0] * m
    for deps in inner:
        for j in deps:
            needed[j] += 1
    load = [0] * (cells + 1)
    codes = [0] * m
    by_weight = sorted(range(1, cells + 1), key=lambda c: (bin(c).count("1"), c))
    for i in sorted(range(m), key=lambda i: (len(inner[i]), -needed[i], i)):
        base = 0
        for j in inner[i]:
            base |= codes[j]  # 0 for a need not coded yet (a dependency cycle)
        code = min((c for c in by_weight if c & base == base), key=lambda c: load[c])
        codes[i] = code
        load[code] += 1
    return bits, codes


def shrink_groups(groups: List[Group], keep: Candidate) -> List[Group]:
    """Groups without the changes that are gone (which held no culprit: they took no effect)."""
    out = []
    for g in groups:
        units, fallback = trim(g.units, keep), trim(g.fallback, keep)
        if units or fallback:
            lead = len(trim(g.units[:g.lead], keep))
            out.append(Group(units, fallback, g.narrowed, g.nested, lead) if units else Group(fallback))
    return out


def pull_needs(
    needs: Needs, culprits: List[Unit], positives: List[Group], unknown: List[List[Unit]]
) -> Tuple[List[Group], List[List[Unit]]]:
    """Units holding what a culprit needs are culprits too, without a test.

    A culprit only takes effect with the changes it needs; without them the config is the
    one without the culprit, which does not reproduce. A positive group that gives up a
    unit this way may have lost its culprit with it, so it becomes unknown again.
    """
    wanted: set = set()
    for c in union(culprits):
        wanted |= needs.get(c, frozenset())
    wanted -= union(culprits)
    if not wanted:
        return positives, unknown
    kept_pos: List[Group] = []
    kept_unknown: List[List[Unit]] = []
    for g in positives:
        units = g.alive()
        pulled = [u for u in units if u & wanted]
        culprits.extend(pulled)
        if not pulled:
            kept_pos.append(g)
        elif len(pulled) < len(units):
            kept_unknown.append([u for u in units if not u & wanted])
    for g in unknown:
        pulled = [u for u in g if u & wanted]
        rest = [u for u in g if not u & wanted]
        culprits.extend(pulled)
        if rest:
            kept_unknown.append(rest)
    return kept_pos, kept_unknown


def after_pieces(group: Group, pieces: List[List[Unit]], verdicts: Sequence[bool],
                 unknown: List[List[Unit]]) -> List[Group]:
    """The positive groups left of a group cut in ``pieces``, from the tested pieces' verdicts.

    A piece that lost the failure is positive (the rest of the group goes to ``unknown``);
    when every tested piece kept it, the untested last piece holds the culprit.
    """
    tested = to_test(pieces)
    clean = verdicts[: len(tested)]
    dirty = [p for p, ok in zip(tested, clean) if not ok]
    last = pieces[-1] if len(tested) < len(pieces) else []
    if dirty:
        rest = last + group.fallback  # the group did hold a culprit; these may hold more
        if rest:
            unknown.append(rest)
        return [Group(p) for p in dirty]
    if group.optimistic:  # the tested pieces were clean: the guess narrows or was wrong
        # (wrong: the fallback most likely holds several culprits, see decode)
        return [Group(last, group.fallback) if last else Group(group.fallback, narrowed=False)]
    return [Group(last)] if last else []  # the group holds a culprit and the rest is clean


def nested_pieces(group: Group, slots: int) -> List[List[Unit]]:
    """The pieces of a nested cut with ``slots`` tests: the lead split alone, the rest one
    last piece, when the group has a lead; else ``slots + 1`` even pieces."""
    units, lead = group.units, group.lead
    if 0 < lead < len(units):
        return split(units[:lead], min(slots, lead)) + [units[lead:]]
    return split(units, min(slots + 1, len(units)))


def prefixes(pieces: List[List[Unit]]) -> List[List[Unit]]:
    """What a nested cut removes: the first piece, the first two, ..., all but the last."""
    return [flat(pieces[:i]) for i in range(1, max(len(pieces), 2))]


def after_prefixes(group: Group, pieces: List[List[Unit]], verdicts: Sequence[bool],
                   unknown: List[List[Unit]]) -> Tuple[List[Group], List[Unit]]:
    """The positive group left of a nested cut, and the units it drops for good.

    The tested removals are nested (:func:`prefixes`), so the longest one that kept the
    failure before one lost it is proven clean by that test alone, whatever else it held.
    The next piece holds what the failure needs among what is left: it is the positive
    group, cut the same way (it may hold several alternatives still). When every removal
    kept the failure the last piece is the one: the whole group was known to hold a culprit.
    The pieces after it go to ``unknown``.
    """
    kept = 0
    while kept < len(verdicts) and verdicts[kept]:
        kept += 1
    dropped = flat(pieces[:kept])
    at = min(kept, len(pieces) - 1)
    later = flat(pieces[at + 1:])
    if later:
        unknown.append(later)
    return [Group(pieces[at], narrowed=False, nested=True)], dropped


def decode(group: Group, layout: Tuple[List[int], List[int]], verdicts: Sequence[bool],
           unknown: List[List[Unit]]) -> List[Group]:
    """The cell the lost failures spell, optimistic unless the slots settle it.

    ``layout`` holds each unit's code (the slots it was removed in) and its reach (those
    and the codes of what it needs: the slots whose removal takes it away). Only a unit
    removed in a slot that kept the failure is surely clean and dropped. The cell is the
    units whose reach is exactly the lost slots, as a lone culprit's is; it is only likely
    (several culprits, or needs that the structure over-states), so it is optimistic,
    with a fallback of the live units of one lost slot, unless it is that slot itself.
    """
    codes, reach = layout
    lost = sum(1 << t for t, ok in enumerate(verdicts) if not ok)
    if not lost:  # every unit was in a clean slot: the group held no culprit
        # The cell a single culprit would have spelt was wrong: the group it came from
        # most likely holds several, which codes would mislead again. Pieces cut it.
        return [Group(group.fallback, narrowed=False)] if group.optimistic else []
    if group.optimistic:
        unknown.append(group.fallback)  # the group did hold a culprit
    alive = [(u, c, r) for u, c, r in zip(group.units, codes, reach) if c & ~lost == 0]
    cell = [u for u, _, r in alive if r == lost] or [u for u, c, _ in alive if c == lost]
    # A lost slot's live units surely hold a culprit: the smallest is the fallback.
    slot = min((t for t in range(lost.bit_length()) if lost >> t & 1),
               key=lambda t: sum(1 for _, c, _ in alive if c >> t & 1))
    chosen = set(cell)
    fallback = [u for u, c, _ in alive if c >> slot & 1 and u not in chosen]
    others = [u for u, c, _ in alive if not c >> slot & 1 and u not in chosen]
    if others:
        unknown.append(others)
    out = Group(cell or fallback) if not cell or not fallback else Group(cell, fallback)
    if len(out.alive()) == len(group.alive()) and not others:
        # Nothing dropped and nothing cut away: every test lost because what every unit
        # needs sits in the cell the culprit's own reach spells (a change that all the
        # others need, as MODULES for every "=m"). The same codes would spell the same
        # cell again; pieces cut it instead.
        out.narrowed = False
    return [out]
