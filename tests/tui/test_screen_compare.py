"""The Compare screen: opened from the Runs screen with marked runs or with a run's sweep; its table groups seeds
(mean ± std, count), its scatter plots the figure of merit against training time or trainable parameters with
error bars, its curves are the runs' overlaid, and a running sweep's new runs appear on the next refresh. SVG
snapshots at 80x24 and 120x40 (regenerate with --snapshot-update after a deliberate change, and look at them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable

from fixtures.app_factory import FIXED_NOW, install_runs, make_app
from test_app_screens import wait_for
from widget_apps import run_async
from tunelab.core.config import FitConfig
from tunelab.core.events import EvalDone, RunFinished, RunStarted, StepLogged, event_to_json
from tunelab.core.sweep import plan_sweep
from tunelab.tui.app import TuneLabApp
from tunelab.tui.screens.compare import CompareScreen
from tunelab.tui.widgets.curve import CurveChart
from tunelab.tui.widgets.run_monitor import RunMonitor
from tunelab.tui.widgets.scatter import ScatterPlot

SIZES = [(80, 24), (120, 40)]
size_ids = [f"{w}x{h}" for w, h in SIZES]
# valid figure by (lr, seed): lr 3e-5 wins, by more than its seeds spread
SCORES = {(1e-5, 1): 0.30, (1e-5, 2): 0.36, (3e-5, 1): 0.52, (3e-5, 2): 0.46, (5e-5, 1): 0.41, (5e-5, 2): 0.39}


def write_run(root: Path, lr: float, seed: int, valid: float, t0: float) -> None:
    """A finished run as the trainer leaves it: run.json (with parameters and peak memory), events, metrics."""
    root.mkdir(parents=True, exist_ok=True)
    config = {**json.loads(FitConfig(model="tiny-bert", data="toy").to_json()), "lr": lr, "seed": seed,
              "out": str(root)}
    (root / "run.json").write_text(json.dumps({
        "config": config, "figure_of_merit": "mcc", "total_steps": 30,
        "parameters": {"trainable": 23_426, "total": 23_426}, "resources": {"peak_rss_mb": 560.0, "peak_gpu_mb": 0}}))
    seconds = 20 + 40 * lr / 5e-5 + seed
    events = [RunStarted(str(root), "tiny-bert", "classify: label ~ sentence", "cpu", 30, 3, 160, time=t0)]
    for step in range(1, 31):
        events.append(StepLogged(step, step / 10, 0.7 - valid * step / 60, lr, 400.0, 4000.0, rss_mb=550.0,
                                 time=t0 + seconds * step / 30))
        if step % 10 == 0:
            events.append(EvalDone(step, step / 10, "validation", {"mcc": valid * step / 30}, "mcc", True,
                                   time=t0 + seconds * step / 30))
    events.append(RunFinished(30, "completed", valid, "mcc", str(root / "model"), seconds, time=t0 + seconds))
    (root / "events.jsonl").write_text("".join(event_to_json(e) + "\n" for e in events))
    (root / "metrics.json").write_text(json.dumps({"figure_of_merit": "mcc", "validation": {"mcc": valid},
                                                   "test": {"mcc": valid - 0.05}}))


def make_sweep(directory: Path, upto: int = 4) -> Path:
    """A 3 x 2 lr x seed sweep whose first `upto` runs have finished (the rest not started)."""
    sweep = plan_sweep(directory / "sweeps" / "cola", FitConfig(model="tiny-bert", data="toy"),
                       {"lr": [1e-5, 3e-5, 5e-5], "seed": [1, 2]})
    for i, entry in enumerate(sweep.runs[:upto]):
        s = entry["settings"]
        write_run(sweep.run_dir(entry["name"]), s["lr"], s["seed"], SCORES[(s["lr"], s["seed"])],
                  FIXED_NOW - 86400 + 100 * i)
    return sweep.root


def add_run(sweep_root: Path, index: int) -> None:
    from tunelab.core.sweep import load_sweep

    entry = load_sweep(sweep_root).runs[index]
    s = entry["settings"]
    write_run(sweep_root / entry["name"], s["lr"], s["seed"], SCORES[(s["lr"], s["seed"])],
              FIXED_NOW - 86400 + 100 * index)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


def sweep_app(workdir: Path, sweep: Path) -> TuneLabApp:
    return TuneLabApp(None, runs_dirs=[sweep], clock=lambda: FIXED_NOW, refresh_seconds=None,
                      state_file=workdir / "tui.json", start="runs")


async def open_compare(pilot) -> CompareScreen:
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table").row_count > 0, what="the runs")
    detail = pilot.app.screen.query_one("#run-detail")
    await wait_for(pilot, lambda: "c compares its runs" in str(detail.render()), what="the sweep's progress")
    assert "sweep cola: " in str(detail.render()) and " done" in str(detail.render())
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="the Compare screen")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.comparison is not None, what="the comparison")
    return screen


async def curves_done(pilot) -> None:
    def done() -> bool:
        monitor = pilot.app.screen.query_one(RunMonitor)
        return bool(monitor.traces) and all(t.final is not None and t.info is not None for t in monitor.traces.values())
    await wait_for(pilot, done, what="the curves replayed")
    for chart in pilot.app.screen.query(CurveChart):
        chart.refresh_now()
    pilot.app.set_focus(None)
    await pilot.pause()


@run_async
async def test_a_sweep_opens_from_a_run_of_it_with_seed_groups_a_scatter_and_live_rows(workdir):
    sweep = make_sweep(workdir)
    app = sweep_app(workdir, sweep)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot)
        result = screen.comparison
        assert result.grouped and result.differing == ["lr", "seed"]
        table = screen.query_one("#compare-table", DataTable)
        assert table.row_count == 2
        first = [str(c) for c in table.get_row_at(0)]
        assert first[:3] == ["1", "3e-05", "2"] and first[3] == "0.490 ± 0.042"   # the winner, mean ± std of 2
        note = str(screen.query_one("#compare-note").render())
        assert "sweep cola: stopped, 4/6 done" in note and "seed groups" in note
        scatter = screen.query_one(ScatterPlot)
        assert scatter.x_title == "time (s)" and all(p.y_err for p in scatter.points)
        await pilot.press("p")
        assert scatter.x_title == "trainable params"
        await curves_done(pilot)
        assert len(screen.monitor.traces) == 4 and screen.monitor.overlaid
        add_run(sweep, 4)                               # the sweep goes on: its fifth run finishes
        screen.action_refresh()
        await wait_for(pilot, lambda: table.row_count == 3, what="the new run's row")
        assert "5/6 done" in str(screen.query_one("#compare-note").render())
        await wait_for(pilot, lambda: len(screen.monitor.traces) == 5, what="its curves")
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, CompareScreen)


@run_async
async def test_marked_runs_open_the_compare_screen_and_one_run_alone_is_refused(workdir):
    app = make_app(workdir, start="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#runs-table").row_count == 2, what="the runs")
        await pilot.press("c")                          # nothing marked and no sweep: a warning, no screen
        assert not isinstance(pilot.app.screen, CompareScreen)
        await pilot.press("space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), what="the Compare screen")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.comparison is not None, what="the comparison")
        assert len(screen.comparison.runs) == 2 and screen.query_one("#compare-table", DataTable).row_count == 2


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_compare_snapshot(snap_compare, workdir, size):
    sweep = make_sweep(workdir, upto=6)
    app = sweep_app(workdir, sweep)

    async def run_before(pilot):
        await open_compare(pilot)
        await curves_done(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
