"""The reporters: plain lines for logs, JSON lines for machines, the live view for terminals."""
from __future__ import annotations

import io
import json
import re

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
from ltobisect.ui.live import RichReporter, pick_reporter
from ltobisect.ui.view import ViewState
from ltobisect.ui.plain import JsonReporter, PlainReporter

SIG = "ld: undefined reference to `trace_net_queue_packet' (link-error)"


def session_events():
    """What a short session emits, in order."""
    t = 1_700_000_000.0
    return [
        PhaseStarted("confirming", "135 changes against baseline.config", at=t),
        TestStarted(slot=0, digest="a" * 32, size=135, label="bad config", at=t + 1),
        TestFinished(slot=0, digest="a" * 32, size=135, verdict="other-failure", duration=1.6,
                     signature=SIG, log_path="/s/logs/a.log", at=t + 2.6),
        PhaseStarted("searching", "default", at=t + 3),
        StrategyStarted("ddmin", size=135, total=135, at=t + 3),
        TestStarted(slot=0, digest="b" * 32, size=68, label="ddmin", at=t + 3),
        TestStarted(slot=1, digest="c" * 32, size=67, label="ddmin", at=t + 3),
        TestFinished(slot=1, digest="c" * 32, size=67, verdict="passes", duration=1.5, at=t + 4.5),
        TestFinished(slot=0, digest="b" * 32, size=68, verdict="reproduces", duration=1.7,
                     signature=SIG, peak_rss=40 * 2**20, at=t + 4.7),
        BestImproved(size=68, total=135, at=t + 4.7),
        CacheHit(digest="b" * 32, size=68, verdict="reproduces", at=t + 5),
        Message("warning", "flaky: config bbbbbbbbbbbb gave passes, then reproduces", at=t + 6),
        BestImproved(size=3, total=135, changes=("CONFIG_NET_SCHED=y", "CONFIG_TRACEPOINTS=y",
                                                  "CONFIG_NET_SCHED_STATS=y"), at=t + 30),
        SessionFinished(status="minimized", exit_code=0, report_path="/s/report.txt",
                        summary_path="/s/summary.json", at=t + 40),
    ]


def test_plain_reporter_writes_one_timestamped_line_per_event():
    out = io.StringIO()
    rep = PlainReporter(out)
    events = session_events()
    for ev in events:
        rep.event(ev)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(events)
    assert all(re.match(r"^\d\d:\d\d:\d\d \S", line) for line in lines), lines
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text  # nothing that redraws, no colours
    assert "worker 0: fails with 135 changes in 1.6s" in text  # the bad config's failure
    assert "worker 0: reproduces with 68 changes in 1.7s" in text and SIG in text
    assert "peak 40M" in text
    assert "cache: reproduces with 68 changes" in text
    assert "best: 3 of 135 changes: CONFIG_NET_SCHED=y" in text
    assert "warning: flaky" in text
    assert lines[-1].endswith("finished: minimized (exit 0), report /s/report.txt, "
                              "summary /s/summary.json")


def test_plain_reporter_prints_the_report_at_the_end():
    out = io.StringIO()
    rep = PlainReporter(out)
    rep.finish("minimized", 0, "ltobisect: the report\n  CONFIG_A=y\n")
    assert out.getvalue().endswith("ltobisect: the report\n  CONFIG_A=y\n")


def test_plain_reporter_survives_a_closed_pipe():
    out = io.StringIO()
    out.close()
    rep = PlainReporter(out)
    for ev in session_events():
        rep.event(ev)  # must not raise into the session


def test_json_reporter_writes_every_event_then_the_summary():
    out = io.StringIO()
    rep = JsonReporter(out)
    events = session_events()
    for ev in events:
        rep.event(ev)
    rep.finish("minimized", 0, "report text", {"status": "minimized", "fragment": ["CONFIG_A=y"]})
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records[:-1]] == [ev.name for ev in events]
    assert records[1]["label"] == "bad config" and records[2]["verdict"] == "other-failure"
    assert records[-1]["event"] == "Summary"
    assert records[-1]["status"] == "minimized" and records[-1]["exit_code"] == 0
    assert records[-1]["fragment"] == ["CONFIG_A=y"]


def test_view_state_folds_events():
    st = ViewState(started=1_700_000_000.0)
    for ev in session_events()[:-1]:
        st.apply(ev)
    assert st.phase == "searching" and st.strategy == "ddmin"
    assert (st.size, st.total) == (3, 135)
    assert st.builds == 3 and st.cache_hits == 1
    assert st.verdicts == {"fails": 1, "passes": 1, "reproduces": 1}
    assert st.running == {}
    assert abs(st.mean_build - (1.6 + 1.5 + 1.7) / 3) < 1e-9
    assert st.eta(workers=2) is not None and st.eta(workers=2) > 0


def test_live_view_shows_what_a_user_needs():
    out = io.StringIO()
    rep = RichReporter(out, workers=2)
    rep.console.width = 110
    events = session_events()
    for ev in events[:7]:  # searching, two builds running
        rep.event(ev)
    rep.console.print(rep.render())
    frame = out.getvalue()
    for needle in ("phase", "searching", "strategy", "ddmin", "changes left", "135 of 135",
                   "worker 0", "worker 1", "68 changes", "67 changes", "running",
                   "cache hits", "ETA", "elapsed", "last verdicts", "fails"):
        assert needle in frame, needle
    for ev in events[7:13]:
        rep.event(ev)
    out.truncate(0)
    rep.console.print(rep.render())
    frame = out.getvalue()
    assert "3 of 135" in frame and "reproduces" in frame and "trace_net_queue_packet" in frame
    assert "failure" in frame and "1 cache hit," in frame
    assert re.search(r"best so far +CONFIG_NET_SCHED=y", frame)
    assert "warning: flaky" in frame


def test_live_view_finish_prints_the_report_plain():
    out = io.StringIO()
    rep = RichReporter(out)
    report = "ltobisect: undefined reference\n\n  CONFIG_TRACEPOINTS=y\n"
    rep.finish("minimized", 0, report)
    text = out.getvalue()
    assert report in text  # line for line, as report.txt holds it: no box around it
    assert text.rstrip().endswith("minimized (exit 0)")


def test_pick_reporter():
    assert isinstance(pick_reporter(True, io.StringIO()), JsonReporter)
    assert isinstance(pick_reporter(False, io.StringIO()), PlainReporter)  # not a TTY

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(pick_reporter(False, Tty()), (RichReporter, PlainReporter))
    assert isinstance(pick_reporter(False, Tty(), force_plain=True), PlainReporter)
