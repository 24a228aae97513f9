"""The follower that feeds the Train and Runs screens: it reads a run directory that another process appends
to, hands on whole events in order (step events as arrays), says when the log was truncated, and reports the
run-status function's verdict. Driven here with a recorded log written out line by line."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fixtures.app_factory import RECORDED, install_runs, make_app
from test_app_screens import steps_of, wait_for
from widget_apps import run_async
from tunelab.core.events import EvalDone, RunFinished, RunStarted, StepLogged, event_from_json
from tunelab.core.run_status import RunStatus
from tunelab.tui.follow import RunFollower, RunTrace, StepBlock, chunk_events
from tunelab.tui.messages import RunEvents, RunStatusChanged


class Collector:
    """Stands in for a widget: keeps what the follower posts."""

    def __init__(self) -> None:
        self.messages: list = []

    def post_message(self, message) -> bool:
        self.messages.append(message)
        return True

    def events(self) -> list:
        return [m for m in self.messages if isinstance(m, RunEvents)]


def recorded_lines(name: str = "tiny-toy") -> list[str]:
    return (RECORDED[name] / "events.jsonl").read_text().splitlines(keepends=True)


def test_chunks_keep_order_and_fold_steps():
    events = [event_from_json(line) for line in recorded_lines()]
    chunks = chunk_events(events)
    assert isinstance(chunks[0], RunStarted) and isinstance(chunks[-1], RunFinished)
    blocks = [c for c in chunks if isinstance(c, StepBlock)]
    assert sum(len(b.steps) for b in blocks) == sum(isinstance(e, StepLogged) for e in events) == 60
    assert all(not isinstance(c, StepLogged) for c in chunks)
    assert [c.step for c in chunks if isinstance(c, EvalDone)] == [10, 20, 30, 40, 50, 60]


def test_follower_reads_a_growing_log_and_notices_truncation(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "run.json").write_text((RECORDED["tiny-toy"] / "run.json").read_text())
    log = root / "events.jsonl"
    lines = recorded_lines()
    target = Collector()
    follower = RunFollower(root, target, idle=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop.is_set,), daemon=True)
    thread.start()
    try:
        with open(log, "w") as fh:
            for index, line in enumerate(lines):
                if index == 40:                                  # a torn line: held back until it is whole
                    fh.write(line[:25])
                    fh.flush()
                    time.sleep(0.05)
                    fh.write(line[25:])
                else:
                    fh.write(line)
                fh.flush()
                if index % 10 == 0:
                    time.sleep(0.02)
        deadline = time.monotonic() + 10
        while follower.posted_events < len(lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert follower.posted_events == len(lines)
        trace = RunTrace(root)
        for message in target.events():
            for chunk in message.chunks:
                trace.apply(chunk)
        assert trace.step == 60 and trace.status == RunStatus.COMPLETED and trace.best == 1.0
        statuses = [m.info.status for m in target.messages if isinstance(m, RunStatusChanged)]
        assert statuses[-1] == RunStatus.COMPLETED
        log.write_text(lines[0])                                 # truncated: start over
        deadline = time.monotonic() + 10
        while not any(m.reset for m in target.events()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(m.reset for m in target.events())
    finally:
        stop.set()
        thread.join(timeout=5)


@run_async
async def test_tui_run_flag_opens_the_run_on_the_runs_screen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    app = make_app(tmp_path, open_run=str(tmp_path / "runs" / "tiny-resumed"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert type(app.screen).__name__ == "RunsScreen"
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) == 60, what="the run's curve")
        assert monitor.current == (tmp_path / "runs" / "tiny-resumed").resolve()
        assert app.selection.run == str(monitor.current)


def test_a_run_resumed_a_moment_ago_shows_live_not_its_last_segments_end(tmp_path):
    """Stopped, then resumed: until the new trainer writes its RunStarted, the log still ends with the stop, but
    the status function sees a new process holding the run. The trace believes that, not the old final event."""
    from tunelab.core.run_status import RunInfo

    trace = RunTrace(tmp_path)
    trace.apply(RunStarted("r", "m", "classify: label ~ sentence", "cpu", 100, 1, 10, pid=111))
    trace.apply(RunFinished(5, "stopped", None, "mcc", "", 1.0))
    trace.set_info(RunInfo(tmp_path, RunStatus.RUNNING, phase="starting", pid=111))   # older than the final event
    assert trace.status == RunStatus.STOPPED
    trace.set_info(RunInfo(tmp_path, RunStatus.RUNNING, phase="starting", pid=222))   # the resumed segment's process
    assert trace.status == RunStatus.RUNNING and trace.is_live
