"""The Check screen on a tiny fine-tuned run with its data: every check of the battery is a row with its status
and reason, the selected one is explained below with what to do about it, the data field starts with the run's
own data, and a model that does not exist is a notification."""

from __future__ import annotations

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, wait_until
from textual.widgets import DataTable
from widget_apps import run_async

from tunelab.tui.screens.check import CHECK_GUIDE, CheckScreen


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("check-screen")
    data = write_toy_splits(root / "toy")
    return {"run": train_tiny(root, data, epochs=6, lr=2e-3).run_dir, "data": str(data)}


@run_async
async def test_runs_the_battery_with_the_runs_data(tiny_run):
    app = ScreenApp(lambda: CheckScreen(), Selection(run=tiny_run["run"]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.query_one("#check-data").value == tiny_run["data"]  # the run's own data
        assert screen.query_one("#check-eqn").value == "classify: label ~ sentence"
        assert screen.report is None and not screen.has_class("-running")  # the battery waits for `r`
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.report is not None, timeout=120)
        report = screen.report
        names = [c.name for c in report.checks]
        assert {"loads", "label_mapping", "beats_baseline", "overfits_batch", "faithfulness"} <= set(names)
        assert set(names) <= set(CHECK_GUIDE)
        table = screen.query_one("#check-table", DataTable)
        assert table.row_count == len(report.checks)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[0].endswith(report.checks[0].status) and first[1] == "Loads"
        summary = str(screen.query_one("#check-message").render())
        assert f"{sum(c.status == 'pass' for c in report.checks)} passed" in summary

        await pilot.press("down", "down")
        explained = str(screen.query_one("#check-detail").render())
        check = report.checks[2]
        assert CHECK_GUIDE[check.name][0] in explained and check.detail in explained
        assert "What it checks" in explained

        row = names.index("faithfulness")                # the deletion check is one of the battery's rows
        shown = [str(c) for c in table.get_row_at(row)]
        assert shown[1] == "Faithful attributions" and "IG's top 3 words" in shown[2]


@run_async
async def test_a_model_that_does_not_exist_is_a_notification(tmp_path):
    app = ScreenApp(lambda: CheckScreen(model=str(tmp_path / "nowhere"), data="", autorun=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications))
        assert any("does not exist" in n.message for n in app._notifications)
        assert "not checked" in str(app.screen.query_one("#check-message").render())


def test_every_check_of_the_engine_is_explained():
    import inspect

    import tunelab.core.check as check

    source = inspect.getsource(check)
    for name in CHECK_GUIDE:
        assert f'"{name}"' in source
