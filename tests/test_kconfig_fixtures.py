"""The Kconfig layer on tiny Kconfig trees, one per tricky semantics (tests/kconfig_trees/).

Every expected value here was checked against Linux 6.1's own `scripts/kconfig/conf`
(tests/test_kconfig_kernel.py::test_fixtures_agree_with_kernel_conf runs that check).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ltobisect.errors import UserError
from ltobisect.kconfig import KconfigTree, digest, parse_config
from ltobisect.model import Change, Ineffective

TREES = Path(__file__).parent / "kconfig_trees"
HEADER = "#\n# Automatically generated file; DO NOT EDIT.\n# {}\n#\n"


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict:
    """Each fixture tree loaded once; tests only resolve on them (resolve leaves no state behind)."""
    work = tmp_path_factory.mktemp("kwork")
    return {name: KconfigTree.load(TREES / name, work_dir=work / name)
            for name in ("choice", "select", "imply", "depends", "tristate", "values", "hidden")}


def ch(kt: KconfigTree, text: str) -> Change:
    """``"A=y"`` -> a Change typed as the tree types the symbol."""
    name, value = text.split("=", 1)
    typ = kt.symbol_type(name)
    return Change(name=name, value=value, type=typ)


def settle(kt: KconfigTree, *changes: str, baseline: str = "allnoconfig"):
    base = kt.baseline(baseline)
    r = kt.resolve(base, [ch(kt, c) for c in changes])
    return parse_config(r.config_text), r


def reasons(r) -> dict:
    return {i.change.name: (i.actual, i.reason) for i in r.ineffective}


# -- choice --------------------------------------------------------------------------------------
def test_choice_default_and_override(trees):
    kt = trees["choice"]
    assert kt.baseline("allnoconfig") == HEADER.format("Choice fixture") + (
        "# CONFIG_A is not set\nCONFIG_C1=y\n# CONFIG_C2 is not set\n")
    values, r = settle(kt, "C2=y")
    assert values == {"A": "n", "C1": "n", "C2": "y"} and r.ineffective == ()


def test_choice_member_with_unmet_dependency_keeps_selection(trees):
    kt = trees["choice"]
    values, r = settle(kt, "C3=y")
    assert values == {"A": "n", "C1": "y", "C2": "n"}
    assert reasons(r) == {"C3": ("n", "unmet dependency: A")}
    values, r = settle(kt, "A=y", "C3=y")
    assert values == {"A": "y", "C1": "n", "C2": "n", "C3": "y"} and r.ineffective == ()


def test_choice_cannot_turn_off_its_selection(trees):
    values, r = settle(trees["choice"], "C1=n")
    assert values["C1"] == "y"
    assert reasons(r) == {"C1": ("y", "choice: C1 is still its selection (a line turning a member off "
                                      "does not move it; set another member to y)")}


def test_choice_diff_lists_both_members(trees):
    kt = trees["choice"]
    base = kt.baseline("allnoconfig")
    bad = kt.resolve(base, [ch(kt, "C2=y")]).config_text
    assert kt.diff(base, bad) == (Change("C1", "n", "bool", "y"), Change("C2", "y", "bool", "n"))


# -- select --------------------------------------------------------------------------------------
def test_select_forces_and_explains(trees):
    kt = trees["select"]
    values, r = settle(kt, "A=y")
    assert values == {"A": "y", "B": "y", "C": "n", "E": "n"}
    values, r = settle(kt, "A=y", "B=n")
    assert values["B"] == "y" and reasons(r) == {"B": ("y", "selected by A")}


def test_select_ignores_unmet_dependency_like_conf(trees):
    kt = trees["select"]
    values, r = settle(kt, "C=y")
    assert values == {"A": "n", "B": "n", "C": "y", "D": "y", "E": "n"}
    assert any("D (defined at" in w and "has direct dependencies E" in w for w in kt.warnings)


def test_resolve_warns_about_invalid_values_every_time(trees):
    kt = trees["values"]
    base = kt.baseline("allnoconfig")
    bad = Change("I", "abc", "int", "5")
    first, again = kt.resolve(base, [bad]), kt.resolve(base, [bad])
    assert first.warnings == again.warnings and any("abc" in w for w in first.warnings)
    assert first.ineffective == (Ineffective(bad, "5", "invalid int value 'abc'"),)


def test_select_turn_off_needs_the_selector_off(trees):
    kt = trees["select"]
    full = kt.resolve(kt.baseline("allnoconfig"), [ch(kt, "A=y")]).config_text
    base_off = kt.baseline("allnoconfig")
    changes = kt.diff(full, base_off)
    assert [str(c) for c in changes] == ["# CONFIG_A is not set", "# CONFIG_B is not set"]
    st = kt.structure(full, changes)
    a, b = changes
    assert st.needs[b] == {a} and st.needs[a] == frozenset()


def test_a_selected_setting_is_provided_by_each_of_its_selectors(trees):
    """Structure.providers: the changes that can each bring a setting about. B is set by its
    own change or selected by A; D (no prompt) only comes with C, which selects it (E, what D
    depends on, is a need, not a provider: D has no default)."""
    kt = trees["select"]
    base = kt.baseline("allnoconfig")
    bad = kt.resolve(base, [ch(kt, "A=y"), ch(kt, "C=y"), ch(kt, "E=y")]).config_text
    changes = kt.diff(base, bad)
    by = {c.name: c for c in changes}
    assert sorted(by) == ["A", "B", "C", "E"]
    st = kt.structure(base, changes)
    assert st.providers["CONFIG_B=y"] == {by["A"], by["B"]}
    assert st.providers["CONFIG_D=y"] == {by["C"]}
    assert st.providers["CONFIG_A=y"] == {by["A"]}
    assert "CONFIG_E=y" in st.providers and not any(line.startswith("#") for line in st.providers)


def test_a_default_a_hidden_prompt_gives_is_provided_by_the_change_that_hid_it(trees):
    """TTY's prompt shows only with EXPERT (as in init/Kconfig); hidden, TTY takes its default
    y. Turning EXPERT off (and EMBEDDED, which selects it) gives TTY=y and PROC_FS=y, so that
    change provides both: one change that can stand for two in a result."""
    kt = trees["hidden"]
    base = kt.resolve(kt.baseline("allnoconfig"),
                      [ch(kt, "EMBEDDED=y"), ch(kt, "TTY=n"), ch(kt, "PROC_FS=n")]).config_text
    assert "CONFIG_EXPERT=y" in base and "# CONFIG_TTY is not set" in base
    bad = kt.resolve(base, [ch(kt, "EMBEDDED=n"), ch(kt, "EXPERT=n")]).config_text
    changes = kt.diff(base, bad)
    by = {c.name: c for c in changes}
    assert sorted(f"{c.name}={c.value}" for c in changes) == [
        "EMBEDDED=n", "EXPERT=n", "PROC_FS=y", "TTY=y"]
    st = kt.structure(base, changes)
    assert st.providers["CONFIG_TTY=y"] == {by["EXPERT"], by["TTY"]}
    assert st.providers["CONFIG_PROC_FS=y"] == {by["EXPERT"], by["PROC_FS"]}
    assert st.needs[by["EXPERT"]] == {by["EMBEDDED"]}
    # Turned on by the user where the prompt shows, TTY has no other provider.
    shown = kt.resolve(base, [ch(kt, "TTY=y")]).config_text
    assert kt.structure(base, kt.diff(base, shown)).providers["CONFIG_TTY=y"] == {
        ch(kt, "TTY=y")}


# -- imply (Linux 6.1 symbol.c semantics, not kconfiglib's) -------------------------------------
def test_imply_with_unmet_dependency_is_written_as_not_set(trees):
    values, r = settle(trees["imply"], "A=y")
    # conf writes "# CONFIG_B is not set" for an implied symbol whose dependency is n
    assert "# CONFIG_B is not set\n" in r.config_text
    assert values["B"] == "n"


def test_imply_follows_the_implier(trees):
    assert settle(trees["imply"], "A=y", "DEP=y")[0]["B"] == "y"
    assert settle(trees["imply"], "MODULES=y", "A=m", "DEP=y")[0]["B"] == "m"


def test_imply_by_y_is_limited_by_an_m_dependency(trees):
    # kconfiglib alone gives G=y here; Linux 6.1's conf gives m: (default || implied) && deps
    values, _ = settle(trees["imply"], "MODULES=y", "F=m", "H=y")
    assert values["G"] == "m"
    assert settle(trees["imply"], "MODULES=y", "F=y", "H=y")[0]["G"] == "y"


def test_imply_does_not_force(trees):
    values, r = settle(trees["imply"], "A=y", "DEP=y", "B=n")
    assert values["B"] == "n" and r.ineffective == ()


# -- depends-on chains, menus, if-blocks ---------------------------------------------------------
def test_depends_chain_exact_resolution(trees):
    kt = trees["depends"]
    _, r = settle(kt, "A=y", "B=y", "C=y", "D=y")
    assert r.config_text == HEADER.format("Depends fixture") + (
        "\n#\n# Outer\n#\nCONFIG_A=y\nCONFIG_B=y\n\n#\n# Inner\n#\nCONFIG_C=y\nCONFIG_D=y\n"
        "# end of Inner\n# end of Outer\n\n# CONFIG_X is not set\n")


def test_depends_chain_reasons(trees):
    kt = trees["depends"]
    _, r = settle(kt, "D=y")
    assert reasons(r) == {"D": ("n", "unmet dependency: C && B && A")}
    _, r = settle(kt, "A=y", "C=y")
    assert reasons(r) == {"C": ("n", "unmet dependency: B")}


def test_depends_structure_needs_and_menus(trees):
    kt = trees["depends"]
    base = kt.baseline("allnoconfig")
    bad = kt.resolve(base, [ch(kt, s) for s in ("A=y", "B=y", "C=y", "D=y", "X=y")]).config_text
    changes = kt.diff(base, bad)
    assert [str(c) for c in changes] == ["CONFIG_A=y", "CONFIG_B=y", "CONFIG_C=y", "CONFIG_D=y", "CONFIG_X=y"]
    a, b, c, d, x = changes
    st = kt.structure(base, changes)
    assert st.needs[d] == {a, b, c}
    assert st.needs[c] == {a, b}
    assert st.needs[b] == {a}
    assert st.needs[a] == frozenset() and st.needs[x] == frozenset()
    assert st.menu[d] == ("Outer", "Inner") and st.menu[a] == ("Outer",) and st.menu[x] == ()
    assert st.closure([d]) == {a, b, c, d}


def test_default_y_symbol_turned_off(trees):
    kt = trees["depends"]
    base = kt.baseline("defconfig")  # no defconfig file: all defaults
    assert parse_config(base)["X"] == "y"
    bad = kt.resolve(base, [ch(kt, "X=n")]).config_text
    assert kt.diff(base, bad) == (Change("X", "n", "bool", "y"),)


# -- tristate and m ------------------------------------------------------------------------------
def test_tristate_m_and_its_limits(trees):
    kt = trees["tristate"]
    values, r = settle(kt, "MODULES=y", "T=m", "U=y", "V=y")
    assert values == {"MODULES": "y", "T": "m", "U": "m", "V": "y"}
    assert reasons(r) == {"U": ("m", "unmet dependency (only m allowed): T")}


def test_tristate_m_without_modules_becomes_y(trees):
    values, r = settle(trees["tristate"], "T=m")
    assert values["T"] == "y"
    assert reasons(r) == {"T": ("y", "m not possible: MODULES is not enabled")}


def test_a_change_to_m_needs_the_change_enabling_modules(trees):
    kt = trees["tristate"]
    base = kt.baseline("allnoconfig")
    bad = kt.resolve(base, [ch(kt, s) for s in ("MODULES=y", "T=m", "U=m")]).config_text
    changes = {c.name: c for c in kt.diff(base, bad)}
    assert set(changes) == {"MODULES", "T", "U"}
    st = kt.structure(base, tuple(changes.values()))
    assert st.needs[changes["T"]] == {changes["MODULES"]}
    assert st.needs[changes["U"]] == {changes["MODULES"], changes["T"]}
    # and the closure alone is enough: T=m with what it needs resolves to T=m
    r = kt.resolve(base, st.closure([changes["T"]]))
    assert parse_config(r.config_text)["T"] == "m"


def test_tristate_diff_m_to_y(trees):
    kt = trees["tristate"]
    base = kt.resolve(kt.baseline("allnoconfig"), [ch(kt, "MODULES=y"), ch(kt, "T=m")]).config_text
    bad = kt.resolve(kt.baseline("allnoconfig"), [ch(kt, "MODULES=y"), ch(kt, "T=y"), ch(kt, "U=y")]).config_text
    assert kt.diff(base, bad) == (Change("T", "y", "tristate", "m"), Change("U", "y", "tristate", "n"))


# -- int, hex, string ----------------------------------------------------------------------------
def test_values_exact_resolution(trees):
    kt = trees["values"]
    _, r = settle(kt, "I=7", "H=0x20", 'S=a "q"')
    assert r.config_text == HEADER.format("Values fixture") + (
        'CONFIG_I=7\nCONFIG_H=0x20\nCONFIG_S="a \\"q\\""\n# CONFIG_GATE is not set\n')
    assert r.ineffective == ()


def test_values_out_of_range_and_hidden(trees):
    kt = trees["values"]
    values, r = settle(kt, "I=20")
    assert values["I"] == "5" and reasons(r) == {"I": ("5", "outside range [1, 10]")}
    values, r = settle(kt, "J=4")
    assert "J" not in values and reasons(r) == {"J": ("", "unmet dependency: GATE")}
    assert settle(kt, "GATE=y", "J=4")[0]["J"] == "4"


def test_values_diff_and_fragment(trees):
    kt = trees["values"]
    base = kt.baseline("allnoconfig")
    bad = kt.resolve(base, [ch(kt, s) for s in ("I=7", "S=x y", "GATE=y", "J=9")]).config_text
    changes = kt.diff(base, bad)
    assert changes == (Change("GATE", "y", "bool", "n"), Change("I", "7", "int", "5"),
                       Change("J", "9", "int", ""), Change("S", "x y", "string", "hello"))
    assert kt.fragment(changes) == 'CONFIG_GATE=y\nCONFIG_I=7\nCONFIG_J=9\nCONFIG_S="x y"\n'
    assert kt.resolve(base, changes).config_text == bad
    assert kt.min_config(bad) == 'CONFIG_I=7\nCONFIG_S="x y"\nCONFIG_GATE=y\nCONFIG_J=9\n'


# -- properties every resolve has ----------------------------------------------------------------
def test_resolve_is_order_independent_and_stateless(trees):
    kt = trees["depends"]
    base = kt.baseline("allnoconfig")
    changes = [ch(kt, s) for s in ("A=y", "B=y", "C=y", "D=y", "X=y")]
    first = kt.resolve(base, changes)
    kt.resolve(base, changes[:2])
    again = kt.resolve(base, list(reversed(changes)))
    assert first.config_text == again.config_text and first.digest == again.digest
    assert kt.resolve(base, []).config_text == base


def test_resolver_binds_the_baseline(trees):
    kt = trees["select"]
    base = kt.baseline("allnoconfig")
    resolve = kt.resolver(base)
    r = resolve(frozenset([ch(kt, "A=y")]))
    assert r.candidate == frozenset([ch(kt, "A=y")]) and parse_config(r.config_text)["B"] == "y"
    assert r.effective == r.candidate


def test_digest_ignores_comments_and_not_set_lines():
    a = "#\n# header one\n#\nCONFIG_A=y\n# CONFIG_B is not set\n"
    b = "#\n# another header\n#\nCONFIG_A=y\n"
    assert digest(a) == digest(b)
    assert digest(a) != digest("CONFIG_A=m\n")


def test_normalize_fills_defaults(trees):
    kt = trees["values"]
    assert parse_config(kt.normalize("CONFIG_GATE=y\n")) == {"I": "5", "H": "0x10", "S": "hello",
                                                             "GATE": "y", "J": "3"}


def test_non_kernel_tree_baselines(tmp_path):
    tree = tmp_path / "proj"
    tree.mkdir()
    (tree / "Kconfig").write_text((TREES / "depends" / "Kconfig").read_text())
    kt = KconfigTree.load(tree, work_dir=tmp_path / "w")
    assert kt.kernelversion() is None and kt.arch is None and kt.srcarch is None
    assert parse_config(kt.baseline("defconfig"))["X"] == "y"
    assert kt.baseline("tinyconfig") == kt.baseline("allnoconfig")
    (tree / "defconfig").write_text("CONFIG_A=y\n# CONFIG_X is not set\n")
    assert parse_config(kt.baseline("defconfig")) == {"A": "y", "B": "n", "X": "n"}
    cfg = tmp_path / "my.config"
    cfg.write_text("CONFIG_A=y\nCONFIG_B=y\n")
    assert parse_config(kt.baseline(str(cfg))) == {"A": "y", "B": "y", "C": "n", "X": "y"}


def test_transitional_and_bare_modules_attributes(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "Kconfig").write_text(
        "config MODULES\n\tbool \"modules\"\n\tmodules\n\tdefault y\n"
        "config OLD_NAME\n\tbool\n\ttransitional\n"
        "config NEW_NAME\n\ttristate \"new\"\n\tdefault OLD_NAME\n")
    kt = KconfigTree.load(tree, work_dir=tmp_path / "w")
    assert kt._k.modules.name == "MODULES"
    out = kt.normalize("CONFIG_NEW_NAME=m\n")
    assert "OLD_NAME" not in out and "CONFIG_NEW_NAME=m" in out


# -- bad input -----------------------------------------------------------------------------------
def test_tree_without_kconfig(tmp_path):
    with pytest.raises(UserError, match="has no Kconfig: not a Kconfig tree") as e:
        KconfigTree.load(tmp_path)
    assert "\n" not in e.value.line()


def test_broken_kconfig_is_one_line(tmp_path):
    (tmp_path / "Kconfig").write_text("config A\n\tbool \"A\"\n\tfrobnicate\n")
    with pytest.raises(UserError, match="cannot parse the Kconfig") as e:
        KconfigTree.load(tmp_path, work_dir=tmp_path / "w")
    assert "\n" not in e.value.line()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"hello world\nthis is not a config\n", "is not a .config file"),
    (b"\x7fELF\x00\x01binary", "binary data"),
])
def test_read_config_rejects_non_configs(trees, tmp_path, content, message):
    path = tmp_path / "bad.config"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as e:
        trees["values"].read_config(path)
    assert "\n" not in e.value.line()


def test_read_config_missing_file_and_directory(trees, tmp_path):
    with pytest.raises(UserError, match="cannot read config"):
        trees["values"].read_config(tmp_path / "nope.config")
    with pytest.raises(UserError, match="is a directory"):
        trees["values"].read_config(tmp_path)
    with pytest.raises(UserError, match="neither defconfig"):
        trees["values"].baseline(str(tmp_path / "nope.config"))


def test_unknown_symbols_are_warned_by_name_not_fatal(trees, tmp_path):
    kt = trees["values"]
    path = tmp_path / "x.config"
    path.write_text("CONFIG_I=3\nCONFIG_NO_SUCH_THING=y\n# CONFIG_ALSO_MISSING is not set\n")
    text = kt.read_config(path)
    assert parse_config(kt.normalize(text))["I"] == "3"
    warning = [w for w in kt.warnings if "unknown to this tree" in w]
    assert warning and "CONFIG_NO_SUCH_THING" in warning[-1] and "CONFIG_ALSO_MISSING" in warning[-1]


def test_make_failure_is_an_infra_error(tmp_path):
    from ltobisect.errors import InfraError
    from ltobisect.kconfig import make_olddefconfig

    with pytest.raises(InfraError, match="make olddefconfig failed"):
        make_olddefconfig(tmp_path / "no-tree", "CONFIG_A=y\n", arch=None, llvm=None, work_dir=tmp_path / "O")


def test_an_empty_menu_is_closed_as_conf_closes_it(tmp_path):
    """An empty menu (6.1's "riscv Debugging": arch/riscv/Kconfig.debug is empty) gets its
    header and its "# end of" line; 6.1's and 6.12's conf both wrote exactly this."""
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "Kconfig").write_text('mainmenu "Empty menu"\nconfig A\n\tbool "A"\nmenu "Nothing here"\n'
                                  'endmenu\nconfig B\n\tbool "B"\n\tdefault y\n')
    kt = KconfigTree.load(tree, work_dir=tmp_path / "w")
    assert kt.normalize("") == (HEADER.format("Empty menu") + "# CONFIG_A is not set\n\n#\n# Nothing here\n"
                                "#\n# end of Nothing here\n\nCONFIG_B=y\n")
