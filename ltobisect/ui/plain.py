"""Reporters that write lines: plain timestamped log lines, and JSON lines for machines.

No UI library here: :class:`PlainReporter` writes one line per event, nothing that redraws (logs,
CI); :class:`JsonReporter` writes one JSON object per event and the summary at the end (the
contract of schema :data:`~ltobisect.events.SCHEMA`, in the README). Both
follow the :class:`~ltobisect.events.Reporter` protocol through :class:`ReporterBase`, which the
live view of :mod:`ltobisect.ui.live` shares: a lock (events may come from worker threads), a
context manager, :meth:`~ReporterBase.finish`, and never raising into the core (a broken pipe is
swallowed after the first occurrence). The wording of events (:func:`describe`) and of sizes and
durations for people lives here too.
"""
from __future__ import annotations

import json
import math
import sys
import threading
import time
from typing import IO, Any, Callable, Dict, Optional

from ltobisect.events import (
    SCHEMA,
    BestImproved,
    CacheHit,
    Event,
    ReduceProgress,
    Message,
    PhaseStarted,
    SessionFinished,
    StrategyStarted,
    TestDropped,
    TestFinished,
    TestStarted,
    summary_document,
)
from ltobisect.model import Label, Verdict
from ltobisect.textfit import plural

#: How the bad config's first build shows: it fails, and that failure is the one minimized.
FAILS = "fails"

#: The most fragment lines a plain "best:" line spells out; the JSON event carries all of them.
BEST_LINES_SHOWN = 20


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


def shown_verdict(verdict: str, label: str) -> str:
    """The verdict as people should read it.

    The bad config is built before its failure has a signature, so the oracle can only call its
    failure ``other-failure``; that failure *is* the one being minimized, so it is shown as
    ``fails``.
    """
    if label == Label.BAD_CONFIG and verdict == Verdict.OTHER_FAILURE:
        return FAILS
    return str(verdict)


class Labels:
    """Why each running test runs (its TestStarted's label), so that its TestFinished, which
    does not carry it, is shown with the same judgement in the text, the view and the JSON."""

    def __init__(self) -> None:
        self._by_digest: Dict[str, str] = {}

    def label_of(self, ev: Event) -> str:
        """Note a TestStarted's label; return a TestFinished's (and forget it), else ""."""
        if isinstance(ev, TestStarted):
            self._by_digest[ev.digest] = ev.label
        elif isinstance(ev, TestFinished):
            return self._by_digest.pop(ev.digest, "")
        return ""


_REDUCE_STEPS = {"cvise": "C-Vise", "inputs": "link inputs", "module": "llvm-reduce"}


def reduce_progress(ev: ReduceProgress) -> str:
    """A reduction's progress in words: ``C-Vise: 1,234 of 56,789 bytes (2.2%)``."""
    if ev.step == "bisect":
        return (f"bisecting: {ev.size:,} of {ev.start:,} {ev.unit} left after "
                f"{ev.tests} build{'s' if ev.tests != 1 else ''}")
    what = _REDUCE_STEPS.get(ev.step, ev.step)
    share = f" ({100.0 * ev.size / ev.start:.1f}%)" if ev.start else ""
    tests = f", {ev.tests} tests" if ev.tests else ""
    return f"reducing, {what}: {ev.size:,} of {ev.start:,} {ev.unit}{share}{tests}"


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
        return f"worker {ev.slot}: testing {plural(ev.size, 'change')} [{ev.digest[:12]}]{why}"
    if isinstance(ev, TestDropped):
        return (f"worker {ev.slot}: stopped the build of {plural(ev.size, 'change')} "
                f"[{ev.digest[:12]}] started ahead: no result needs it")
    if isinstance(ev, TestFinished):
        where = "cache" if ev.cached else f"worker {ev.slot}"
        text = f"{where}: {shown_verdict(ev.verdict, label)} with {ev.size} changes in {ev.duration:.1f}s [{ev.digest[:12]}]"
        if ev.signature:
            text += f": {ev.signature}"
        if ev.peak_rss:
            text += f", peak {fmt_size(ev.peak_rss)}"
        if ev.attempt > 1:
            text += f", attempt {ev.attempt}"
        if ev.log_path and ev.verdict != Verdict.PASSES:
            text += f", log {ev.log_path}"
        return text
    if isinstance(ev, CacheHit):
        return f"cache: {ev.verdict} with {ev.size} changes [{ev.digest[:12]}]"
    if isinstance(ev, BestImproved):
        text = f"best: {ev.size} of {ev.total} changes"
        if ev.changes:
            text += ": " + ", ".join(ev.changes[:BEST_LINES_SHOWN])
            if len(ev.changes) > BEST_LINES_SHOWN:
                text += f" and {len(ev.changes) - BEST_LINES_SHOWN} more"
        return text
    if isinstance(ev, ReduceProgress):
        return reduce_progress(ev)
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


class ReporterBase:
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

    def __enter__(self) -> "ReporterBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (the live view); idempotent."""

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None, **given: Any) -> None:
        """Show the outcome once the session has returned."""


class PlainReporter(ReporterBase):
    """Timestamped lines, one per event, for logs and pipes. Nothing redraws."""

    def __init__(self, stream: Optional[IO[str]] = None, clock=time.time) -> None:
        super().__init__(stream)
        self._clock = clock
        self._labels = Labels()

    def event(self, ev: Event) -> None:
        """Write one line for ``ev``."""
        try:
            label = self._labels.label_of(ev)
            stamp = time.strftime("%H:%M:%S", time.localtime(ev.at))
            line = f"{stamp} {describe(ev, label)}"
        except Exception:  # a reporter must never raise into the core
            line = f"{ev.name}"
        with self._lock:
            self._write(line)

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None, **given: Any) -> None:
        """Print the report after the log lines, so a CI log holds the whole answer."""
        with self._lock:
            if report_text:
                self._write("")
                for line in report_text.rstrip("\n").splitlines():
                    self._write(line)


def event_json(ev: Event, label: str = "") -> Dict[str, Any]:
    """An event as its JSON line shows it (schema :data:`~ltobisect.events.SCHEMA`).

    A verdict comes with ``shown_verdict``, the judgement the text and the live view show (the
    bad config's own build ``fails``, where the oracle, without a signature yet, says
    ``other-failure``); a TestFinished also with the ``label`` of its TestStarted.
    """
    data = ev.to_json()
    if isinstance(ev, TestFinished):
        data["label"] = label
    if isinstance(ev, (TestFinished, CacheHit)):
        data["shown_verdict"] = shown_verdict(ev.verdict, label)
    return data


class JsonReporter(ReporterBase):
    """JSON lines: every event as ``{"event": ..., "schema": 1, ...}``, then the summary,
    ``{"event": "Summary", ...}`` (:func:`~ltobisect.events.summary_document`)."""

    def __init__(self, stream: Optional[IO[str]] = None,
                 wording: Optional[Callable[[str], str]] = None) -> None:
        """``wording`` rewrites the summary's message and hint in the words of the command
        that runs (the hook names its state directory ``--out``, not ``--state``)."""
        super().__init__(stream)
        self._labels = Labels()
        self._wording = wording
        #: The summary was written: the run's last line (main() writes none of its own then).
        self.finished = False

    def event(self, ev: Event) -> None:
        """Write ``ev`` as one JSON object."""
        try:
            line = json.dumps(event_json(ev, self._labels.label_of(ev)), sort_keys=True,
                              default=str)
        except Exception:
            line = json.dumps({"event": ev.name, "schema": SCHEMA, "at": getattr(ev, "at", None)})
        with self._lock:
            self._write(line)

    def finish(self, status: str, exit_code: int, report_text: str = "",
               summary: Optional[dict] = None, **given: Any) -> None:
        """The last line: the summary of schema 1, from the session's summary.json when it
        wrote one; ``given`` (message, hint, state_dir) fills or overrides its fields."""
        try:
            data = summary_document(status, exit_code, summary, **given)
            if self._wording is not None:
                for key in ("message", "hint"):
                    if isinstance(data.get(key), str):
                        data[key] = self._wording(data[key])
            line = json.dumps(data, sort_keys=True, default=str)
        except Exception:  # a damaged summary.json: the fields without its values
            line = json.dumps(summary_document(status, exit_code), sort_keys=True, default=str)
        with self._lock:
            self.finished = True
            self._write(line)
