"""The Data and Evaluate screens on a regression with several outputs (`regress: valence + arousal + dominance ~
word`): the summary gives each output's values, and the evaluation one score row per output (both used to assume a
single label column and raised on the nested rows)."""

from __future__ import annotations

import pytest
from conftest import build_tiny_bert, write_vad_csv
from fixtures.app_factory import make_app
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import DataTable, Static
from widget_apps import run_async

from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.selection import Selection as AppSelection

EQN = "regress: valence + arousal + dominance ~ word"


@pytest.fixture(scope="module")
def vad(tmp_path_factory) -> dict:
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("vad-screens")
    data = write_vad_csv(root / "data")
    base = build_tiny_bert(root / "base")
    result = fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(root / "run"), epochs=4, lr=2e-3,
                           batch_size=16, warmup=0))
    return {"run": result.run_dir, "data": str(data), "base": str(base)}


@run_async
async def test_data_screen_gives_each_outputs_values(vad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, selection=AppSelection(model=vad["base"], data=vad["data"], eqn=EQN), start="data")
    async with app.run_test(size=(80, 24)) as pilot:
        summary = app.screen.query_one("#data-summary-text", Static)
        await wait_until(pilot, lambda: "label values" in str(summary.render()))
        text = str(summary.render())
        for output in ("valence", "arousal", "dominance"):
            assert f"{output}: mean" in text


@run_async
async def test_evaluate_screen_gives_one_score_row_per_output(vad):
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run=vad["run"]))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        table = screen.query_one("#eval-classes", DataTable)
        assert [str(c.label) for c in table.ordered_columns][1:4] == ["pearson", "spearman", "mse"]
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["valence", "arousal", "dominance"]
        by_name = {row["label"]: row for row in screen.report.per_class}
        assert rows[0][1] == f"{by_name['valence']['pearson']:.2f}"
