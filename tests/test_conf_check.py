"""The build's own conf as a safety net: builds where it made another config of ours are named.

Sessions run the real kernel oracle on a copy of the fake kernel tree (tests/fakelinux) with a
small Kconfig of their own. The fake tree runs a "conf" before every build
(scripts/fake-conf.sh) that turns off the symbols ``CONFIG_CONF_DROPS`` names, as the kernel's
conf does with a symbol whose dependencies it finds unmet; here ``CONF_DROPS`` is a promptless
string whose default each test chooses, so it is in every config and is never a change.

A fixed strategy makes the builds known in advance: the bad config (observed), the baseline,
the strategy's candidates, two verification rebuilds of the result and one 1-minimality
re-check (the result minus its one change: the baseline).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

from ltobisect.store import journal as jr
from ltobisect.confcheck import check_build, compare
from ltobisect.config import BuildSpec, RetryPolicy, SessionConfig
from ltobisect.events import ListReporter, Message
from ltobisect.kconfig import digest
from ltobisect.model import ConfDisagreement
from ltobisect.model import Label
from ltobisect.conductor.session import Session

from schema_support import read_summary

FAKE = Path(__file__).parent / "fakelinux"

KCONFIG = """mainmenu "fake linux with a conf of its own"

config LINK_ERROR
	bool "planted link error"

config OPT1
	bool "option 1"

config OPT2
	bool "option 2"

config OPT3
	bool "option 3"

config HELPER
	bool
	default y if LINK_ERROR

config CONF_DROPS
	string
	default "{drops}"
"""


# -- comparing two configs ---------------------------------------------------------------------
def test_only_settings_count_not_headers_order_or_unset_lines() -> None:
    ours = "# ours\nCONFIG_A=y\nCONFIG_S=\"x\"\n# CONFIG_B is not set\n"
    assert compare(ours, ours) is None
    assert compare(ours, "#\n# conf's header\n#\nCONFIG_S=\"x\"\nCONFIG_A=y\n") is None
    got = compare(ours, "CONFIG_A=m\nCONFIG_B=y\nCONFIG_S=\"\"\nCONFIG_N=0x10\n")
    assert got == ConfDisagreement(
        digest("CONFIG_A=m\nCONFIG_B=y\nCONFIG_S=\"\"\nCONFIG_N=0x10\n"),
        ("CONFIG_A: ours y, conf m", "CONFIG_B: ours n, conf y", "CONFIG_N: ours n, conf 0x10",
         'CONFIG_S: ours x, conf ""'), 4)


def test_at_most_twenty_symbols_are_kept_and_all_are_counted(tmp_path: Path) -> None:
    ours = "".join(f"CONFIG_S{i:02d}=y\n" for i in range(30))
    got = compare(ours, "")
    assert got is not None and got.total == 30 and len(got.symbols) == 20
    assert got.symbols[0] == "CONFIG_S00: ours y, conf n"
    assert got.describe(2) == "CONFIG_S00: ours y, conf n; CONFIG_S01: ours y, conf n; and 28 more"
    # A build that left no .config (it stopped before conf) is not compared.
    assert check_build(tmp_path / "missing" / ".config", ours) is None


# -- whole sessions ----------------------------------------------------------------------------
class Fixed:
    """A strategy that considers the given candidates (by symbol name), in order."""

    name = "fixed"

    def __init__(self, *candidates: str) -> None:
        self.candidates = [set(c.split()) for c in candidates]

    def run(self, problem) -> None:
        problem.label = self.name
        for names in self.candidates:
            problem.consider({c for c in problem.changes if c.name in names})


def run_session(tmp_path: Path, drops: str, *candidates: str):
    tree = tmp_path / "tree"
    shutil.copytree(FAKE, tree)
    (tree / "Kconfig").write_text(KCONFIG.format(drops=drops))
    (tree / "bad.config").write_text("CONFIG_LINK_ERROR=y\nCONFIG_OPT1=y\nCONFIG_OPT2=y\nCONFIG_OPT3=y\n")
    state = tmp_path / "state"
    config = SessionConfig(bad_config=tree / "bad.config", state_dir=state, baseline="defconfig",
                           build=BuildSpec(tree=tree, sandbox="none", jobs=1),
                           retry=RetryPolicy(attempts=2, initial_wait=0.001, max_wait=0.01))
    rep = ListReporter()
    result = Session(config, rep, strategy=Fixed(*candidates)).run()
    assert result.status == "minimized", result.message
    assert result.fragment == ("CONFIG_LINK_ERROR=y",)
    summary = read_summary(state / "summary.json")
    conf_warnings = [m.text for m in rep.of(Message) if m.level == "warning" and "kernel's conf" in m.text]
    return state, summary, conf_warnings, (state / "report.txt").read_text()


def records(state: Path) -> List[jr.JournalRecord]:
    return jr.Journal(state / jr.JOURNAL_FILE).records(copies=True)


def test_conf_dropping_a_symbol_of_the_bad_config_only_is_named_once(tmp_path: Path) -> None:
    state, summary, warnings, report = run_session(tmp_path, "OPT3", "LINK_ERROR OPT1", "LINK_ERROR")
    # The bad config's build: its record says conf built another config, and which.
    (bad,) = [r for r in records(state) if r.label == "bad config" and not r.is_copy]
    settings = 'CONFIG_LINK_ERROR=y\nCONFIG_OPT1=y\nCONFIG_OPT2=y\n{}\nCONFIG_HELPER=y\nCONFIG_CONF_DROPS="OPT3"\n'
    assert bad.digest == digest(settings.format("CONFIG_OPT3=y"))
    built = digest(settings.format("# CONFIG_OPT3 is not set"))
    assert bad.outcome.conf == ConfDisagreement(built, ("CONFIG_OPT3: ours y, conf n",), 1)
    (copy,) = [r for r in records(state) if r.is_copy]
    assert (copy.digest, copy.built_for, copy.label) == (built, bad.digest, "bad config")
    assert summary["conf_disagreements"] == 1
    assert summary["conf_disagreement_symbols"] == ["CONFIG_OPT3: ours y, conf n"]
    assert summary["best_conf_disagreement"] is None
    assert len(warnings) == 1 and "CONFIG_OPT3: ours y, conf n" in warnings[0]
    # The result was built as we resolved it: no warning in the report, one line in Search.
    assert "WARNING" not in report
    assert ("the kernel's conf built another config than ours in 1 build: CONFIG_OPT3: ours y, "
            "conf n flaky: none observed") in " ".join(report.split())


def test_several_disagreeing_builds_warn_once_and_a_conf_built_config_is_not_built_again(tmp_path: Path) -> None:
    state, summary, warnings, report = run_session(tmp_path, "OPT1", "LINK_ERROR OPT1 OPT2",
                                                   "LINK_ERROR OPT1", "LINK_ERROR")
    recs = records(state)
    disagreed = [r for r in recs if r.outcome.conf is not None and r.label != Label.DERIVED]
    # The bad config, {LINK_ERROR, OPT1, OPT2} and {LINK_ERROR, OPT1}: all have OPT1 on.
    assert [r.label for r in disagreed] == ["bad config", "fixed", "fixed"]
    assert all(r.outcome.conf.symbols == ("CONFIG_OPT1: ours y, conf n",) for r in disagreed)
    # conf made {LINK_ERROR} of {LINK_ERROR, OPT1}: asking for {LINK_ERROR} next was answered by
    # that build's copy, so {LINK_ERROR} was first built by verification.
    last = disagreed[-1]
    first_of_built = [r for r in recs if r.digest == last.outcome.conf.built_digest]
    assert first_of_built[0].built_for == last.digest and first_of_built[1].label == "verify"
    assert summary["counts"]["builds"] == 7  # bad, baseline, 2 candidates, 2 verify, 1 recheck
    assert summary["conf_disagreements"] == 3
    assert summary["conf_disagreement_symbols"] == ["CONFIG_OPT1: ours y, conf n"]
    assert summary["best_conf_disagreement"] is None
    assert len(warnings) == 1 and "CONFIG_OPT1: ours y, conf n" in warnings[0]
    assert "WARNING" not in report


def test_a_result_built_with_a_disagreement_is_flagged_loudly_in_the_report(tmp_path: Path) -> None:
    state, summary, warnings, report = run_session(tmp_path, "HELPER", "LINK_ERROR OPT1", "LINK_ERROR")
    # Every build with LINK_ERROR on has HELPER=y in our resolution, which conf turns off: the
    # bad config, both candidates and both verification rebuilds.
    assert summary["conf_disagreements"] == 5
    assert summary["conf_disagreement_symbols"] == ["CONFIG_HELPER: ours y, conf n"]
    best = summary["best_conf_disagreement"]
    assert best["symbols"] == ["CONFIG_HELPER: ours y, conf n"] and best["total"] == 1
    assert best["built_digest"] != summary["best_digest"]
    assert len(warnings) == 1
    lines = report.splitlines()
    at = lines.index("*** WARNING: the fragment is not exact for the kernel's conf: building the")
    assert lines[at + 1:at + 3] == ["    result, conf made another config of it (differing from ours in 1 setting):",
                                    "    CONFIG_HELPER: ours y, conf n"]
    assert at < lines.index("Minimal fragment: 1 of 4 changes against defconfig (verified, 2 rebuilds):")
    assert all(len(line) <= 80 for line in lines)


def test_a_session_where_conf_agrees_reports_none(tmp_path: Path) -> None:
    state, summary, warnings, report = run_session(tmp_path, "", "LINK_ERROR OPT1", "LINK_ERROR")
    assert summary["conf_disagreements"] == 0
    assert summary["conf_disagreement_symbols"] == []
    assert summary["best_conf_disagreement"] is None
    assert warnings == []
    assert not any(r.outcome.conf or r.is_copy for r in records(state))
    assert "WARNING" not in report and "kernel's conf" not in report
