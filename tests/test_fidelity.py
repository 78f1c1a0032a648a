"""The fidelity comparison's own parts, without a kernel: what it draws and how it counts."""
from __future__ import annotations

import random

from ltobisect.testing import fidelity
from ltobisect.model import Change


def test_candidates_are_sizes_one_three_and_half_with_a_share_of_choice_members():
    changes = [Change(f"S{i:02d}", "y", "bool", "n") for i in range(20)]
    members = {"S03", "S07", "S11"}
    drawn = list(fidelity.candidates(changes, 6, random.Random(1), lambda n: n in members))
    assert [len(c) for c in drawn] == [1, 3, 10, 1, 3, 10]
    for i in (2, 5):  # every third: half of it (here: all three) from choice members
        assert members <= {c.name for c in drawn[i]}
    assert all(len(set(c)) == len(c) for c in drawn)
    assert list(fidelity.candidates([], 3, random.Random(1), lambda n: False)) == []


def test_tally_counts_identical_per_kind_and_overall():
    results = [fidelity.Comparison("a", "candidate", True), fidelity.Comparison("b", "candidate", False),
               fidelity.Comparison("c", "baseline", True)]
    assert fidelity.tally(results) == {"candidate": (1, 2), "baseline": (1, 1), "all": (2, 3)}


def test_describe_names_the_settings_or_says_only_the_text_differs():
    assert fidelity.describe("CONFIG_A=y\n", "CONFIG_A=m\n") == ("CONFIG_A: ours y, conf m",)
    assert fidelity.describe("CONFIG_A=y\n", "#\nCONFIG_A=y\n") == (
        "same settings, different text (order, comments or header)",)
    assert fidelity.describe("CONFIG_A=y\n", "CONFIG_A=y\n") == ()
