"""SVG snapshots (pytest-textual-snapshot) of the Data and Evaluate screens for token-classification (NER) data and
models, at 80x24 and 120x40, with fixed data: the tiny NER files of test_screen_data_tokens.py summarised with a tiny
BERT's tokenizer, and the fixed report of token_reports.py (crafted sentences scored by the engine). Nothing focused
(Data) or text cursors still (Evaluate). Regenerate with `pytest tests/tui/test_screen_snapshots_tokens.py
--snapshot-update` after a deliberate change, and look at the SVGs before keeping them."""

from __future__ import annotations

import pytest
from conftest import build_tiny_bert
from fixtures.app_factory import install_runs, make_app
from screen_apps import ScreenApp, Selection, settle, still_cursors
from test_app_screens import wait_for
from test_screen_data_tokens import write_ner
from textual.widgets import Static
from token_reports import token_report

from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.selection import Selection as AppSelection

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.mark.parametrize("size", SIZES)
def test_data_screen_with_token_data(snap_compare, workdir, tiny_model, size):
    write_ner(workdir / "ner")
    app = make_app(workdir, selection=AppSelection(model=str(tiny_model), data="ner"), start="data")

    async def run_before(pilot):
        summary = pilot.app.screen.query_one("#data-summary-text", Static)
        await wait_for(pilot, lambda: "majority baseline" in str(summary.render()), timeout=240, what="the summary")
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_evaluate_screen_for_a_token_model(snap_compare, size):
    app = ScreenApp(lambda: EvaluateScreen(report=token_report()), Selection(model="runs/ner", data="demo-ner"))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down")                 # the second sentence: a missed entity
        still_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
