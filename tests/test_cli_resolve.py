"""`ltobisect changes` and `ltobisect resolve` on the tiny Kconfig trees (tests/kconfig_trees/).

Both run the search's own Kconfig code without a build: what they print must be exactly what
KconfigTree gives for the same inputs, and bad input must end in one line, as for `minimize`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltobisect import cli
from ltobisect.kconfig import KconfigTree, parse_config
from ltobisect.model import Change

REPO = Path(__file__).resolve().parent.parent
TREES = Path(__file__).parent / "kconfig_trees"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run every command from a scratch directory, so relative paths land there."""
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv: object):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def one_line(err: str, *needles: str) -> str:
    """The single error line; it names the problem and, in parentheses, what to do."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("ltobisect: error: ") and line.endswith(")"), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def load(name: str, tmp_path: Path) -> KconfigTree:
    return KconfigTree.load(TREES / name, work_dir=tmp_path / f"kwork-{name}")


# -- changes -------------------------------------------------------------------------------------
def test_changes_prints_the_fragment_lines_and_the_count(capsys, tmp_path):
    bad = write(tmp_path / "bad.config", "CONFIG_A=y\nCONFIG_C3=y\n")
    code, out, err = run(capsys, "changes", "allnoconfig", bad, "--tree", TREES / "choice")
    assert code == 0
    # The choice moves from its default C1 to C3: two changes, the old member turned off.
    assert out == "CONFIG_A=y\n# CONFIG_C1 is not set\nCONFIG_C3=y\n"
    assert err == f"ltobisect: 3 changes between allnoconfig and {bad}\n"


def test_changes_are_the_searchs_own(capsys, tmp_path):
    """The same lines as KconfigTree.diff of the settled baseline, as the session computes them."""
    bad = write(tmp_path / "bad.config", 'CONFIG_I=7\nCONFIG_S="a b"\nCONFIG_GATE=y\nCONFIG_J=4\n')
    code, out, _err = run(capsys, "changes", "allnoconfig", bad, "--tree", TREES / "values")
    assert code == 0
    assert out == 'CONFIG_GATE=y\nCONFIG_I=7\nCONFIG_J=4\nCONFIG_S="a b"\n'
    kt = load("values", tmp_path)
    assert out == kt.fragment(kt.diff(kt.baseline("allnoconfig"), kt.read_config(bad)))


def test_changes_against_a_baseline_file(capsys, tmp_path):
    base = write(tmp_path / "base.config", "CONFIG_A=y\nCONFIG_B=y\n")
    bad = write(tmp_path / "bad.config", "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n# CONFIG_X is not set\n")
    code, out, err = run(capsys, "changes", base, bad, "--tree", TREES / "depends")
    assert code == 0
    assert out == "CONFIG_C=y\n# CONFIG_X is not set\n"
    assert err == f"ltobisect: 2 changes between {base} and {bad}\n"


def test_changes_of_a_config_equal_to_the_baseline(capsys, tmp_path):
    bad = write(tmp_path / "bad.config", "# CONFIG_A is not set\n# CONFIG_X is not set\n")
    code, out, err = run(capsys, "changes", "allnoconfig", bad, "--tree", TREES / "depends")
    assert (code, out) == (0, "")
    assert err == f"ltobisect: 0 changes between allnoconfig and {bad}\n"


def test_changes_pipe_into_resolve_gives_the_bad_config_back(capsys, tmp_path):
    """All the changes, appended to the baseline, settle to the bad config (what `minimize`
    confirms before it searches)."""
    tree = TREES / "choice"
    bad = write(tmp_path / "bad.config", "CONFIG_A=y\nCONFIG_C3=y\n")
    _code, out, _err = run(capsys, "changes", "allnoconfig", bad, "--tree", tree)
    frag = write(tmp_path / "all.config", out)
    code, resolved, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", tree)
    assert code == 0
    assert resolved == load("choice", tmp_path).normalize(bad.read_text())
    assert parse_config(resolved) == {"A": "y", "C1": "n", "C2": "n", "C3": "y"}
    assert err == f"ltobisect: {frag} on allnoconfig: 3 changes, all applied\n"


# -- resolve -------------------------------------------------------------------------------------
def test_resolve_prints_what_the_search_builds(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "# from a session\n\nCONFIG_A=y\nCONFIG_D=y\n")
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", TREES / "depends")
    assert code == 0
    kt = load("depends", tmp_path)
    base = kt.baseline("allnoconfig")
    expected = kt.resolve(base, [Change("A", "y", "bool", "n"), Change("D", "y", "bool", "n")])
    assert out == expected.config_text
    # D sits in a menu that depends on B, and D itself on C: neither is set, so D stays off.
    values = parse_config(out)
    assert values["A"] == "y" and values["B"] == "n" and "D" not in values
    assert "\n# CONFIG_B is not set\n" in out
    assert err == f"ltobisect: {frag} on allnoconfig: 2 changes, 1 not applied (--explain says why)\n"


def test_resolve_explain_names_what_did_not_take_effect_and_why(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\nCONFIG_D=y\n")
    code, _out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", TREES / "depends",
                          "--explain")
    assert code == 0
    assert err.splitlines() == [
        "ltobisect: not applied: CONFIG_D=y (it is n: unmet dependency: C && B)",
        f"ltobisect: {frag} on allnoconfig: 2 changes, 1 not applied",
    ]


def test_resolve_explain_values_and_kconfig_warnings(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", 'CONFIG_I=20\nCONFIG_J=7\nCONFIG_S="say \\"hi\\""\n')
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", TREES / "values",
                         "--explain")
    assert code == 0
    values = parse_config(out)
    assert values["I"] == "5" and values["S"] == 'say "hi"' and "J" not in values
    assert 'CONFIG_S="say \\"hi\\""\n' in out
    assert err.splitlines() == [
        "ltobisect: not applied: CONFIG_I=20 (it is 5: outside range [1, 10])",
        "ltobisect: not applied: CONFIG_J=7 (it is unset: unmet dependency: GATE)",
        "ltobisect: Kconfig warning: user value 20 on the int symbol I (defined at Kconfig:3) "
        "ignored due to being outside the active range ([1, 10]) -- falling back on defaults",
        f"ltobisect: {frag} on allnoconfig: 3 changes, 2 not applied",
    ]


def test_resolve_warns_about_unknown_symbols_and_goes_on(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_NOPE=y\nCONFIG_GATE=y\n")
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", TREES / "values")
    assert code == 0
    assert parse_config(out)["GATE"] == "y" and parse_config(out)["J"] == "3"
    assert err.splitlines() == [
        f"ltobisect: warning: {frag}: 1 symbol unknown to this tree, ignored: CONFIG_NOPE",
        f"ltobisect: {frag} on allnoconfig: 1 change, all applied",
    ]


def test_resolve_settles_a_fragment_in_its_own_order_and_says_so(capsys, tmp_path):
    """Two members of one choice set to y: conf reading `cat baseline fragment` takes the last
    y line (C1); a session's fragment.config, in name order, would have given C2."""
    frag = write(tmp_path / "frag.config", "CONFIG_C2=y\nCONFIG_C1=y\nCONFIG_C1=y\n")
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", TREES / "choice")
    assert code == 0
    values = parse_config(out)
    assert values["C1"] == "y" and values["C2"] == "n"
    kt = load("choice", tmp_path)
    assert out == kt.normalize(kt.baseline("allnoconfig") + frag.read_text())
    in_name_order = parse_config(kt.resolve(kt.baseline("allnoconfig"),
                                            [Change("C1", "y", "bool"), Change("C2", "y", "bool")]).config_text)
    assert in_name_order["C2"] == "y" and in_name_order["C1"] == "n"
    assert err.splitlines()[:2] == [
        f"ltobisect: warning: {frag} sets CONFIG_C1 on more than one line; the last line counts",
        f"ltobisect: warning: {frag} sets the choice members CONFIG_C2, CONFIG_C1 out of name "
        "order: printed as conf reads the file, but a session writes fragments in name order, "
        "which may select another member",
    ]


def test_resolve_takes_a_baseline_file_as_it_is(capsys, tmp_path):
    """A baseline file that conf would settle otherwise is not settled first: the output is
    conf's reading of the two files one after the other."""
    base = write(tmp_path / "base.config", "CONFIG_C3=y\nCONFIG_A=y\n")
    frag = write(tmp_path / "frag.config", "# CONFIG_A is not set\n")
    code, out, _err = run(capsys, "resolve", base, frag, "--tree", TREES / "choice")
    assert code == 0
    kt = load("choice", tmp_path)
    assert out == kt.normalize(base.read_text() + frag.read_text())
    values = parse_config(out)
    assert values["A"] == "n" and values["C1"] == "y"


def test_arch_and_make_reach_kconfig(capsys, tmp_path):
    """--arch and --make give Kconfig what `make ARCH=.. VAR=..` gives conf, as in a search."""
    tree = tmp_path / "project"
    for arch in ("x86", "arm64"):
        (tree / "arch" / arch).mkdir(parents=True)
        write(tree / "arch" / arch / "Kconfig", f'config ON_{arch.upper()}\n\tbool "{arch}"\n')
    write(tree / "Kconfig", 'mainmenu "Project"\nsource "arch/$(SRCARCH)/Kconfig"\n'
                            'config GREETING\n\tstring "greeting"\n\tdefault "$(GREETING)"\n')
    frag = write(tmp_path / "frag.config", "CONFIG_ON_ARM64=y\n")
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", tree, "--arch", "arm64",
                         "--make", "GREETING=hello")
    assert code == 0, err
    assert parse_config(out) == {"ON_ARM64": "y", "GREETING": "hello"}
    code, out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", tree, "--arch", "x86_64")
    assert code == 0
    assert parse_config(out) == {"ON_X86": "n", "GREETING": ""}
    assert "unknown to this tree, ignored: CONFIG_ON_ARM64" in err


# -- bad input: one line, exit 1 -----------------------------------------------------------------
def test_resolve_with_a_missing_fragment(capsys, tmp_path):
    code, out, err = run(capsys, "resolve", "allnoconfig", tmp_path / "nope.config",
                         "--tree", TREES / "depends")
    assert (code, out) == (1, "")
    line = one_line(err, "fragment", "does not exist")
    assert line == f"ltobisect: error: fragment {tmp_path / 'nope.config'} does not exist (check the path)"


def test_resolve_with_a_file_that_is_not_a_config(capsys, tmp_path):
    notes = write(tmp_path / "notes.txt", "CONFIG_A=y\nbuy milk\n")
    code, out, err = run(capsys, "resolve", "allnoconfig", notes, "--tree", TREES / "depends")
    assert (code, out) == (1, "")
    one_line(err, f"fragment {notes} is not a kernel config: line 2 is 'buy milk'")


def test_resolve_with_a_fragment_without_settings(capsys, tmp_path):
    empty = write(tmp_path / "empty.config", "# nothing here\n")
    code, _out, err = run(capsys, "resolve", "allnoconfig", empty, "--tree", TREES / "depends")
    assert code == 1
    one_line(err, f"fragment {empty} has no CONFIG_ settings", "ltobisect changes")


def test_resolve_with_a_binary_fragment(capsys, tmp_path):
    blob = tmp_path / "vmlinux"
    blob.write_bytes(b"\x7fELF\x00\x01")
    code, _out, err = run(capsys, "resolve", "allnoconfig", blob, "--tree", TREES / "depends")
    assert code == 1
    one_line(err, "fragment", "binary file")


def test_changes_with_a_missing_bad_config(capsys, tmp_path):
    code, _out, err = run(capsys, "changes", "allnoconfig", tmp_path / "bad.config",
                          "--tree", TREES / "depends")
    assert code == 1
    one_line(err, "bad config", "does not exist")


def test_changes_with_a_bad_config_that_is_not_a_config(capsys, tmp_path):
    notes = write(tmp_path / "notes.txt", "hello\n")
    code, _out, err = run(capsys, "changes", "allnoconfig", notes, "--tree", TREES / "depends")
    assert code == 1
    one_line(err, "bad config", "not a kernel config: line 1")


def test_tree_that_is_not_a_kconfig_tree(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\n")
    code, _out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", tmp_path)
    assert code == 1
    one_line(err, "not a Kconfig tree")


def test_missing_tree_option(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\n")
    code, _out, err = run(capsys, "changes", "allnoconfig", frag)
    assert code == 1
    one_line(err, "--tree")


def test_unknown_arch(capsys, tmp_path):
    tree = tmp_path / "project"
    (tree / "arch" / "x86").mkdir(parents=True)
    write(tree / "arch" / "x86" / "Kconfig", "")
    write(tree / "Kconfig", 'source "arch/$(SRCARCH)/Kconfig"\n')
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\n")
    code, _out, err = run(capsys, "resolve", "allnoconfig", frag, "--tree", tree, "--arch", "sparc9")
    assert code == 1
    one_line(err, "unknown ARCH 'sparc9'")


def test_named_baseline_that_needs_a_kernel(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\n")
    code, _out, err = run(capsys, "resolve", "tinyconfig", frag, "--tree", TREES / "depends")
    assert code == 1
    one_line(err, "baseline tinyconfig needs a kernel tree", "allnoconfig")


def test_missing_baseline_file(capsys, tmp_path):
    frag = write(tmp_path / "frag.config", "CONFIG_A=y\n")
    code, _out, err = run(capsys, "changes", tmp_path / "base.config", frag,
                          "--tree", TREES / "depends")
    assert code == 1
    one_line(err, "baseline", "does not exist")


# -- the real command and its help ---------------------------------------------------------------
def test_the_real_command_keeps_stdout_for_the_fragment(tmp_path):
    bad = write(tmp_path / "bad.config", "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_X is not set\n")
    proc = subprocess.run([sys.executable, "-m", "ltobisect", "changes", "allnoconfig", str(bad),
                           "--tree", str(TREES / "depends")], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0
    assert proc.stdout == "CONFIG_A=y\nCONFIG_B=y\n"
    assert proc.stderr == f"ltobisect: 2 changes between allnoconfig and {bad}\n"


def test_help_has_examples(capsys):
    for command, needles in (("changes", ["ltobisect changes tinyconfig bad.config --tree linux"]),
                             ("resolve", ["APPENDED", "make O=out ARCH=x86_64 LLVM=-16 olddefconfig", "--explain",
                                          "ltobisect resolve tinyconfig min-x86/fragment.config"])):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args([command, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and "--arch" in out and "--make" in out, command
        for needle in needles:
            assert needle in out, (command, needle)
    code, out, _err = run(capsys, "--help")
    assert code == 0
    assert "ltobisect changes tinyconfig bad.config" in out
    assert "ltobisect resolve tinyconfig all.config" in out


def test_resolve_reads_a_fragment_from_a_pipe(tmp_path):
    """`ltobisect resolve allnoconfig <(echo CONFIG_C2=y)`: the fragment is read once, so a pipe
    (which a second read would find empty) gives the same .config as a file."""
    tree = TREES / "choice"
    script = f'"{sys.executable}" -m ltobisect resolve allnoconfig <(printf "CONFIG_C2=y\\n") --tree "{tree}"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    got = parse_config(proc.stdout)
    assert (got["C1"], got["C2"]) == ("n", "y")
    assert "1 change, all applied" in proc.stderr


def test_changes_reads_a_bad_config_from_a_pipe(tmp_path):
    """`ltobisect changes allnoconfig <(...)`: the bad config is read once, as the fragment is."""
    tree = TREES / "choice"
    script = (f'"{sys.executable}" -m ltobisect changes allnoconfig '
              f'<(printf "CONFIG_A=y\\nCONFIG_C3=y\\n") --tree "{tree}"')
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert "CONFIG_A=y" in proc.stdout.splitlines() and "CONFIG_C3=y" in proc.stdout.splitlines()
