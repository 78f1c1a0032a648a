"""How a session is shown: a live view on a terminal, log lines in a pipe, JSON lines for machines.

The core emits :mod:`ltobisect.events` values and never imports a UI library; this module is the
only one that imports rich. Three reporters implement the :class:`~ltobisect.events.Reporter`
protocol:

- :class:`RichReporter`: a live view that redraws in place (phase, strategy, the failure, changes
  left, builds per worker, cache hits, the last verdicts with their signature, elapsed time and
  an ETA), then the final report as plain text.
- :class:`PlainReporter`: one timestamped line per event, nothing that redraws (logs, CI).
- :class:`JsonReporter`: one JSON object per line for every event, and the summary at the end.

This module holds the live view (its state, folded from events without rich, its drawing, and
:func:`shorten`, which fits a failure signature or a message into a narrow column without losing
the symbol and the file) and :func:`pick_reporter`; the two line reporters live in
:mod:`ltobisect.ui.plain` and are importable from here. When the live view ends, the report is
printed as the plain text of report.txt, to be pasted into a mail as it is.

Every reporter is also a context manager (``with reporter: session.run()``) and has
:meth:`finish`, which shows the outcome once the session has returned. A reporter never raises
into the core: a broken pipe or a rendering error is swallowed after the first occurrence.
"""
from __future__ import annotations

import collections
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Deque, Dict, List, Optional, Tuple

from rich.cells import cell_len
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
    ReduceProgress,
    PhaseStarted,
    SessionFinished,
    StrategyStarted,
    TestDropped,
    TestFinished,
    TestStarted,
)
from ltobisect.model import Phase, Verdict
from ltobisect.ui.terminal import quiet_control_echo
from ltobisect.textfit import fit_changes, plural, shorten
from ltobisect.ui.plain import (FAILS, JsonReporter, PlainReporter, ReporterBase, fmt_duration,
                                 reduce_progress, shown_verdict)

__all__ = ["JsonReporter", "PlainReporter", "RichReporter", "ViewState", "pick_reporter", "plural",
           "read_text", "shorten"]

#: How many finished tests the live view lists.
RECENT = 6

#: The note with which --each-failure starts each failure's search ("failure 2 of 3"): shown as
#: the failure row's label for the whole of that search, not as a passing note.
_PART = re.compile(r"failure (\d+) of (\d+)")


@dataclass
class Running:
    """A test in progress on one worker."""

    digest: str
    size: int
    label: str
    started: float
    ahead: bool = False  # started ahead: the search has not asked for it yet


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
    commits_left: int = 0  # ltobisect bisect: the range left
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
    failure: str = ""  # the signature being minimized: the latest one a test failed or reproduced with
    part: str = ""  # with --each-failure, which failure of how many: "2/3"
    timed: int = 0  # builds whose time is in build_seconds (the mean build's divisor)
    ahead_started: int = 0  # builds started ahead (ltobisect.speculate)
    ahead_dropped: int = 0  # of which killed when no result needed them
    #: builds, cache hits and verdicts as the sessions that finished so far count them
    settled: Tuple[int, int, Dict[str, int]] = (0, 0, {})

    def occupancy(self, workers: int) -> str:
        """How busy the workers are: "3 busy (1 ahead), 1 idle; ahead: 5 started, 2 stopped"."""
        busy = len(self.running)
        ahead = sum(r.ahead for r in self.running.values())
        text = f"{busy} busy" + (f" ({ahead} ahead)" if ahead else "") + f", {max(0, workers - busy)} idle"
        if self.ahead_started:
            text += f"; ahead: {self.ahead_started} started, {self.ahead_dropped} stopped"
        return text

    def apply(self, ev: Event) -> None:
        """Fold one event into the state."""
        if isinstance(ev, PhaseStarted):
            self.phase, self.phase_detail = ev.phase, ev.detail
            # What a phase said (the bad config fails so, a build's peak) is news of that phase:
            # the next one shows its own progress, not the last phase's note as the view's last
            # line for the rest of the run. Warnings and errors stay.
            kept = [m for m in self.messages if m.level != "info"]
            self.messages.clear()
            self.messages.extend(kept)
        elif isinstance(ev, StrategyStarted):
            self.strategy, self.size, self.total = ev.strategy, ev.size, ev.total
        elif isinstance(ev, TestStarted):
            self.running[ev.slot] = Running(ev.digest, ev.size, ev.label, ev.at, ev.ahead)
            self.ahead_started += ev.ahead
            self.workers_seen = max(self.workers_seen, ev.slot + 1)
            self.labels[ev.digest] = ev.label
            if ev.label and not ev.ahead and self.phase == Phase.SEARCHING:
                self.label = ev.label
        elif isinstance(ev, TestFinished):
            self.running.pop(ev.slot, None)
            verdict = shown_verdict(ev.verdict, self.labels.pop(ev.digest, ""))
            if ev.cached:
                self.cache_hits += 1
            else:
                self.builds += 1
                self.timed += 1
                self.build_seconds += ev.duration
                self.verdicts[verdict] += 1
            self.recent.append(
                Finished(ev.at, ev.slot, ev.size, verdict, ev.duration, ev.signature, ev.cached)
            )
            if ev.signature and verdict in (FAILS, Verdict.REPRODUCES):
                self.failure = ev.signature
        elif isinstance(ev, TestDropped):
            self.running.pop(ev.slot, None)
            self.labels.pop(ev.digest, None)
            self.ahead_dropped += 1
        elif isinstance(ev, CacheHit):
            self.cache_hits += 1
            self.recent.append(Finished(ev.at, -1, ev.size, ev.verdict, 0.0, "", True))
        elif isinstance(ev, BestImproved):
            self.size, self.total = ev.size, ev.total
            self.best_lines = tuple(ev.changes)
        elif isinstance(ev, Message):
            part = _PART.fullmatch(ev.text) if ev.level == "info" else None
            if part:
                self.part = f"{part.group(1)}/{part.group(2)}"
            else:
                self.messages.append(ev)
        elif isinstance(ev, ReduceProgress):
            self.phase = Phase.BISECTING if ev.step == "bisect" else Phase.REDUCING
            self.phase_detail = reduce_progress(ev)
            self.commits_left = ev.size if ev.step == "bisect" else 0
        elif isinstance(ev, SessionFinished):
            self.finished = ev
            self.phase, self.phase_detail = ev.status, ""
            self.running.clear()

    def settle(self, counts: Dict[str, Any]) -> None:
        """A session finished: count its builds, cache hits and verdicts as its summary.json
        (and so its report) does, on top of the sessions that finished before it (the searches
        of --each-failure, one after another).

        The view tallies the builds it saw, the report the session's journal; they differ: the
        bad config's build is shown as ``fails`` (``reproduces`` in the journal, judged again
        under its signature), and a resumed session's journal holds its earlier runs' builds.
        The last frame must not contradict the report printed under it.
        """
        builds, hits, verdicts = self.settled
        tally = collections.Counter(verdicts)
        for name, n in (counts.get("verdicts") or {}).items():
            if isinstance(n, int):
                tally[str(name)] += n
        if isinstance(counts.get("builds"), int):
            builds += counts["builds"]
        if isinstance(counts.get("cache_hits"), int):
            hits += counts["cache_hits"]
        self.builds, self.cache_hits, self.verdicts = builds, hits, tally
        self.settled = (builds, hits, dict(tally))

    @property
    def mean_build(self) -> Optional[float]:
        return self.build_seconds / self.timed if self.timed else None

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
        elif self.phase == Phase.BISECTING:  # halving the commits left, then the checks
            remaining = math.log2(max(self.commits_left, 1)) + 3
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
