"""How a session is shown: a live view on a terminal, log lines in a pipe, JSON lines for machines.

The core emits :mod:`ltobisect.events` values and never imports a UI library; this module is the
only one that imports rich. Three reporters implement the :class:`~ltobisect.events.Reporter`
protocol:

- :class:`RichReporter`: a live view that redraws in place (phase, strategy, the failure, changes
  left, builds per worker, cache hits, the last verdicts with their signature, elapsed time and
  an ETA), then the final report as plain text.
- :class:`PlainReporter`: one timestamped line per event, nothing that redraws (logs, CI).
- :class:`JsonReporter`: one JSON object per line for every event, and the summary at the end.

This module holds the live view's drawing (its state, folded from events without rich, is
:mod:`ltobisect.ui.view`), :func:`shorten`, which fits a failure signature or a message into a narrow column without losing
the symbol and the file) and :func:`pick_reporter`; the two line reporters live in
:mod:`ltobisect.ui.plain` and are importable from here. When the live view ends, the report is
printed as the plain text of report.txt, to be pasted into a mail as it is.

Every reporter is also a context manager (``with reporter: session.run()``) and has
:meth:`finish`, which shows the outcome once the session has returned. A reporter never raises
into the core: a broken pipe or a rendering error is swallowed after the first occurrence.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional

from rich.cells import cell_len
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


from ltobisect.events import Event, SessionFinished, TestStarted
from ltobisect.model import Phase, Verdict
from ltobisect.ui.terminal import quiet_control_echo
from ltobisect.textfit import fit_changes, plural, shorten
from ltobisect.ui.plain import FAILS, JsonReporter, PlainReporter, ReporterBase, fmt_duration
from ltobisect.ui.view import Running, ViewState

__all__ = ["JsonReporter", "PlainReporter", "RichReporter", "pick_reporter", "plural", "read_text",
           "shorten"]

def verdict_style(verdict: str) -> str:
    """The colour of a verdict in the live view."""
    return {
        Verdict.REPRODUCES: "bold green",
        FAILS: "bold",
        Verdict.PASSES: "dim",
        Verdict.OTHER_FAILURE: "yellow",
        Verdict.TIMEOUT: "magenta",
        Verdict.OUT_OF_MEMORY: "magenta",
        Verdict.INFRA_ERROR: "red",
    }.get(verdict, "")


class RichReporter(ReporterBase):
    """The live view for a terminal, redrawn four times a second; at the end the report as plain
    text."""

    def __init__(self, stream: Optional[IO[str]] = None, workers: int = 1,
                 title: str = "ltobisect") -> None:
        super().__init__(stream)
        self.console = Console(file=self.stream, highlight=False)
        self.state = ViewState()
        self.workers = max(1, workers)
        self.title = title
        self._live = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "RichReporter":
        self.start()
        return self

    def start(self) -> None:
        """Begin redrawing in place."""
        if self._live is None:
            self._restore_echo = quiet_control_echo()
            self._live = Live(console=self.console, refresh_per_second=4,
                              get_renderable=self._safe_render, redirect_stderr=False)
            self._live.start()

    def close(self) -> None:
        """Stop redrawing, once: the last frame is drawn one final time and stays on screen."""
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except Exception:
                pass
        restore, self._restore_echo = getattr(self, "_restore_echo", None), None
        if restore is not None:
            restore()

    def event(self, ev: Event) -> None:
        """Fold the event into the view; warnings also scroll above it. A finished session's
        counts are taken from its summary.json (see :meth:`ViewState.settle`)."""
        counts = _summary_counts(ev.summary_path) if isinstance(ev, SessionFinished) else None
        with self._lock:
            self.state.apply(ev)
            if counts is not None:
                self.state.settle(counts)
            if isinstance(ev, TestStarted):
                self.workers = max(self.workers, ev.slot + 1)

    def stopping(self) -> None:
        """Ctrl-C was pressed once: say so in the view."""
        with self._lock:
            self.state.stopping = True

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None, **given: Any) -> None:
        """Stop the view, then print the report as report.txt holds it (no box, no colour: it
        pastes into a mail as it is) and one status line under it."""
        self.close()
        with self._lock:
            if report_text:
                self._write("")
                for line in report_text.rstrip("\n").splitlines():
                    self._write(line)
                self._write("")
        try:
            colour = {0: "green", 3: "yellow"}.get(exit_code, "red")
            self.console.print(Text.assemble((f"{status}", f"bold {colour}"),
                                             f" (exit {exit_code})"))
        except Exception:
            pass

    # -- drawing ---------------------------------------------------------------------------
    def _safe_render(self):
        try:
            with self._lock:
                return self.render()
        except Exception as exc:  # never let a drawing bug take the session down
            return Text(f"ltobisect: (view unavailable: {exc})")

    def frame_width(self) -> int:
        """The panel's width: two columns short of the terminal's, so that the ``^C`` the
        terminal echoes after the frame's last line does not wrap to a new line (which would
        shift every later redraw down by one and leave a second top border on screen)."""
        return max(30, min(self.console.width - 2, 120))

    def render(self) -> Panel:
        """The current frame (a rich renderable)."""
        st = self.state
        now = time.time()
        width = self.frame_width()
        inner = width - 4  # the panel's borders and padding
        parts: List = [self._head(now, inner), self._body(now, inner)]
        if st.recent:
            parts += [Text("last verdicts", style="dim"), self._recent(inner)]
        for m in st.messages:
            style = {"warning": "yellow", "error": "bold red"}.get(m.level, "dim")
            lead = "" if m.level == "info" else f"{m.level}: "
            parts.append(Text(lead + shorten(m.text, inner - cell_len(lead)), style=style,
                              overflow="ellipsis", no_wrap=True))
        return Panel(Group(*parts), title=self.title, title_align="left", width=width)

    def _head(self, now: float, inner: int) -> Table:
        """Phase (and what it is doing), strategy and step on the left; elapsed time and ETA on
        the right. What does not fit goes, the step first, then the word "strategy"."""
        st = self.state
        eta = st.eta(self.workers)
        right = Text.assemble(("elapsed ", "dim"), fmt_duration(now - st.started),
                              ("   ETA ", "dim"), f"~{fmt_duration(eta)}" if eta is not None else "-")
        room = inner - cell_len(right.plain) - 1
        stop = "  stopping (Ctrl-C again kills)" if st.stopping else ""
        searching = st.phase == Phase.SEARCHING
        strategy = (st.strategy or st.phase_detail) if searching else ""
        step = f" ({st.label})" if strategy and st.label and st.label != strategy else ""
        left = Text.assemble(("phase ", "dim"), (st.phase, "bold cyan"), (stop, "bold yellow"))
        if st.phase_detail and not searching and not stop:
            left.append(": " + shorten(st.phase_detail, max(8, room - cell_len(left.plain) - 2)))
        for tail in (("   strategy ", strategy, step), ("   strategy ", strategy, ""),
                     ("  ", strategy, ""), ("", "", "")):
            if not strategy or cell_len(left.plain + "".join(tail)) <= room:
                break
        if tail[1]:
            left.append(tail[0], style="dim")
            left.append(tail[1], style="bold")
            left.append(tail[2], style="dim")
        head = Table.grid(expand=True)
        head.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        head.add_column(justify="right", no_wrap=True)
        head.add_row(left, right)
        return head

    def _body(self, now: float, inner: int) -> Table:
        """The failure, changes left, builds, the verdict tally, one line per worker and the best
        result so far: every row labelled, and only once there is something to show."""
        st = self.state
        rows: List = []
        label_width = 12  # "changes left"
        room = inner - label_width - 1
        if st.failure:
            label = f"failure {st.part}" if st.part else "failure"
            rows.append((label, Text(shorten(st.failure, room))))
        if st.total:
            bar_width = max(10, inner // 3)
            bar = Table.grid(padding=(0, 1))
            bar.add_column(no_wrap=True)
            bar.add_column(width=bar_width)
            bar.add_row(Text(f"{st.size} of {st.total}", style="bold"),
                        ProgressBar(total=max(st.total, 1), completed=st.total - st.size,
                                    width=bar_width))
            rows.append(("changes left", bar))
        counts = Text(f"{st.builds} done, {len(st.running)} running, "
                      f"{plural(st.cache_hits, 'cache hit')}")
        mean = f", mean {st.mean_build:.1f}s" if st.mean_build is not None else ""
        if mean and cell_len(counts.plain + mean) <= room:  # the ETA holds it, when narrow
            counts.append(mean, style="dim")
        rows.append(("builds", counts))
        tally = ", ".join(f"{v} {n}" for v, n in sorted(st.verdicts.items()))
        if tally:
            rows.append(("verdicts", Text(tally)))
        if self.workers > 1:
            rows.append(("workers", Text(st.occupancy(self.workers))))
        for slot in range(self.workers):
            rows.append((f"worker {slot}", self._worker(st.running.get(slot), now, room)))
        if st.best_lines:
            rows.append(("best so far", Text(fit_changes(st.best_lines, room), style="green",
                                             no_wrap=True, overflow="ellipsis")))
        body = Table.grid(padding=(0, 1))
        body.add_column(style="dim", no_wrap=True, min_width=label_width)
        body.add_column()
        for label, value in rows:
            body.add_row(label, value)
        return body

    @staticmethod
    def _worker(run: Optional[Running], now: float, room: int) -> Text:
        """What one worker builds: size, digest, step and time, on one line (the digest goes
        first when it does not fit, then the step)."""
        if run is None:
            return Text("idle", style="dim")
        size, digest = plural(run.size, "change"), f" [{run.digest[:12]}]"
        step, took = f" {run.label}" if run.label else "", f"  {fmt_duration(now - run.started)}"
        for digest, step in ((digest, step), ("", step), ("", "")):
            if cell_len(size + digest + step + took) <= room:
                break
        return Text.assemble((size, "bold"), (digest, "dim"), step, (took, "dim"))

    def _recent(self, inner: int) -> Table:
        """The last finished tests, newest first; the signature gets the room the other columns
        leave (at 80 columns, the time each finished at goes first)."""
        st = self.state
        shown = list(reversed(st.recent))
        at = [fmt_duration(f.at - st.started) for f in shown]
        verdicts = [f.verdict for f in shown]
        times = ["cached" if f.cached else f"{f.duration:.1f}s" for f in shown]
        columns = [("verdict", verdicts, "left"), ("changes", [str(f.size) for f in shown], "right"),
                   ("time", times, "right")]
        if inner >= 90:
            columns.insert(0, ("at", at, "right"))
        used = sum(max(cell_len(h), *(cell_len(v) for v in vals)) + 1 for h, vals, _ in columns)
        room = max(10, inner - used)
        recent = Table(box=None, show_header=True, header_style="dim", pad_edge=False,
                       padding=(0, 1, 0, 0), expand=False)
        for header, _, justify in columns:
            recent.add_column(header, justify=justify, no_wrap=True)
        recent.add_column("signature", no_wrap=True, overflow="ellipsis", max_width=room)
        for i, f in enumerate(shown):
            cells = [Text(str(vals[i]), style=verdict_style(f.verdict) if header == "verdict" else "")
                     for header, vals, _ in columns]
            recent.add_row(*cells, Text(shorten(f.signature, room), style="dim"))
        return recent


def _summary_counts(path: Optional[str]) -> Optional[Dict[str, Any]]:
    """The ``counts`` of a summary.json, or None when it is missing or unreadable."""
    if not path:
        return None
    try:
        counts = json.loads(Path(path).read_text(encoding="utf-8")).get("counts")
    except (OSError, ValueError, AttributeError):
        return None
    return counts if isinstance(counts, dict) else None


def pick_reporter(json_lines: bool, stream: Optional[IO[str]] = None, workers: int = 1,
                  force_plain: bool = False, title: str = "ltobisect",
                  wording: Optional[Callable[[str], str]] = None) -> ReporterBase:
    """JSON lines when asked, the live view on a terminal, plain lines otherwise (``wording``:
    see :class:`JsonReporter`)."""
    stream = stream if stream is not None else sys.stdout
    if json_lines:
        return JsonReporter(stream, wording=wording)
    is_tty = False
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        pass
    if is_tty and not force_plain and os.environ.get("TERM", "") != "dumb":
        return RichReporter(stream, workers=workers, title=title)
    return PlainReporter(stream)


def read_text(path: Optional[str | Path]) -> str:
    """The text of an artifact, or '' when it is missing (the outcome line still shows)."""
    if not path:
        return ""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""
