"""How a session is shown: a live view on a terminal, log lines in a pipe, JSON lines for machines.

The core emits :mod:`ltobisect.events` values and never imports a UI library; this module is the
only one that imports rich. Three reporters implement the :class:`~ltobisect.events.Reporter`
protocol:

- :class:`RichReporter`: a live view that redraws in place (phase, strategy, changes left, builds
  per worker, cache hits, the last verdicts with their signature, elapsed time and an ETA), then
  the final report.
- :class:`PlainReporter`: one timestamped line per event, nothing that redraws (logs, CI).
- :class:`JsonReporter`: one JSON object per line for every event, and the summary at the end.

Every reporter is also a context manager (``with reporter: session.run()``) and has
:meth:`finish`, which shows the outcome once the session has returned. A reporter never raises
into the core: a broken pipe or a rendering error is swallowed after the first occurrence.
"""
from __future__ import annotations

import collections
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Deque, Dict, List, Optional

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

#: How many finished tests the live view lists.
RECENT = 6


def fmt_duration(seconds: Optional[float]) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short, for people."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fmt_size(nbytes: Optional[float]) -> str:
    """``512M``, ``1.5G``: memory sizes the way `--mem-limit` takes them."""
    if nbytes is None:
        return "-"
    for unit, factor in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if nbytes >= factor:
            value = nbytes / factor
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{int(nbytes)}B"


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
            if ev.label and self.phase == "searching":
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
        if self.phase in ("loading", "confirming", "starting"):
            remaining = 2 + 2 * math.log2(max(self.total, 2)) * 2
        elif self.phase == "searching":
            s = max(self.size, 2)
            remaining = 2 * math.log2(s) * 2 + 2 + 2
        elif self.phase == "verifying":
            remaining = 2
        else:
            return 0.0
        return remaining * mean / max(1, workers)


def shown_verdict(verdict: str, label: str) -> str:
    """The verdict as people should read it.

    The bad config is built before its failure has a signature, so the oracle can only call its
    failure ``other-failure``; that failure *is* the one being minimized, so it is shown as
    ``fails``.
    """
    if label == "bad config" and verdict == "other-failure":
        return "fails"
    return verdict


def verdict_style(verdict: str) -> str:
    """The colour of a verdict in the live view."""
    return {
        "reproduces": "bold green",
        "fails": "bold",
        "passes": "dim",
        "other-failure": "yellow",
        "timeout": "magenta",
        "out-of-memory": "magenta",
        "infra-error": "red",
    }.get(verdict, "")


def describe(ev: Event, label: str = "") -> str:
    """One line of text for an event (used by the plain reporter).

    ``label`` is the label its TestStarted carried, for a TestFinished.
    """
    if isinstance(ev, PhaseStarted):
        return f"phase {ev.phase}" + (f": {ev.detail}" if ev.detail else "")
    if isinstance(ev, StrategyStarted):
        return f"strategy {ev.strategy}: {ev.size} of {ev.total} changes left"
    if isinstance(ev, TestStarted):
        why = f" ({ev.label})" if ev.label else ""
        return f"worker {ev.slot}: testing {ev.size} changes [{ev.digest[:12]}]{why}"
    if isinstance(ev, TestFinished):
        where = "cache" if ev.cached else f"worker {ev.slot}"
        text = f"{where}: {shown_verdict(ev.verdict, label)} with {ev.size} changes in {ev.duration:.1f}s [{ev.digest[:12]}]"
        if ev.signature:
            text += f": {ev.signature}"
        if ev.peak_rss:
            text += f", peak {fmt_size(ev.peak_rss)}"
        if ev.attempt > 1:
            text += f", attempt {ev.attempt}"
        if ev.log_path and ev.verdict != "passes":
            text += f", log {ev.log_path}"
        return text
    if isinstance(ev, CacheHit):
        return f"cache: {ev.verdict} with {ev.size} changes [{ev.digest[:12]}]"
    if isinstance(ev, BestImproved):
        text = f"best: {ev.size} of {ev.total} changes"
        if ev.changes:
            text += ": " + ", ".join(ev.changes)
        return text
    if isinstance(ev, Message):
        return f"{ev.level}: {ev.text}"
    if isinstance(ev, SessionFinished):
        text = f"finished: {ev.status} (exit {ev.exit_code})"
        if ev.report_path:
            text += f", report {ev.report_path}"
        if ev.summary_path:
            text += f", summary {ev.summary_path}"
        return text
    return ev.name


class _Base:
    """Common plumbing: a lock (events may come from worker threads) and never raising."""

    def __init__(self, stream: Optional[IO[str]] = None) -> None:
        self.stream: IO[str] = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._broken = False

    def _write(self, line: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            # A closed pipe (`| head`) must not end a minimization that runs for hours.
            self._broken = True

    def __enter__(self) -> "_Base":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (the live view); idempotent."""

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None) -> None:
        """Show the outcome once the session has returned."""


class PlainReporter(_Base):
    """Timestamped lines, one per event, for logs and pipes. Nothing redraws."""

    def __init__(self, stream: Optional[IO[str]] = None, clock=time.time) -> None:
        super().__init__(stream)
        self._clock = clock
        self._labels: Dict[str, str] = {}

    def event(self, ev: Event) -> None:
        """Write one line for ``ev``."""
        try:
            label = ""
            if isinstance(ev, TestStarted):
                self._labels[ev.digest] = ev.label
            elif isinstance(ev, TestFinished):
                label = self._labels.pop(ev.digest, "")
            stamp = time.strftime("%H:%M:%S", time.localtime(ev.at))
            line = f"{stamp} {describe(ev, label)}"
        except Exception:  # a reporter must never raise into the core
            line = f"{ev.name}"
        with self._lock:
            self._write(line)

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None) -> None:
        """Print the report after the log lines, so a CI log holds the whole answer."""
        with self._lock:
            if report_text:
                self._write("")
                for line in report_text.rstrip("\n").splitlines():
                    self._write(line)


class JsonReporter(_Base):
    """JSON lines: every event as ``{"event": ..., ...}``, then ``{"event": "Summary", ...}``."""

    def event(self, ev: Event) -> None:
        """Write ``ev`` as one JSON object."""
        try:
            line = json.dumps(ev.to_json(), sort_keys=True, default=str)
        except Exception:
            line = json.dumps({"event": ev.name, "at": getattr(ev, "at", None)})
        with self._lock:
            self._write(line)

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None) -> None:
        """The last line: the session's summary (summary.json when the session wrote one)."""
        data = dict(summary or {})
        data.setdefault("status", status)
        data.setdefault("exit_code", exit_code)
        data["event"] = "Summary"
        data.setdefault("at", time.time())
        with self._lock:
            self._write(json.dumps(data, sort_keys=True, default=str))


class RichReporter(_Base):
    """The live view for a terminal, redrawn four times a second, and the report at the end."""

    def __init__(self, stream: Optional[IO[str]] = None, workers: int = 1,
                 title: str = "ltobisect") -> None:
        super().__init__(stream)
        from rich.console import Console

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
        from rich.live import Live

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
        from rich.panel import Panel
        from rich.text import Text

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
        from rich.text import Text

        try:
            with self._lock:
                return self.render()
        except Exception as exc:  # never let a drawing bug take the session down
            return Text(f"ltobisect: (view unavailable: {exc})")

    def render(self):
        """The current frame (a rich renderable)."""
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        st = self.state
        now = time.time()
        elapsed = now - st.started
        eta = st.eta(self.workers)
        width = max(40, min(self.console.width, 120))

        head = Table.grid(expand=True)
        head.add_column(ratio=1)
        head.add_column(justify="right")
        phase = Text(st.phase, style="bold cyan")
        if st.stopping:
            phase.append("  stopping (Ctrl-C again kills)", style="bold yellow")
        left = Text.assemble(("phase ", "dim"), phase)
        strategy = st.strategy or (st.phase_detail if st.phase == "searching" else "")
        if strategy:
            left.append("   strategy ", style="dim")
            left.append(strategy, style="bold")
            if st.label and st.label != strategy:
                left.append(f" ({st.label})", style="dim")
        eta_text = f"~{fmt_duration(eta)}" if eta is not None else "-"
        head.add_row(left, Text.assemble(("elapsed ", "dim"), fmt_duration(elapsed),
                                         ("   ETA ", "dim"), eta_text))

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

        parts: List = [head, body]
        if st.recent:
            parts += [Text("last verdicts", style="dim"), recent]
        if st.best_lines:
            parts.append(Text("best so far: " + "  ".join(st.best_lines), style="green",
                              overflow="ellipsis", no_wrap=True))
        for m in st.messages:
            style = {"warning": "yellow", "error": "bold red"}.get(m.level, "dim")
            parts.append(Text(("" if m.level == "info" else f"{m.level}: ") + m.text, style=style,
                              overflow="ellipsis", no_wrap=True))
        from rich.console import Group

        return Panel(Group(*parts), title=self.title, title_align="left", width=width)


def pick_reporter(json_lines: bool, stream: Optional[IO[str]] = None, workers: int = 1,
                  force_plain: bool = False, title: str = "ltobisect") -> _Base:
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
