"""The build-time model: what the gate learns from finished builds, and what it does with it."""
from __future__ import annotations

from ltobisect.costs import CostModel, weight
from ltobisect.model import Resolved
from ltobisect.testing.simulate import MemoryJournal, conjunction

from fakes import changes, make_problem


def resolved(n_on: int, name: str = "") -> Resolved:
    text = "".join(f"CONFIG_S{i}=y\n" for i in range(n_on)) + "# CONFIG_OFF is not set\n"
    return Resolved(frozenset(), text, f"{name}{n_on}")


def test_a_configs_weight_counts_what_it_builds():
    text = "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\nCONFIG_E=12\n"
    assert weight(text) == 2


def test_estimates_lie_between_the_builds_of_nearest_weight_and_never_beyond():
    model = CostModel()
    model.add(resolved(0), 300.0)  # the baseline
    assert model.expect(resolved(50)) is None  # one weight known: no estimate at all
    model.add(resolved(100), 660.0)  # the bad config
    assert model.expect(resolved(50)) == 480.0
    assert model.expect(resolved(150)) == 660.0  # no extrapolation past the heaviest
    model.add(resolved(50, "again"), 400.0)  # a build of that weight: what it took counts
    assert model.expect(resolved(50)) == 400.0
    assert model.expect(resolved(75)) == 530.0
    assert CostModel(learn=False).expect(resolved(1)) is None


def test_a_batch_larger_than_the_workers_starts_its_longest_builds_first():
    chs = changes(40)
    problem = make_problem(chs, conjunction({chs[0].name: chs[0].value}), workers=2,
                           duration=lambda r: 10.0 + 5.0 * weight(r.config_text))
    problem.consider_many([frozenset(chs), frozenset()])  # the bad config and the baseline
    sizes = [2, 5, 30, 20]  # builds of 20, 35, 160 and 110 s
    cands = [frozenset(chs[1: 1 + n]) for n in sizes]
    started = problem.elapsed()
    problem.consider_many(cands)
    order = problem.fake_runner.tested[-4:]
    assert [len(problem.resolve(c).candidate) for c in sorted(
        cands, key=lambda c: order.index(problem.resolve(c).digest))] == [30, 20, 5, 2]
    # Longest first on two workers: 160 s next to 110 + 35 + 20 s, done after 165 s; in
    # the order given the 160 s build would have started after 20 s, done after 180 s.
    assert problem.elapsed() - started == 165.0


def test_a_resumed_session_knows_what_its_builds_cost():
    chs = changes(20)
    journal = MemoryJournal()
    first = make_problem(chs, conjunction({chs[0].name: chs[0].value}), journal=journal,
                         duration=lambda r: 10.0 + weight(r.config_text))
    first.consider_many([frozenset(chs), frozenset()])
    again = make_problem(chs, conjunction({chs[0].name: chs[0].value}), journal=journal)
    assert again.costs.expect(again.resolve(chs[:10])) is None
    again.consider_many([frozenset(chs), frozenset()])  # answered by the journal
    assert again.stats.tests == 0
    assert again.costs.expect(again.resolve(chs[:10])) == \
        10.0 + weight(again.resolve(chs[:10]).config_text)
