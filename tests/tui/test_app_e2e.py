"""End to end: the Train screen starts a real detached `tunelab fit` of a tiny BERT, the loss curve fills in as it
trains, Stop and Resume work from the keyboard, and a run outlives the app that started it (a reopened app
shows it completed). Each test trains for real, so each takes a little while. A run the test must catch mid-way
is held at a step by the trainer's test-only hold (TUNELAB_TEST_HOLD), never left to how fast the machine is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import build_tiny_bert, write_toy_splits
from fixtures.app_factory import make_app
from test_app_screens import runs_rows, steps_of, wait_for
from widget_apps import run_async
from tunelab.core.run_status import RunStatus, run_info
from tunelab.tui.selection import Selection

SIZE = (80, 24)


@pytest.fixture
def toy_setup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    model = build_tiny_bert(tmp_path / "tiny-bert")
    data = write_toy_splits(tmp_path / "toy")
    return tmp_path, Selection(model=str(model), data=str(data), eqn="classify: label ~ sentence")


def wait_until_final(root: Path, timeout: float = 600) -> RunStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run_info(root).status
        if status.is_final:
            return status
        time.sleep(0.5)
    raise AssertionError(f"{root} did not finish in {timeout}s: {run_info(root)}")


@pytest.fixture
def hold(tmp_path, monkeypatch):
    """Trainers started by the app pause at step 2 while this file exists (removed at the end, whatever happens)."""
    path = tmp_path / "hold"
    path.touch()
    monkeypatch.setenv("TUNELAB_TEST_HOLD", str(path))
    monkeypatch.setenv("TUNELAB_TEST_HOLD_STEP", "2")
    yield path
    path.unlink(missing_ok=True)


def start_settings(out: Path, epochs: int, batch_size: int = 16) -> dict:
    return {"epochs": epochs, "lr": 1e-3, "batch_size": batch_size, "warmup": 0, "out": str(out)}


@run_async
async def test_train_screen_starts_a_run_stops_and_resumes_it_and_the_curve_moves(toy_setup, hold):
    workdir, selection = toy_setup
    out = workdir / "runs" / "e2e"
    app = make_app(workdir, selection=selection)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            # held at step 2 until the app's stop lets it go: still going when the app asks it to stop
            # every step logged as it is done (log_seconds 0), so the hold (and the stop) lands at step 2, mid-epoch
            screen.form.set_values({**start_settings(out, epochs=4, batch_size=4), "log_seconds": 0})
            await pilot.press("ctrl+s")
            monitor = screen.monitor
            await wait_for(pilot, lambda: monitor.current is not None, timeout=240, what="the run to start")
            assert monitor.current == out.resolve()
            frames = monitor.loss_chart.frames_drawn                        # before the trainer has logged a step
            await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) >= 2, timeout=300,
                           what="loss points")
            await wait_for(pilot, lambda: monitor.loss_chart.frames_drawn > frames, what="the curve to redraw")
            await pilot.press("ctrl+t")                                     # stop after this step
            await wait_for(pilot, lambda: monitor.current_trace.status == RunStatus.STOPPED, timeout=300,
                           what="the run to stop")
            stopped_at = monitor.current_trace.step
            hold.unlink()                                                   # the resumed segment runs freely
            await pilot.press("ctrl+r")                                     # resume from the checkpoint
            await wait_for(pilot, lambda: monitor.current_trace.started is not None
                           and monitor.current_trace.started.segment == 2, timeout=300, what="the resumed segment")
            await wait_for(pilot, lambda: monitor.current_trace.status == RunStatus.COMPLETED, timeout=600,
                           what="the run to complete")
            steps = steps_of(monitor, "loss", "loss")
            assert steps.tolist() == list(range(1, 161))                    # every step once, across the resume
            assert monitor.current_trace.started.resumed_from_step == stopped_at
            assert len(steps_of(monitor, "metric", "validation mcc")) == 4
    finally:
        hold.unlink(missing_ok=True)
        if out.exists():
            wait_until_final(out)


@run_async
async def test_a_run_outlives_the_app_and_a_reopened_app_shows_it_completed(toy_setup, hold):
    workdir, selection = toy_setup
    out = workdir / "runs" / "outlives"
    app = make_app(workdir, selection=selection)
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.screen.form.set_values(start_settings(out, epochs=6))
            await pilot.press("ctrl+s")
            monitor = app.screen.monitor
            await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) >= 1, timeout=300,
                           what="the first loss points")
        # the app is gone; the run is not (held at step 2, so it cannot have finished meanwhile)
        assert run_info(out).status == RunStatus.RUNNING
        hold.unlink()
        assert wait_until_final(out) == RunStatus.COMPLETED
        again = make_app(workdir, start="runs")
        async with again.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "outlives" in runs_rows(again), what="the run listed")
            assert runs_rows(again)["outlives"][1] == "✔ completed"
            await pilot.press("enter")
            monitor = again.screen.monitor
            await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) == 60, what="the whole curve")
            assert "completed" in str(monitor.status_panel.render())
    finally:
        hold.unlink(missing_ok=True)
        if out.exists():
            wait_until_final(out)
