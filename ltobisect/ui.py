"""How a session is shown: a live view on a terminal, log lines in a pipe, JSON lines for machines.

The core emits :mod:`ltobisect.events` values and never imports a UI library; this module is the
only one that imports rich. Three reporters implement the :class:`~ltobisect.events.Reporter`
protocol:

- :class:`RichReporter`: a live view that redraws in place (phase, strategy, changes left, builds
  per worker, cache hits, the last verdicts with their signature, elapsed time and an ETA), then
  the final report.
- :class:`PlainReporter`: one timestamped line per event, nothing that redraws (logs, CI).
- :class:`JsonReporter`: one JSON object per line for every event, and the summary at the end.

This module holds the live view (its state, folded from events without rich, and its drawing)
and :func:`pick_reporter`; the two line reporters live in :mod:`ltobisect.ui_plain` and are
importable from here.

Every reporter is also a context manager (``with reporter: session.run()``) and has
:meth:`finish`, which shows the outcome once the session has returned. A reporter never raises
into the core: a broken pipe or a rendering error is swallowed after the first occurrence.
"""
from __future__ import annotations

import collections
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Deque, Dict, List, Optional

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


from ltobisect.events import (
    BestImproved,
    CacheHit,
    Event,
    Message,
    PhaseStarted,
    SessionFinished,
    StrategyStarted,
    TestFinished,
    TestStarted,
)
from ltobisect.model import Phase, Verdict
from ltobisect.ui_plain import FAILS, JsonReporter, PlainReporter, ReporterBase, fmt_duration, shown_verdict

__all__ = ["JsonReporter", "PlainReporter", "RichReporter", "ViewState", "pick_reporter", "read_text"]

#: How many finished tests the live view lists.
RECENT = 6


@dataclass
class Running:
    """A test in progress on one worker."""

    digest: str
    size: int
    label: str
    started: float


@dataclass
class Finished:
    """A test result, as the live view lists it."""

    at: float
    slot: int
    size: int
    verdict: str
    duration: float
    signature: str
    cached: bool


@dataclass
class ViewState:
    """Everything the live view shows, folded from events (no rich, so it is easy to test)."""

    started: float = field(default_factory=time.time)
    phase: str = "starting"
    phase_detail: str = ""
    strategy: str = ""
    total: int = 0
    size: int = 0
    builds: int = 0
    cache_hits: int = 0
    build_seconds: float = 0.0
    verdicts: Dict[str, int] = field(default_factory=lambda: collections.Counter())
    running: Dict[int, Running] = field(default_factory=dict)
    recent: Deque[Finished] = field(default_factory=lambda: collections.deque(maxlen=RECENT))
    best_lines: tuple = ()
    messages: Deque[Message] = field(default_factory=lambda: collections.deque(maxlen=3))
    finished: Optional[SessionFinished] = None
    workers_seen: int = 1
    stopping: bool = False
    label: str = ""  # why the latest test runs: the strategy's step ("bisect", "ddmin"...)
    labels: Dict[str, str] = field(default_factory=dict)  # digest -> label of running tests

    def apply(self, ev: Event) -> None:
        """Fold one event into the state."""
        if isinstance(ev, PhaseStarted):
            self.phase, self.phase_detail = ev.phase, ev.detail
        elif isinstance(ev, StrategyStarted):
            self.strategy, self.size, self.total = ev.strategy, ev.size, ev.total
        elif isinstance(ev, TestStarted):
            self.running[ev.slot] = Running(ev.digest, ev.size, ev.label, ev.at)
            self.workers_seen = max(self.workers_seen, ev.slot + 1)
            self.labels[ev.digest] = ev.label
            if ev.label and self.phase == Phase.SEARCHING:
                self.label = ev.label
        elif isinstance(ev, TestFinished):
            self.running.pop(ev.slot, None)
            verdict = shown_verdict(ev.verdict, self.labels.pop(ev.digest, ""))
            if ev.cached:
                self.cache_hits += 1
            else:
                self.builds += 1
                self.build_seconds += ev.duration
                self.verdicts[verdict] += 1
            self.recent.append(
                Finished(ev.at, ev.slot, ev.size, verdict, ev.duration, ev.signature, ev.cached)
            )
        elif isinstance(ev, CacheHit):
            self.cache_hits += 1
            self.recent.append(Finished(ev.at, -1, ev.size, ev.verdict, 0.0, "", True))
        elif isinstance(ev, BestImproved):
            self.size, self.total = ev.size, ev.total
            self.best_lines = tuple(ev.changes)
        elif isinstance(ev, Message):
            self.messages.append(ev)
        elif isinstance(ev, SessionFinished):
            self.finished = ev
            self.phase, self.phase_detail = ev.status, ""
            self.running.clear()

    @property
    def mean_build(self) -> Optional[float]:
        return self.build_seconds / self.builds if self.builds else None

    def eta(self, workers: int) -> Optional[float]:
        """A rough time to finish: builds still expected x mean build time / workers.

        A delta-debugging search over ``s`` changes that ends with ``k`` culprits needs about
        ``k * log2(s)`` tests plus ``k`` to check 1-minimality; with ``k`` unknown we take 2 (the
        usual size of a config bug) and add the verification builds. ``None`` before the first
        build has given a mean.
        """
        mean = self.mean_build
        if mean is None:
            return None
        if self.phase in (Phase.LOADING, Phase.CONFIRMING, "starting"):
            remaining = 2 + 2 * math.log2(max(self.total, 2)) * 2
        elif self.phase == Phase.SEARCHING:
            s = max(self.size, 2)
            remaining = 2 * math.log2(s) * 2 + 2 + 2
        elif self.phase == Phase.VERIFYING:
            remaining = 2
        else:
            return 0.0
        return remaining * mean / max(1, workers)


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
    """The live view for a terminal, redrawn four times a second, and the report at the end."""

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
            self._live = Live(console=self.console, refresh_per_second=4,
                              get_renderable=self._safe_render, redirect_stderr=False)
            self._live.start()

    def close(self) -> None:
        """Stop redrawing; the last frame stays on screen."""
        live, self._live = self._live, None
        if live is not None:
            try:
                live.refresh()
                live.stop()
            except Exception:
                pass

    def event(self, ev: Event) -> None:
        """Fold the event into the view; warnings also scroll above it."""
        with self._lock:
            self.state.apply(ev)
            if isinstance(ev, TestStarted):
                self.workers = max(self.workers, ev.slot + 1)

    def stopping(self) -> None:
        """Ctrl-C was pressed once: say so in the view."""
        with self._lock:
            self.state.stopping = True

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None) -> None:
        """Stop the view and show the report in a panel, with one status line under it."""
        self.close()
        try:
            if report_text:
                self.console.print(Panel(Text(report_text.rstrip("\n")), title="report",
                                         title_align="left", expand=False))
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

    def render(self) -> Panel:
        """The current frame (a rich renderable)."""
        st = self.state
        now = time.time()
        width = max(40, min(self.console.width, 120))
        parts: List = [self._head(now), self._body(now, width)]
        if st.recent:
            parts += [Text("last verdicts", style="dim"), self._recent(width)]
        if st.best_lines:
            parts.append(Text("best so far: " + "  ".join(st.best_lines), style="green",
                              overflow="ellipsis", no_wrap=True))
        for m in st.messages:
            style = {"warning": "yellow", "error": "bold red"}.get(m.level, "dim")
            parts.append(Text(("" if m.level == "info" else f"{m.level}: ") + m.text, style=style,
                              overflow="ellipsis", no_wrap=True))
        return Panel(Group(*parts), title=self.title, title_align="left", width=width)

    def _head(self, now: float) -> Table:
        """Phase, strategy and step on the left; elapsed time and ETA on the right."""
        st = self.state
        elapsed = now - st.started
        eta = st.eta(self.workers)
        head = Table.grid(expand=True)
        head.add_column(ratio=1)
        head.add_column(justify="right")
        phase = Text(st.phase, style="bold cyan")
        if st.stopping:
            phase.append("  stopping (Ctrl-C again kills)", style="bold yellow")
        left = Text.assemble(("phase ", "dim"), phase)
        strategy = st.strategy or (st.phase_detail if st.phase == Phase.SEARCHING else "")
        if strategy:
            left.append("   strategy ", style="dim")
            left.append(strategy, style="bold")
            if st.label and st.label != strategy:
                left.append(f" ({st.label})", style="dim")
        eta_text = f"~{fmt_duration(eta)}" if eta is not None else "-"
        head.add_row(left, Text.assemble(("elapsed ", "dim"), fmt_duration(elapsed),
                                         ("   ETA ", "dim"), eta_text))
        return head

    def _body(self, now: float, width: int) -> Table:
        """Changes left, build counts, verdict tally and one line per worker."""
        st = self.state
        body = Table.grid(padding=(0, 1))
        body.add_column(style="dim", no_wrap=True)
        body.add_column()
        if st.total:
            bar = Table.grid(padding=(0, 1))
            bar.add_column(no_wrap=True)
            bar.add_column(width=max(10, width // 3))
            done = st.total - st.size
            bar.add_row(Text(f"{st.size} of {st.total}", style="bold"),
                        ProgressBar(total=max(st.total, 1), completed=done, width=max(10, width // 3)))
            body.add_row("changes left", bar)
        elif st.phase_detail:
            body.add_row("", Text(st.phase_detail))
        mean = st.mean_build
        counts = Text(f"{st.builds} done, {len(st.running)} running, {st.cache_hits} cache hits")
        if mean is not None:
            counts.append(f", mean {mean:.1f}s", style="dim")
        body.add_row("builds", counts)
        tally = ", ".join(f"{v} {n}" for v, n in sorted(st.verdicts.items()))
        if tally:
            body.add_row("verdicts", Text(tally))
        for slot in range(self.workers):
            run = st.running.get(slot)
            if run is None:
                line = Text("idle", style="dim")
            else:
                line = Text(f"{run.size} changes", style="bold")
                line.append(f" [{run.digest[:12]}]", style="dim")
                if run.label:
                    line.append(f" {run.label}")
                line.append(f"  {fmt_duration(now - run.started)}", style="dim")
            body.add_row(f"worker {slot}", line)
        return body

    def _recent(self, width: int) -> Table:
        """The last finished tests, newest first."""
        st = self.state
        recent = Table(box=None, show_header=True, header_style="dim", pad_edge=False,
                       expand=False)
        recent.add_column("at", justify="right", no_wrap=True)
        recent.add_column("verdict", no_wrap=True)
        recent.add_column("changes", justify="right", no_wrap=True)
        recent.add_column("time", justify="right", no_wrap=True)
        recent.add_column("signature", overflow="ellipsis", no_wrap=True,
                          max_width=max(20, width - 46))
        for f in reversed(st.recent):
            recent.add_row(
                fmt_duration(f.at - st.started),
                Text(f.verdict, style=verdict_style(f.verdict)),
                str(f.size),
                "cached" if f.cached else f"{f.duration:.1f}s",
                Text(f.signature, style="dim"),
            )
        return recent


def pick_reporter(json_lines: bool, stream: Optional[IO[str]] = None, workers: int = 1,
                  force_plain: bool = False, title: str = "ltobisect") -> ReporterBase:
    """JSON lines when asked, the live view on a terminal, plain lines otherwise."""
    stream = stream if stream is not None else sys.stdout
    if json_lines:
        return JsonReporter(stream)
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
