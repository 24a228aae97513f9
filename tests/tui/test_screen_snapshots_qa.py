"""SVG snapshots (pytest-textual-snapshot) of the Evaluate and Predict screens for an extractive QA model at 80x24
and 120x40, with fixed data: the fixed report of qa_reports.py (crafted questions scored by the QA task's own
code) and the stand-in reader of qa_readers.py, a fixed clock, text cursors still. Regenerate with `pytest
tests/tui/test_screen_snapshots_qa.py --snapshot-update` after a deliberate change, and look at the SVGs before
keeping them."""

from __future__ import annotations

import pytest
from qa_readers import FixedReader
from qa_reports import qa_report
from screen_apps import ScreenApp, Selection, settle, still_cursors, wait_until
from textual.widgets import TextArea

from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.screens.predict import PredictScreen

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
CONTEXT = ("there is a key . the dog sat near the red cabinet . these are bad . the cat sat near the small mat . "
           "this is good .")


@pytest.mark.parametrize("size", SIZES)
def test_evaluate_screen_for_a_qa_model(snap_compare, size):
    app = ScreenApp(lambda: EvaluateScreen(report=qa_report()), Selection(model="runs/qa", data="demo-qa"))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down")                 # the second wrong answer: partly right, spans overlapping
        still_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def fixed_clock() -> float:
    return 0.0


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen_for_a_qa_model(snap_compare, size):
    app = ScreenApp(lambda: PredictScreen(text="where the cat sat ?", pair=CONTEXT,
                                          predictor_factory=lambda model: FixedReader(), clock=fixed_clock),
                    Selection(model="runs/qa", data=None))

    async def run_before(pilot):
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        await pilot.press("enter")                                  # kept in the history
        await pilot.press("ctrl+u", *"where the dog sat ?")
        await wait_until(pilot, lambda: screen.prediction.question == "where the dog sat ?")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.history) == 2)
        still_cursors(pilot.app)
        for area in screen.query(TextArea):
            area.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
