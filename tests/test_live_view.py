"""The live view as a tester at a terminal sees it: narrow widths, signatures that keep their
symbol and file, English counts, and the report printed plain after the view ends.

The last tests run `ltobisect demo` for real on a pseudo-terminal of 80x24 and replay what it
wrote through a small terminal model (:class:`Screen`), so they see the screen a user sees: the
report without a box, one frame (no second top border after a Ctrl-C, whose ``^C`` the terminal
echoes right after the frame), the path of report.txt.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from ltobisect.events import (
    BestImproved,
    CacheHit,
    Message,
    PhaseStarted,
    SessionFinished,
    StrategyStarted,
    TestFinished,
    TestStarted,
)
from ltobisect.textfit import fit_changes, plural, shorten
from ltobisect.ui.live import RichReporter

REPO = Path(__file__).resolve().parent.parent
LLD = "ld.lld: error: undefined symbol: foo_bar >>> referenced by drivers/x/y.c"
LD = "ld: undefined reference to 'trace_net_queue_packet' (link-error)"
DEEP = ("ld.lld: error: undefined symbol: __sanitizer_cov_trace_pc >>> referenced by "
        "drivers/gpu/drm/amd/display/dc/core/dc_link.c")
SIGNATURES = [
    LLD, LD, DEEP,
    "ld.lld: undefined symbol: ltobisect_planted_lto_missing (link-error)",
    "clang: unused variable 'unused_total' [-Werror,-Wunused-variable] [lib/warn.c] (compile-error)",
    "ld: relocation truncated to fit: R_X86_64_PLT32 against symbol 'far_func' defined in "
    ".far.text section in lib/big.o [lib/bigread.o] (link-error)",
    "clang crashed in the front end (current parser token 'pragma'): illegal instruction [fs/fhandle.c] (crash)",
    "ld.lld crashed in regular LTO optimization: LLVM ERROR: Broken module found (inlinable function call "
    "in a function with debug info must have a !dbg location) [vmlinux.o] (crash)",
    "killed by signal 9 (Killed) [fs/open.o] (killed)",
    "gcc: 'undeclared_limit' undeclared (first use in this function) [gen.c] (compile-error)",
]
BOX = re.compile("[│╭╰╮╯─]")


# -- shortening a signature ------------------------------------------------------------------

def test_a_signature_that_fits_is_left_alone():
    assert shorten(LD, 80) == LD
    assert shorten("ld:  undefined   reference", 80) == "ld: undefined reference"


def test_generic_prefixes_go_first():
    assert shorten(LLD, 60) == "ld.lld: error: undefined symbol: foo_bar [drivers/x/y.c]"
    assert shorten(LLD, 45) == "undefined symbol: foo_bar [drivers/x/y.c]"
    assert shorten(LD, 60) == "ld: undefined reference to 'trace_net_queue_packet'"
    assert shorten(LD, 47) == "undefined reference to 'trace_net_queue_packet'"
    flags = shorten(SIGNATURES[4], 50)
    assert flags == "unused variable 'unused_total' [lib/warn.c]"


def test_then_the_middle_of_paths_not_the_symbol():
    assert shorten(DEEP, 70) == "undefined symbol: __sanitizer_cov_trace_pc [drivers/…/core/dc_link.c]"
    assert shorten(DEEP, 60) == "undefined symbol: __sanitizer_cov_trace_pc […/dc_link.c]"
    # Then the words before the symbol, never the symbol itself while it fits.
    assert shorten(DEEP, 41) == "… __sanitizer_cov_trace_pc […/dc_link.c]"
    assert shorten(LD, 41) == "undefined … 'trace_net_queue_packet'"
    assert shorten(LLD, 30) == "undefined … foo_bar […/y.c]"


def test_a_message_that_holds_a_signature_keeps_its_symbol():
    msg = ("the bad config fails: ld: undefined reference to 'trace_net_queue_packet' "
           "(link-error); tests time out after 0:30")
    assert shorten(msg, 74) == "the bad config fails: undefined reference to 'trace_net_queue_packet' …"
    assert "'trace_net_queue_packet'" in shorten(msg, 40)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SIGNATURES), st.integers(min_value=1, max_value=140))
def test_shorten_always_fits_and_keeps_the_symbol_while_it_can(sig, width):
    out = shorten(sig, width)
    assert cell_len(out) <= width
    symbol = {LLD: "foo_bar", LD: "'trace_net_queue_packet'",
              DEEP: "__sanitizer_cov_trace_pc"}.get(sig)
    if symbol and width >= len(symbol) + 16:
        assert symbol in out, (width, out)


def test_counts_read_as_english():
    assert plural(1, "change") == "1 change" and plural(2, "change") == "2 changes"
    assert plural(0, "cache hit") == "0 cache hits" and plural(1, "build") == "1 build"
    assert plural(1, "worker") == "1 worker" and plural(3, "worker") == "3 workers"


def test_the_best_result_is_fitted_with_a_count_of_the_rest():
    three = ["CONFIG_NET_SCHED=y", "CONFIG_NET_SCHED_STATS=y", "CONFIG_TRACEPOINTS=y"]
    assert fit_changes(three, 80) == "  ".join(three)
    assert fit_changes(three, 50) == "NET_SCHED=y  NET_SCHED_STATS=y  TRACEPOINTS=y"
    assert fit_changes(three, 40) == "NET_SCHED=y  NET_SCHED_STATS=y  +1 more"
    assert fit_changes(three, 30) == "NET_SCHED=y  +2 more"


# -- frames at 80 and 60 columns -------------------------------------------------------------

def events() -> list:
    t = time.time() - 60  # a minute into the session
    sig = "ld.lld: undefined symbol: ltobisect_planted_lto_missing (link-error)"
    return [
        PhaseStarted("confirming", "135 changes against /home/tester/linux/configs/tinyconfig",
                     at=t),
        TestStarted(slot=0, digest="a" * 32, size=135, label="bad config", at=t + 1),
        # -- the first result:
        TestFinished(slot=0, digest="a" * 32, size=135, verdict="other-failure", duration=1.6,
                     signature=sig, at=t + 2.6),
        PhaseStarted("searching", "default", at=t + 3),
        StrategyStarted("default", size=135, total=135, at=t + 3),
        TestStarted(slot=0, digest="b" * 32, size=1, label="bisect", at=t + 3),
        TestStarted(slot=1, digest="c" * 32, size=67, label="bisect", at=t + 3),
        TestFinished(slot=1, digest="c" * 32, size=67, verdict="other-failure", duration=1.5,
                     signature="clang: unused variable 'unused_total' [-Werror,-Wunused-variable]"
                               " [drivers/gpu/drm/amd/display/dc/core/dc.c] (compile-error)",
                     at=t + 4.5),
        CacheHit(digest="b" * 32, size=68, verdict="reproduces", at=t + 5),
        BestImproved(size=3, total=135, changes=("CONFIG_NET_SCHED=y", "CONFIG_TRACEPOINTS=y",
                                                  "CONFIG_NET_SCHED_STATS=y"), at=t + 6),
    ]


def frame(width: int, evs: list, stopping: bool = False) -> List[str]:
    out = io.StringIO()
    rep = RichReporter(out, workers=2)
    rep.console = Console(file=out, width=width, highlight=False)
    rep.state.started = evs[0].at
    for ev in evs:
        rep.event(ev)
    if stopping:
        rep.stopping()
        rep.event(Message("warning", "stopping: killing the running builds and saving the best "
                                     "result so far; press Ctrl-C again to kill"))
    rep.console.print(rep.render())
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 60])
def test_frame_fits_the_terminal_and_shows_the_symbol(width):
    lines = frame(width, events())
    text = "\n".join(lines)
    # Two columns to spare: the ^C a terminal echoes after the frame must not wrap.
    assert all(cell_len(line) <= width - 2 for line in lines), text
    assert "ltobisect_planted_lto_missing" in text  # the failure row keeps the symbol
    assert "'unused_total'" in text and "dc.c" in text  # the other failure: symbol and file
    assert "ld.lld: error:" not in text
    assert "1 change " in text and "1 changes" not in text  # worker 0 tests one change
    assert "1 cache hit," in text
    assert "NET_SCHED=y" in text


@pytest.mark.parametrize("width", [80, 60])
def test_no_unlabelled_rows_before_the_first_result(width):
    for n in (1, 2):  # the session has started; the bad config is building
        lines = frame(width, events()[:n])
        rows = [line.strip("│ ") for line in lines[1:-1]]
        assert rows and all(rows), lines  # no empty row
        labels = ("phase ", "builds ", "workers ", "worker 0 ", "worker 1 ")
        assert all(r.startswith(labels) for r in rows), lines
        assert "last verdicts" not in "\n".join(lines) and "failure" not in "\n".join(lines)
    confirming = frame(80, events()[:2])[1]
    assert "135 changes against" in confirming and "tinyconfig" in confirming


def test_the_stopping_message_is_shown_once():
    text = "\n".join(frame(80, events(), stopping=True))
    assert text.count("stopping (Ctrl-C again kills)") == 1
    assert text.count("stopping: killing the running builds") == 1


def test_the_last_frame_counts_as_the_report_does(tmp_path):
    """The view tallied the bad config's build as "fails" (1 fails, 20 reproduces) where the
    report, from the journal, says 21 reproduces: a finished session's summary.json settles it."""
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"counts": {"builds": 44, "cache_hits": 0, "verdicts": {
        "other-failure": 2, "passes": 21, "reproduces": 21}}}))
    evs = events() + [SessionFinished(status="minimized", exit_code=0,
                                      summary_path=str(summary), at=time.time())]
    text = "\n".join(frame(80, evs))
    assert "other-failure 2, passes 21, reproduces 21" in text, text
    assert "fails 1" not in text and "44 done" in text
    # A second search (--each-failure) counts on top of the first one's.
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"counts": {"builds": 3, "cache_hits": 1,
                                           "verdicts": {"passes": 1, "reproduces": 2}}}))
    text = "\n".join(frame(80, evs + [SessionFinished(status="minimized", exit_code=0,
                                                      summary_path=str(more), at=time.time())]))
    assert "other-failure 2, passes 22, reproduces 23" in text and "47 done" in text, text


def test_a_phase_note_gives_way_to_the_next_phase():
    """"the bad config fails: ..." was the view's last line for the whole search."""
    t = time.time()
    note = Message("info", "the bad config fails: ld: undefined reference to 'x' (link-error); "
                           "tests time out after 30 s", at=t)
    warning = Message("warning", "the kernel's conf built another config", at=t)
    first = events()[:3] + [note, warning]
    assert "the bad config fails" in "\n".join(frame(80, first))
    later = "\n".join(frame(80, first + events()[3:]))
    assert "the bad config fails" not in later and "the kernel's conf built" in later
    assert later.splitlines()[-2].strip("│ ").startswith(("warning", "reproduces", "other"))
    each = "\n".join(frame(80, events() + [Message("info", "failure 2 of 3", at=t)]))
    assert "failure 2/3" in each and "failure 2 of 3" not in each


def test_finish_stops_the_view_once_and_prints_the_report_plain():
    out = io.StringIO()
    rep = RichReporter(out, workers=2)
    rep.console = Console(file=out, width=80, force_terminal=True, force_interactive=True)
    with rep:
        for ev in events():
            rep.event(ev)
    rep.close()  # again: nothing more is drawn
    report = ("ld.lld: error: undefined symbol: foo_bar\n\nMinimal fragment: 1 of 135 changes\n\n"
              "  CONFIG_FOO=y\n")
    rep.finish("minimized", 0, report)
    text = out.getvalue()
    after = text[text.index("ld.lld: error: undefined symbol: foo_bar"):]
    assert after.startswith(report)  # as report.txt holds it: no box, no colour codes
    assert not BOX.search(after)
    assert "minimized" in after.splitlines()[-1]


# -- the real command on a pseudo-terminal ---------------------------------------------------

class Screen:
    """What a terminal of ``width`` x ``height`` shows after some output, with its scrollback:
    printable characters, CR, LF, line wrap (with the pending wrap of the last column), and the
    CSI sequences rich's live view uses (cursor up/down, erase in line); colours are ignored."""

    CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")

    def __init__(self, width: int = 80, height: int = 24) -> None:
        self.width, self.height = width, height
        self.rows: List[List[str]] = [[]]
        self.row = self.col = 0
        self.pending = False  # the last column was written: the next character wraps first

    def feed(self, data: str) -> None:
        # C0 controls other than CR, LF and BS do nothing on a terminal, also in the middle of
        # an escape sequence (ECMA-48 executes them there): ETX is the raw Ctrl-C a terminal
        # echoes when control keys are not shown as ``^C``, and it can land anywhere.
        data = re.sub(r"[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f]", "", data)
        pos = 0
        for m in self.CSI.finditer(data):
            self._text(data[pos:m.start()])
            if m.group(2):
                self._csi(m.group(1), m.group(2))
            pos = m.end()
        self._text(data[pos:])

    def _line(self) -> List[str]:
        while len(self.rows) <= self.row:
            self.rows.append([])
        return self.rows[self.row]

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\r":
                self.col, self.pending = 0, False
            elif ch == "\n":
                self.row, self.pending = self.row + 1, False
                self._line()
            elif ch == "\b":
                self.col, self.pending = max(0, self.col - 1), False
            elif ch >= " ":
                if self.pending:
                    self.row, self.col, self.pending = self.row + 1, 0, False
                line = self._line()
                line.extend(" " * (self.col + 1 - len(line)))
                line[self.col] = ch
                if self.col == self.width - 1:
                    self.pending = True
                else:
                    self.col += 1

    def _csi(self, args: str, op: str) -> None:
        if args.startswith("?") or op not in "ABCDGK":
            return  # colours, cursor visibility: nothing that moves or erases
        n = int(args.split(";")[0] or 1) if op in "ABCDG" else int(args or 0)
        top = max(0, len(self.rows) - self.height)  # the cursor cannot leave the screen
        self.pending = False
        if op == "A":
            self.row = max(top, self.row - n)
        elif op == "B":
            self.row += n
        elif op == "C":
            self.col = min(self.width - 1, self.col + n)
        elif op == "D":
            self.col = max(0, self.col - n)
        elif op == "G":
            self.col = n - 1
        elif op == "K":
            line = self._line()
            if n == 2:
                line.clear()
            elif n == 0:
                del line[self.col:]

    def lines(self) -> List[str]:
        return ["".join(r).rstrip() for r in self.rows]


def run_on_pty(args: List[str], cwd: Path, press_ctrl_c_after: Optional[str] = None,
               timeout: float = 240, lflags: Optional[list] = None) -> tuple:
    """Run ltobisect on a new 80x24 pseudo-terminal, as its controlling terminal; return the exit
    code and everything it wrote. With ``press_ctrl_c_after``, type Ctrl-C once that text shows;
    ``lflags`` gets the terminal's local modes as ltobisect left them."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env.update(TERM="xterm", COLUMNS="80", LINES="24", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "ltobisect", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    chunks: List[bytes] = []
    deadline = time.monotonic() + timeout
    pressed = press_ctrl_c_after is None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not data:
                    break
                chunks.append(data)
                if not pressed and press_ctrl_c_after.encode() in b"".join(chunks[-3:]):
                    os.write(master, b"\x03")  # the terminal sends SIGINT and echoes ^C
                    pressed = True
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail(f"ltobisect {' '.join(args)} did not finish in {timeout:.0f} s")
        code = proc.wait(timeout=30)
        if lflags is not None:
            lflags.append(termios.tcgetattr(master)[3])
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


needs_make_and_cc = pytest.mark.needs("cc", "make")


def top_borders(lines: List[str]) -> int:
    return sum(1 for line in lines if line.startswith("╭─ ltobisect demo"))


@needs_make_and_cc
def test_demo_on_a_terminal_ends_with_the_report_in_plain_text(tmp_path):
    code, raw = run_on_pty(["demo", str(tmp_path / "demo"), "--workers", "2"], cwd=tmp_path)
    screen = Screen()
    screen.feed(raw)
    lines = screen.lines()
    text = "\n".join(lines)
    assert code == 0, text
    assert "Traceback" not in raw
    state = tmp_path / "demo" / "state"
    # During the run the live view showed the failure's symbol, not a cut "ld: undefined…".
    plain = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    assert re.search(r"│ failure +(ld: )?undefined reference to 'trace_net_queue_packet'", plain)
    assert top_borders(lines) == 1, text  # one frame, drawn in place

    # After the frame: the report, line for line as report.txt holds it, with no box.
    bottom = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    after = lines[bottom + 1:]
    report = [line.rstrip() for line in (state / "report.txt").read_text().splitlines()]
    shown = [line for line in report if line and cell_len(line) <= 80]
    assert shown and "CONFIG_NET_SCHED_STATS=y" in "\n".join(shown)
    it = iter(after)
    assert all(any(row == line for row in it) for line in shown), "\n".join(after)
    report_rows = [row for row in after if row in set(shown)]
    assert not any(BOX.search(row) for row in report_rows)
    # Then the paths a user opens next (wrapped at 80 columns by the terminal).
    joined = "".join(after)
    assert f"ltobisect: report {state / 'report.txt'}" in joined
    assert "minimized (exit 0)" in after


@needs_make_and_cc
def test_ctrl_c_on_a_terminal_leaves_one_frame_and_one_stopping_message(tmp_path):
    modes: list = []
    code, raw = run_on_pty(["demo", str(tmp_path / "demo"), "--workers", "2"], cwd=tmp_path,
                           press_ctrl_c_after="best so far", lflags=modes)
    screen = Screen()
    screen.feed(raw)
    lines = screen.lines()
    text = "\n".join(lines)
    assert code == 3, text
    # The view keeps the terminal from echoing ^C (the echo lands where the cursor is, and
    # mid-redraw it pushed every later frame down a line), and gives the echo back at exit.
    assert "^C" not in raw
    assert modes and modes[0] & termios.ECHOCTL
    assert top_borders(lines) == 1, text
    assert text.count("stopping: killing the running builds") == 1, text
    assert "*** PARTIAL RESULT" in text
    joined = "".join(lines[max(i for i, line in enumerate(lines) if line.startswith("╰")) + 1:])
    assert f"ltobisect resume {tmp_path / 'demo' / 'state'}" in joined
    assert f"report {tmp_path / 'demo' / 'state' / 'report.txt'}" in joined
