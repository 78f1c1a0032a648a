"""Choices and transitional symbols as each Kconfig generation's conf settles them.

The scenarios and the values conf gave are in choice_scenarios.py (6.1's and 6.12's conf
binaries, compared again by tests/test_kconfig_kernel.py); here our resolver must give the same
values with no kernel at hand, for the rules read off a tree and for each generation forced.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from choice_scenarios import EXPECTED, LEGACY_ONLY, SCENARIOS
from ltobisect.kconfig import KconfigTree, parse_config
from ltobisect.kconfig.compat import ChoiceRules, Generation
from ltobisect.model import Change

TREES = Path(__file__).parent / "kconfig_trees"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    cache = {}

    def get(tree: str, rules: ChoiceRules) -> KconfigTree:
        if (tree, rules) not in cache:
            cache[tree, rules] = KconfigTree.load(TREES / tree, work_dir=tmp_path_factory.mktemp("k"),
                                                  choice_rules=rules)
        return cache[tree, rules]

    return get


def changes(kt: KconfigTree, lines) -> list:
    out = []
    for line in lines:
        name, value = line.split("=", 1)
        out.append(Change(name, value, kt.symbol_type(name)))
    return out


CASES = [(rules, tree, name, base, frag) for rules in ChoiceRules for tree, name, base, frag in SCENARIOS
         if not (rules is ChoiceRules.PRIORITY and tree in LEGACY_ONLY)]


@pytest.mark.parametrize("rules,tree,name,base,frag", CASES,
                         ids=[f"{c[0].value}-{c[1]}-{c[2]}" for c in CASES])
def test_scenario_settles_as_conf_did(loaded, rules, tree, name, base, frag):
    kt = loaded(tree, rules)
    baseline = kt.resolve(kt.baseline("allnoconfig"), changes(kt, base)).config_text
    got = parse_config(kt.resolve(baseline, changes(kt, frag)).config_text)
    assert got == EXPECTED[rules.value, tree, name]


def test_the_generations_part_on_half_a_choice_switch(loaded):
    """The same lines, two answers: a member turned off alone does not move a 6.1 choice (its
    earlier y line still selects it); 6.11+ puts it last in line and takes the next visible."""
    old, new = loaded("choices", ChoiceRules.LEGACY), loaded("choices", ChoiceRules.PRIORITY)
    for kt, c1, c2 in ((old, "y", "n"), (new, "n", "y")):
        base = kt.resolve(kt.baseline("allnoconfig"), changes(kt, ["C1=y"])).config_text
        got = parse_config(kt.resolve(base, changes(kt, ["C1=n"])).config_text)
        assert (got["C1"], got["C2"]) == (c1, c2)


def test_rules_are_read_off_the_tree(tmp_path):
    for body, rules in (("struct list_head choice_members;", ChoiceRules.PRIORITY),
                        ("sym->def[def].val = sym;", ChoiceRules.LEGACY)):
        tree = tmp_path / rules.value
        (tree / "scripts" / "kconfig").mkdir(parents=True)
        (tree / "scripts" / "kconfig" / "symbol.c").write_text(body + "\n")
        (tree / "Kconfig").write_text((TREES / "choices" / "Kconfig").read_text())
        assert KconfigTree.load(tree, work_dir=tmp_path / "w").choice_rules is rules
    assert KconfigTree.load(TREES / "choices", work_dir=tmp_path / "w2").choice_rules is ChoiceRules.LEGACY


def test_a_generation_is_one_object_read_off_the_tree(tmp_path):
    """Choice rules and out-of-range values are read off the tree's own scripts/kconfig into one
    Generation; a tree may be loaded with another one given."""
    kconfig = tmp_path / "scripts" / "kconfig"
    kconfig.mkdir(parents=True)
    (tmp_path / "Kconfig").write_text((TREES / "choices" / "Kconfig").read_text())
    (kconfig / "symbol.c").write_text("struct list_head choice_members;\n")
    (kconfig / "confdata.c").write_text("/* 6.11 on: no range check when reading */\n")
    assert Generation.of_tree(tmp_path) == Generation(ChoiceRules.PRIORITY, clamps=True)
    (kconfig / "confdata.c").write_text("if (!sym_string_within_range(sym, p)) {\n")
    assert Generation.of_tree(tmp_path) == Generation(ChoiceRules.PRIORITY, clamps=False)
    assert Generation.of_tree(tmp_path, ChoiceRules.LEGACY).choices is ChoiceRules.LEGACY
    older = Generation(ChoiceRules.LEGACY, clamps=False)
    kt = KconfigTree.load(tmp_path, work_dir=tmp_path / "w", generation=older)
    assert kt.generation == older and kt.choice_rules is ChoiceRules.LEGACY
    assert older.describe() == "choices before 6.11, out-of-range values dropped"


def test_priority_allnoconfig_leaves_choices_to_their_default(loaded):
    kt = loaded("choices", ChoiceRules.PRIORITY)
    got = parse_config(kt.baseline("allnoconfig"))
    assert (got["C1"], got["C2"], got["P2"]) == ("n", "y", "y") and "P1" not in got


# -- transitional (Linux 6.18) -------------------------------------------------------------------
@pytest.mark.parametrize("rules", list(ChoiceRules))
def test_transitional_values_pass_through_and_are_never_written(loaded, rules):
    kt = loaded("transitional", rules)
    old = ('CONFIG_MODULES=y\nCONFIG_OLD_BOOL=y\nCONFIG_OLD_TRI=m\nCONFIG_OLD_STR="kept"\n'
           "CONFIG_OLD_HEX=0x20\n")
    text = kt.normalize(old)
    got = parse_config(text)
    assert "OLD_" not in text
    assert (got["NEW_BOOL"], got["NEW_TRI"], got["NEW_STR"], got["NEW_HEX"]) == ("y", "m", "kept", "0x20")


def test_transitional_user_value_of_the_new_symbol_wins(loaded):
    kt = loaded("transitional", ChoiceRules.PRIORITY)
    got = parse_config(kt.normalize("CONFIG_OLD_BOOL=y\n# CONFIG_NEW_BOOL is not set\nCONFIG_NEW_STR=\"mine\"\n"
                                    "CONFIG_OLD_STR=\"old\"\n"))
    assert (got["NEW_BOOL"], got["NEW_STR"]) == ("n", "mine")


def test_transitional_absent_gives_the_plain_defaults(loaded):
    kt = loaded("transitional", ChoiceRules.PRIORITY)
    got = parse_config(kt.normalize("CONFIG_MODULES=y\n"))
    # (NEW_HEX is left out: an absent hex is "0x0" to 6.12's conf and "" to kconfiglib.)
    assert (got["NEW_BOOL"], got["NEW_TRI"], got["NEW_STR"]) == ("n", "n", "")


def test_transitional_symbols_are_not_changes(loaded):
    kt = loaded("transitional", ChoiceRules.PRIORITY)
    base = kt.normalize("CONFIG_MODULES=y\n")
    found = kt.diff(base, "CONFIG_MODULES=y\nCONFIG_OLD_BOOL=y\n")
    assert [(c.name, c.value) for c in found] == [("NEW_BOOL", "y")]
