"""The Evaluate screen's `w`: the selected mistake's words coloured for the predicted and for the gold class, side by
side, computed in a worker for the newest selection only, on a tiny model whose cue word decides the label."""

from __future__ import annotations

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, wait_until
from widget_apps import run_async

from tunelab.core.evaluation import EvalReport
from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.widgets.attribution_words import AttributionWords


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("evaluate-why")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


def report_with_mistakes(run: str) -> EvalReport:
    """Mistakes as a report lists them (gold labels set against what the model says, so they are 'wrong')."""
    mistakes = [{"text": "the cat is happy near the table .", "gold": "unacceptable", "predicted": "acceptable",
                 "confidence": 0.9},
                {"text": "the dogs were sad on the mat .", "gold": "acceptable", "predicted": "unacceptable",
                 "confidence": 0.8}]
    return EvalReport(model=run, data="toy", split="test", examples=40, task="classify: label ~ sentence",
                      figure_of_merit="accuracy", value=0.95, scores={"accuracy": 0.95},
                      labels=["acceptable", "unacceptable"], confusion=[[19, 1], [1, 19]], mistakes=mistakes,
                      per_class=[], majority_baseline=0.5)


@run_async
async def test_w_shows_what_pushed_the_mistake_for_both_classes(tiny_run):
    app = ScreenApp(lambda: EvaluateScreen(model=tiny_run, report=report_with_mistakes(tiny_run)),
                    Selection(run=tiny_run))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause()
        assert not screen.query_one("#eval-why").display
        await pilot.press("w")
        await wait_until(pilot, lambda: screen.why is not None, timeout=120)
        key, predicted, gold = screen.why
        assert key[1] == "the cat is happy near the table ."
        assert predicted.target == "acceptable" and gold.target == "unacceptable"
        happy = predicted.words.index("happy")
        assert predicted.scores[happy] == max(predicted.scores)        # what pushed it to "acceptable"
        assert gold.scores[happy] == min(gold.scores)                  # and against the gold class
        left = screen.query_one("#eval-why-predicted", AttributionWords).render().plain
        right = screen.query_one("#eval-why-gold", AttributionWords).render().plain
        assert "predicted acceptable" in left and "true unacceptable" in right

        await pilot.press("down")                                      # the next mistake is explained in turn
        await wait_until(pilot, lambda: screen.why is not None and screen.why[0][1].startswith("the dogs"),
                         timeout=120)
        assert screen.why[1].target == "unacceptable" and screen.why[2].target == "acceptable"
