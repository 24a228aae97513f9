"""SVG snapshots (pytest-textual-snapshot) of the app's Models, Data, Train, Runs and Help screens at 80x24 and
120x40, with fixed data: the recorded runs in tests/tui/fixtures, a tiny BERT and the toy task built in the test,
a fixed clock, no refresh timer, no focused text field (so no blinking cursor). A few use the light and
high-contrast themes. Regenerate with `pytest tests/tui/test_app_snapshots.py --snapshot-update` after a
deliberate change, and look at the SVGs before keeping them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from conftest import build_tiny_bert, write_toy_splits
from fixtures.app_factory import install_runs, make_app
from test_app_screens import fixed_models, wait_for
from tunelab.tui.selection import Selection
from tunelab.tui.widgets.curve import CurveChart
from tunelab.tui.widgets.run_monitor import RunMonitor

SIZES = [(80, 24), (120, 40)]
size_ids = [f"{w}x{h}" for w, h in SIZES]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


def use_theme(workdir, theme: str) -> None:
    (workdir / "tui.json").write_text(json.dumps({"theme": theme}))


async def settle(pilot) -> None:
    """Every chart drawn from the data it has, workers done, nothing focused."""
    app = pilot.app
    await pilot.pause()
    for chart in app.screen.query(CurveChart):
        chart.refresh_now()
    app.set_focus(None)
    await pilot.pause()


async def monitors_done(pilot) -> None:
    def done() -> bool:
        monitors = list(pilot.app.screen.query(RunMonitor))
        return bool(monitors) and all(
            trace.final is not None and trace.info is not None
            for monitor in monitors for trace in monitor.traces.values()) and all(m.traces for m in monitors)
    await wait_for(pilot, done, what="the runs replayed")


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_train_following_a_run(snap_compare, workdir, size):
    app = make_app(workdir, selection=Selection(run=str(workdir / "runs" / "tiny-toy")), follow_on_train=True)

    async def run_before(pilot):
        await monitors_done(pilot)
        form = pilot.app.screen.form
        if form.display:   # the run's settings reach the form after it mounts: wait for them, not for luck
            await wait_for(pilot, lambda: form.input_for("model").value.endswith("tiny-bert"),
                           what="the run's settings in the form")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_runs_open_and_overlay(snap_compare, workdir, size):
    if size == (120, 40):
        use_theme(workdir, "tunelab-light")
    app = make_app(workdir, start="runs")

    async def run_before(pilot):
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table").row_count == 2, what="the runs")
        if size == (80, 24):
            await pilot.press("enter")
        else:
            await pilot.press("space", "down", "space", "o")
        await monitors_done(pilot)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("snap") / "tiny-bert")


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_models_with_a_card(snap_compare, workdir, tiny_model, monkeypatch, size):
    local = workdir / "tiny-bert"
    if not local.exists():
        local.symlink_to(tiny_model, target_is_directory=True)
    monkeypatch.setattr("tunelab.core.summary.list_models", lambda: fixed_models(Path("tiny-bert")))
    app = make_app(workdir, selection=Selection(model="tiny-bert"), start="models")

    async def run_before(pilot):
        card = pilot.app.screen.query_one("#model-card-text", Static)
        await wait_for(pilot, lambda: "architecture" in str(card.render()), timeout=180, what="the card")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_data_with_a_summary(snap_compare, workdir, tiny_model, size):
    write_toy_splits(workdir / "toy")
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="toy"), start="data")

    async def run_before(pilot):
        summary = pilot.app.screen.query_one("#data-summary-text", Static)
        await wait_for(pilot, lambda: "majority baseline" in str(summary.render()), timeout=240, what="the summary")
        # the preview's columns measured from their cells (a busy machine can paint before the table's idle pass
        # has sized them, when they are still as wide as their headers)
        preview = pilot.app.screen.query_one("#data-preview", DataTable)
        await wait_for(pilot, lambda: preview.virtual_size.width > 30, timeout=60, what="the preview's column widths")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_help(snap_compare, workdir, size):
    if size == (120, 40):
        use_theme(workdir, "tunelab-high-contrast")
    app = make_app(workdir, start="runs")

    async def run_before(pilot):
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table").row_count == 2, what="the runs")
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
