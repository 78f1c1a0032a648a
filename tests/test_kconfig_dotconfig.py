"""The one reader and writer of .config text (ltobisect.dotconfig)."""
from __future__ import annotations

from ltobisect import dotconfig

TEXT = """#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_A=y
# CONFIG_B is not set
CONFIG_S="say \\"hi\\" \\\\ bye"
CONFIG_N=0x10
CONFIG_A=m
# a comment
"""


def test_parse_reads_settings_as_kconfig_spells_them() -> None:
    assert dotconfig.parse(TEXT) == {"A": "m", "B": "n", "S": 'say "hi" \\ bye', "N": "0x10"}
    assert dotconfig.parse(TEXT, unquote=False)["S"] == '"say \\"hi\\" \\\\ bye"'
    assert dotconfig.parse(TEXT, prefix="")["CONFIG_B"] == "n"
    assert dotconfig.parse_line("CONFIG_=y") is None and dotconfig.parse_line("# just words") is None


def test_line_writes_what_parse_reads() -> None:
    for name, value, typ in (("S", 'a "b" \\c', "string"), ("B", "n", "bool"), ("T", "m", "tristate"),
                             ("I", "12", "int")):
        assert dotconfig.parse(dotconfig.line(name, value, typ)) == {name: value}
    assert dotconfig.line("B", "n", "bool") == "# CONFIG_B is not set"


def test_merge_replaces_the_fragments_symbols_and_appends_it() -> None:
    merged = dotconfig.merge(TEXT, ["CONFIG_A=y", "# CONFIG_N is not set"])
    assert dotconfig.parse(merged) == {"A": "y", "B": "n", "S": 'say "hi" \\ bye', "N": "n"}
    assert merged.endswith("CONFIG_A=y\n# CONFIG_N is not set\n")


def test_digest_counts_only_settings() -> None:
    assert dotconfig.digest(TEXT) == dotconfig.digest("\n".join(ln for ln in TEXT.splitlines()
                                                                 if not ln.startswith("#")))
    assert dotconfig.digest(TEXT) != dotconfig.digest(TEXT.replace("CONFIG_N=0x10", "CONFIG_N=0x20"))
