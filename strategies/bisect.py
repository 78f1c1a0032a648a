"""Bisect: find the culprits one at a time by halving (adaptive group testing).

With a single culprit this is the classic config bisection: each test removes half of the
suspects and keeps the half that still matters, ceil(log2 n) tests. With k culprits it finds
them one after the other, about k * (log2 n + 1) tests, close to the information bound
log2 C(n, k) + k.

The search keeps the changes in three kinds of groups:

- *culprits*: units that cannot be removed;
- *positive* groups: known to hold at least one culprit (removing the group lost the failure);
- *unknown* groups: not looked at yet.

A test always removes some units from everything still alive (culprits, positive and unknown
groups). If the failure persists, those units are clean and are dropped for good; if not, they
hold a culprit. A positive group is cut in pieces and all pieces but the last are tested; a clean
result everywhere proves the last piece positive without a test. When no positive group is
left, the unknown groups are merged and tested at once: if removing them all still reproduces,
the culprits alone reproduce and the search is over.

Parallel: with W workers each round fills W slots. Slots go to the first positive groups, as
many as each can use (a group of m units about log2(m + 1)); the others wait a round. A group
cut out of a positive one (so most likely holding one culprit) with s >= 3 slots is not cut into
s + 1 pieces (an (s + 1)-fold narrowing) but into 2**s - 1 cells, each named by a distinct
non-zero s-bit code, and slot t removes the cells whose code has bit t set. Removing a unit also
takes away what needs it, so a unit's code is read together with the codes of the units it needs
(its reach), and codes are handed out so that reaches spread evenly: units that others need
first, with codes of few bits. The bits of the slots that lost the failure spell the code of the
cell that holds the culprit when the group holds one: a 15-fold narrowing per round with 4 slots
instead of 5-fold. Every unit in a clean slot is dropped for good. When two or more slots lost
the failure, the group may instead hold several culprits in other cells, so the chosen cell is
*optimistic*: it carries a fallback, the rest of one slot that did lose the failure (that rest
plus the cell surely hold a culprit). Its next round settles it for free: if every slot of the
cell comes back clean, the cell is clean and the fallback becomes the positive group, cut in
pieces next (a wrong guess is a sign of several culprits, which codes would mislead). Cells that
hold neither the code nor the fallback stay alive as unknown groups, so an optimistic guess that
turns out wrong costs a round, never a culprit. The first group (everything) is cut into pieces:
it often holds several culprits, and dense codes nearly always lose there. When a single group
is left with no more units than slots, each unit is tried with the culprits found and what it
needs: the last culprit is found and shown to suffice in the same round (cutting would take a
round to find it and another to try it). Slots a round leaves free guess that a single-unit
piece is the last culprit, then look into the unknown groups.

Spare slots in the final round test the 1-minimality checks the closing pass will need, so they
are free by then.

Sets dropped side by side in one round were each clean alone, not together: Kconfig has
alternatives (`depends on A || B`, a symbol that many options select), and two sets may each
hold one. From 6 workers on, the next round spends a slot on checking what is left (below, only
after a round lost every test). When it no longer fails, the search goes back to what it knew
after that round, with all but the first set alive again as a positive group: without the
first set the config did reproduce (its own test), without all of them it did not. Such a group
holds one of several alternatives, so it is cut by *nested* removals (its first piece, the first
two, ...): the longest removal that kept the failure is proven clean by its own test, and the
next piece holds what is needed. A closing test of the culprits alone that fails after the last
round's parts all kept the failure is the same sign, and cuts what is left the same way.
Which alternatives, Kconfig can tell: the settings that the failed config lacks and that every
set's own test still had went only when the sets went together, and the failure needs one of
them. The units that can each bring one about (``Structure.providers``: a symbol's own change,
its selectors', what a default depends on) lead the group, and its first nested cut splits
them alone, the rest one last piece: a few dozen units where the group held hundreds. The
configs are the gate's, resolved already; the order changes which removals are tried, never
what a verdict proves, so a lead that holds no alternative costs one round.

Non-monotonic verdicts can make the deductions wrong. Then the culprits found do not reproduce
by themselves; when the config to go back to (above) was not itself tested, the search restarts
from the gate's best (which did reproduce) as long as that keeps shrinking, and the pipeline's
closing one-at-a-time pass proves the result 1-minimal.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Optional, Tuple

from ltobisect.model import Candidate, Verdict
from ltobisect.problem import Problem

from .base import Unit, UnitsOf, effective, singletons, split, union
from .culprit_groups import (
    Group,
    after_pieces,
    after_prefixes,
    allot,
    codes_for,
    decode,
    flat,
    nested_pieces,
    prefixes,
    pull_needs,
    reaches,
    shrink,
    shrink_groups,
    to_test,
    trim,
    unproven_of,
)

#: Guesses of "the culprits found plus this unit" a round makes when unknown groups remain
#: (they may hold more culprits, so further guesses are better spent looking into them).
GUESSES = 1

#: From this many workers on, a round after one that dropped several clean sets spends a
#: slot on checking that what is left still fails: 1/W of a round, which pays when W is large.
#: With fewer workers that slot costs more than it saves, so the check is made only after a
#: round came back with every test lost (the only sign of it), in a slot of the next round
#: (whose results are void if the check fails) rather than in a round of its own (a whole
#: round for one build). The threshold is the strategy benchmark's (benchmarks/README.md).
CHECK_W = 6

#: Fewest slots for which a group is cut by codes rather than into ``slots + 1`` pieces.
CODE_SLOTS = 3


def _guess(problem: Problem, culprits: Candidate, unit: Unit, every: Candidate) -> Candidate:
    """The culprits found plus ``unit`` and what it needs (alive): the config that reproduces
    if ``unit`` holds the last culprit, which takes no effect without its needs."""
    return culprits | (problem.structure.closure(unit) & every)


def _alive(culprits: List[Unit], positives: List[Group], unknown: List[List[Unit]]) -> List[Unit]:
    """Every unit a search still holds: culprits, positive groups (fallbacks too), unknown."""
    return culprits + [u for g in positives for u in g.alive()] + flat(unknown)


def _alternatives_group(problem: Problem, top: Candidate, sets: List[Candidate],
                        failed: Candidate, units: List[Unit]) -> Group:
    """The nested group of ``units``: sets each removed from ``top`` alone kept the failure,
    and ``failed`` (``top`` without them all, or less) lost it.

    What it needs went only when the sets went together: a setting of ``top`` that
    ``failed`` lacks and every set's own test (``top`` without it) still had. The Kconfig
    layer names the changes that can each bring such a setting about (its providers); the
    units holding one lead the group, and its nested cut splits them alone. The configs
    were all resolved by the gate already, so this costs no build and next to no time.
    """
    providers = problem.structure.providers
    if not providers or not sets:
        return Group(units, narrowed=False, nested=True)
    lost = problem.settings(top) - problem.settings(failed)
    for s in sets:
        lost &= problem.settings(top - s)
    able: set = set()
    for line in lost:
        able |= providers.get(line, frozenset())
    first = [u for u in units if u & able]
    rest = [u for u in units if not u & able]
    return Group(first + rest, narrowed=False, nested=True, lead=len(first) if rest else 0)


@dataclass
class _State:
    """The culprits, positive and unknown groups of a search, kept aside with the units just
    dropped together (``unproven``), each set clean on its own."""

    culprits: List[Unit]
    positives: List[Group]
    unknown: List[List[Unit]]
    unproven: List[Unit]
    #: The config the sets were removed from, and the sets (the first one too): their own
    #: tests say which settings the failure can do without.
    top: Candidate = frozenset()
    sets: List[Candidate] = field(default_factory=list)

    def parts(self) -> Tuple[List[Unit], List[Group], List[List[Unit]], List[Unit]]:
        """A copy of the four, for a search that goes on changing its own lists and groups."""
        return (list(self.culprits), [replace(g, units=list(g.units), fallback=list(g.fallback))
                                      for g in self.positives],
                [list(u) for u in self.unknown], list(self.unproven))

    @staticmethod
    def kept(culprits: List[Unit], positives: List[Group], unknown: List[List[Unit]],
             top: Candidate, clean: List[List[Unit]]) -> "_State":
        """A copy of the search after a round that removed the ``clean`` sets from ``top``
        while the failure persisted, each on its own (none: nothing is unproven)."""
        return _State(*_State(culprits, positives, unknown, unproven_of(clean)).parts(),
                      top=top, sets=[union(c) for c in clean])

    def repaired(self, problem: Problem, failed: Candidate) -> Optional["_State"]:
        """The search as it was, with the unproven units back as a positive group, when the
        config they make up with it is known to reproduce (no test is run); else None.
        ``failed`` is the config that lost the failure. The state returned has nothing
        unproven, so the same sets are never taken back twice."""
        if not self.unproven:
            return None
        culprits, positives, unknown, unproven = self.parts()
        if problem.known(union(_alive(culprits, positives, unknown) + unproven)) \
                is not Verdict.REPRODUCES:
            return None
        # Each set alone could go, so what is needed is in more than one of them: a nested
        # cut finds one that suffices, Kconfig's alternatives first.
        back = _alternatives_group(problem, self.top, self.sets, failed, unproven)
        return _State(culprits, positives + [back], unknown, [])


class Bisect:
    """Culprit-by-culprit halving over units (single changes unless ``units`` says otherwise)."""

    def __init__(self, units: UnitsOf = singletons, name: str = "bisect") -> None:
        self.units = units
        self.name = name
        self._led = False  # the log's pointers (``problem.prior``) were looked at

    def _lead(self, problem: Problem, start: Candidate, units: List[Unit]
              ) -> Optional[Tuple[List[Unit], List[Group], List[List[Unit]], List[Unit]]]:
        """The first round when the failure's log pointed at some changes (``problem.prior``)
        that did not reproduce alone: the failure needs more, but most likely some of them.

        One slot removes them all: when that loses the failure they hold a culprit, and they
        are the first positive group, narrowed as one cut out of a positive group is (a few
        changes: a culprit in 1 + log2 of their number tests instead of log2 of all); when it
        does not, they are dropped, one build spent. The other slots cut the rest into pieces
        as the first round would. Returns what the search starts from: the culprits (none
        yet), the positive groups, the unknown groups and the sets its tests removed while the
        failure persisted (each clean on its own); None when there is nothing to lead with.
        """
        prior = problem.prior & start
        led = [u for u in units if u <= prior]
        rest = [u for u in units if not u <= prior]
        if not led or not rest:
            return None
        pieces = split(rest, problem.workers - 1) if problem.workers > 1 else []
        removed = [led] + pieces
        verdicts = problem.consider_many([start - union(p) for p in removed])
        problem.led = not verdicts[0]
        positives = [Group(p, narrowed=i == 0) for i, (p, ok) in
                     enumerate(zip(removed, verdicts)) if not ok]
        clean = [p for p, ok in zip(removed, verdicts) if ok]
        unknown = [] if pieces else [rest]
        return [], positives, unknown, clean

    def run(self, problem: Problem) -> None:
        problem.label = self.name
        while problem.best:
            start = problem.best
            if self._search(problem, start):
                return
            if len(problem.best) >= len(start):
                return  # contradictory verdicts and no progress: leave it to the next pass

    def _search(self, problem: Problem, start: Candidate) -> bool:
        """One search from ``start``; True when the culprits found reproduce by themselves."""
        w = problem.workers
        culprits: List[Unit] = []
        first = [u for u in self.units(problem, start) if u]
        positives: List[Group] = [Group(first, narrowed=False)] if first else []
        unknown: List[List[Unit]] = []
        clean: List[List[Unit]] = []
        if not self._led:
            self._led = True
            led = self._lead(problem, start, first)
            if led is not None:
                culprits, positives, unknown, clean = led
        # What the search knew when the last round dropped sets together, each clean on its
        # own: where it goes on from when they turn out not to be clean together (with
        # "depends on A || B", A and B each are, not both). ``before.unproven`` holds the
        # units not yet proven removable together.
        before = _State.kept(culprits, positives, unknown, start, clean)
        doubt = False  # the last round lost every test while ``unproven`` was not settled
        while True:
            culprits, positives, unknown, every = self._settle(problem, culprits, positives, unknown)
            if not positives:
                rest = flat(unknown)
                unknown = []
                found = union(culprits)
                if rest:
                    done, clean = self._final_round(problem, every, found, rest, w, positives)
                    if done:
                        return True
                    if clean:
                        before = _State.kept(culprits, positives, unknown, every, clean)
                    continue
                if problem.consider(found):
                    return True
                # The culprits alone no longer fail: the same sign as a failed check (below).
                failed = found
            else:
                check = bool(before.unproven) and (w >= CHECK_W or doubt)
                after, all_lost, clean, solved = self._round(
                    problem, every, union(culprits), positives, unknown, w, check)
                if solved:
                    return True
                if after is not None:
                    positives = after
                    # A round whose tests all lost the failure is the sign that what is left
                    # may no longer fail: the next round spends a slot on checking it.
                    doubt = all_lost and bool(before.unproven) and not check
                    if clean or check:
                        before = _State.kept(culprits, positives, unknown, every, clean)
                    continue
                failed = every
            # What is left no longer fails: the sets dropped together are not clean together,
            # and what the rounds since learnt is void. Without all but the first of them the
            # search had a config that reproduced (the first set's removal): it goes on from
            # there, with them as a positive group (they hold what the failure needs, such as
            # the other side of a "depends on A || B"). When that config is not the one
            # tested, start again from the gate's best.
            back = before.repaired(problem, failed)
            if back is None:
                return False
            before = back
            culprits, positives, unknown, _ = back.parts()
            doubt = False

    @staticmethod
    def _settle(problem: Problem, culprits: List[Unit], positives: List[Group],
                unknown: List[List[Unit]]
                ) -> Tuple[List[Unit], List[Group], List[List[Unit]], Candidate]:
        """What needs no test: changes whose dependencies were dropped are gone, a single unit
        known to matter is a culprit, and what a culprit needs is one too. Returns the three
        and every change still held."""
        every = union(_alive(culprits, positives, unknown))
        eff = effective(problem, every)
        if eff != every:  # changes whose dependencies were dropped: gone for free
            culprits = trim(culprits, eff)
            positives = shrink_groups(positives, eff)
            unknown = shrink(unknown, eff)
            every = eff
        still = []
        for g in positives:
            if len(g.units) == 1 and not g.optimistic:
                culprits.append(g.units[0])
            else:
                still.append(g)
        positives, unknown = pull_needs(problem.structure.needs, culprits, still, unknown)
        return culprits, positives, unknown, every

    def _final_round(
        self,
        problem: Problem,
        every: Candidate,
        found: Candidate,
        rest: List[Unit],
        w: int,
        positives: List[Group],
    ) -> Tuple[bool, List[List[Unit]]]:
        """Test whether the culprits alone reproduce; spare slots look into ``rest`` already.

        Returns whether they do, and the parts of ``rest`` that tests removed while the
        failure persisted (dropped for good).
        """
        if problem.known(found) is Verdict.REPRODUCES:  # guessed in an earlier round
            problem.consider(found)
            return True, []
        queries = [found]
        spare = w - 1
        checks: List[Candidate] = []
        if spare >= len(found) + 1:
            checks = [found - {c} for c in sorted(found)]
        parts = split(rest, spare - len(checks)) if spare - len(checks) >= 2 else []
        queries += checks + [every - union(p) for p in parts]
        verdicts = problem.consider_many(queries)
        if verdicts[0]:
            return True, []
        got = verdicts[1 + len(checks):]
        dirty = [p for p, clean in zip(parts, got) if not clean]
        if not dirty:
            # Each part could go but the culprits need something of them all (alternatives,
            # when parts were tried): nested removals find one that suffices. Nothing is
            # dropped.
            positives.append(_alternatives_group(problem, every, [union(p) for p in parts],
                                                 found, rest) if parts
                             else Group(rest, narrowed=False))
            return False, []
        positives.extend(Group(p, narrowed=False) for p in dirty)
        return False, [p for p, clean in zip(parts, got) if clean]

    def _round(
        self,
        problem: Problem,
        every: Candidate,
        culprits: Candidate,
        positives: List[Group],
        unknown: List[List[Unit]],
        w: int,
        check: bool = False,
    ) -> Tuple[Optional[List[Group]], bool, List[List[Unit]], bool]:
        """One round over up to ``w`` positive groups (one slot less with ``check``, which
        tests ``every`` itself as well).

        Returns the positive groups after it (None when ``check`` found that ``every`` does
        not fail), whether every test that removed something lost the failure, the sets of
        units that tests removed while the failure persisted (dropped for good), and whether
        a guess (the culprits found plus one unit) reproduced, which ends the search.
        """
        if check:
            w -= 1
        tasks, slots = allot(positives, w)
        waiting = positives[len(tasks):]
        guesses: List[Candidate] = []
        if len(tasks) == 1 and not waiting and tasks[0].narrowed:
            # A few units left, most likely holding the last culprit: each of them with the
            # culprits found finds it and shows it suffices in one round, where cutting would
            # take one round to find it and another to try it alone. Slots left over cut.
            # An optimistic group with a larger fallback guesses in its cell only.
            g = tasks[0]
            few = g.alive() if len(g.alive()) <= w else g.units if len(g.units) < w else []
            tries = (_guess(problem, culprits, u, every) for u in few)
            guesses = [q for q in dict.fromkeys(tries) if problem.known(q) is None]
            slots[0] = w - len(guesses)
        plans = []
        queries: List[Candidate] = []
        removed: List[Optional[List[Unit]]] = []  # what each query took away from ``every``
        for group, s in zip(tasks, slots):
            m = len(group.units)
            if not s:
                plans.append((group, "keep", None, len(queries), 0))
            elif group.nested and m > 1:
                pieces = nested_pieces(group, s)
                cuts = prefixes(pieces)
                plans.append((group, "nested", pieces, len(queries), len(cuts)))
                queries += [every - union(p) for p in cuts]
                removed += [None] * len(cuts)  # nested: only the longest clean one drops
            elif s >= CODE_SLOTS and m > s + 1 and group.narrowed:
                bits, codes = codes_for(group.units, s, problem.structure.needs)
                pools = [[u for u, c in zip(group.units, codes) if c >> t & 1] for t in range(bits)]
                reach = reaches(group.units, codes, problem.structure.needs)
                plans.append((group, "codes", (codes, reach), len(queries), bits))
                queries += [every - union(p) for p in pools]
                removed += pools
            else:
                # Pieces; the last one is proven by the others' results (or, in an optimistic
                # group, stays optimistic) unless it is the only one.
                pieces = split(group.units, min(s + 1, m))
                plans.append((group, "pieces", pieces, len(queries), len(to_test(pieces))))
                queries += [every - union(p) for p in to_test(pieces)]
                removed += to_test(pieces)
        queries += guesses
        removed += [None] * len(guesses)
        if len(tasks) == 1 and not waiting and plans[0][1] == "pieces" and len(queries) < w:
            # Spare slots: if a single-unit piece turns out to be the last culprit, the next
            # round would test the culprits alone; test those guesses now.
            pieces = plans[0][2]
            # The untested last piece first: clean tests elsewhere would point at it.
            more = [_guess(problem, culprits, p[0], every)
                    for p in pieces[-1:] + pieces[:-1] if len(p) == 1]
            # Then the closing pass's checks of those guesses (each without one change).
            checks = [g - {c} for g in more for c in sorted(g)]
            if unknown:  # more culprits may hide there: keep slots to look
                more, checks = more[:GUESSES], []
            queries += [q for q in dict.fromkeys(more + checks) if q not in queries][: w - len(queries)]
            removed += [None] * (len(queries) - len(removed))
        probes: List[List[Unit]] = []
        if unknown and not waiting and len(queries) < w:
            # Slots still free look into the unknown groups: a clean part is dropped, a part
            # that loses the failure is a new positive group, one round early.
            probes = split(flat(unknown), w - len(queries))
            del unknown[:]
            queries += [every - union(p) for p in probes]
            removed += probes
        if check:
            verdicts = problem.consider_many(queries + [every])
            if not verdicts.pop():
                return None, False, [], False
        else:
            verdicts = problem.consider_many(queries)
        found: List[Group] = []
        nested: List[List[Unit]] = []  # what nested cuts proved clean, one set each
        for group, how, layout, at, count in plans:
            got = verdicts[at: at + count]
            if how == "codes":
                found += decode(group, layout, got, unknown)
            elif how == "nested":
                groups, dropped = after_prefixes(group, layout, got, unknown)
                found += groups
                if dropped:
                    nested.append(dropped)
            elif how == "keep":
                found.append(group)
            else:
                found += after_pieces(group, layout, got, unknown)
        if probes:
            found += [Group(p, narrowed=False) for p, ok in zip(probes, verdicts[-len(probes):]) if not ok]
        # Contradictory verdicts can leave a group empty; an optimistic one may keep only its fallback.
        found = [g if g.units else Group(g.fallback) for g in found if g.units or g.fallback]
        clean = [r for r, ok in zip(removed, verdicts) if ok and r is not None] + nested
        lost = [not ok for r, ok in zip(removed, verdicts) if r is not None]
        solved = any(ok for q, ok in zip(queries, verdicts) if q in guesses)
        return found + waiting, bool(lost) and all(lost), clean, solved
