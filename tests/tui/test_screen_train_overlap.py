"""The one line the Evaluate screen adds for the scored inputs that the model trained on: shown (in the warning
colour) when the report knows it, hidden when it does not."""

from __future__ import annotations

from dataclasses import replace

from screen_apps import ScreenApp, Selection, settle
from test_screen_snapshots import REPORT
from textual.widgets import Static
from widget_apps import run_async

from tunelab.tui.screens.evaluate import EvaluateScreen


@run_async
async def _show(report, expected):
    app = ScreenApp(lambda: EvaluateScreen(report=report), Selection(model="runs/demo"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.screen.query_one("#eval-train-overlap", Static)
        assert line.display == (expected is not None)
        if expected is not None:
            assert str(line.render()) == expected and line.has_class("-leak")


def test_the_evaluate_screen_shows_the_overlap_in_one_line():
    _show(replace(REPORT, in_train=12, train_data="the run's train split"),
          "test: 12 of 300 inputs (4.0%) also occur in the run's train split")


def test_the_evaluate_screen_hides_the_line_when_the_overlap_is_unknown():
    _show(REPORT, None)
