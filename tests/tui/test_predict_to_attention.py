"""End to end in TuneLab's own app, on a tiny fine-tuned run opened as `tunelab tui --run` would: type a sentence
on the Predict screen, see the label and the probabilities change as the words change, then open it on the
Attention screen (ctrl+t), which shows that sentence's heads; and Evaluate's `p` lands a mistake on Predict."""

from __future__ import annotations

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import settle, wait_until
from widget_apps import run_async

from tunelab.tui.app import TuneLabApp
from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.selection import Selection
from tunelab.tui.widgets.probability_bars import ProbabilityBars


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("predict-to-attention")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


@run_async
async def test_type_watch_the_label_change_then_open_in_attention(tiny_run, tmp_path):
    app = TuneLabApp(Selection(), open_run=tiny_run, start="predict", state_file=tmp_path / "tui.json",
                     refresh_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        predict = app.screen
        assert isinstance(predict, PredictScreen) and predict.model_spec == str(tiny_run)
        await wait_until(pilot, lambda: predict._ready)
        bars = predict.query_one(ProbabilityBars)

        await pilot.press(*"the dogs were good")
        await wait_until(pilot, lambda: predict.prediction is not None
                         and predict.prediction.text == "the dogs were good")
        good = predict.prediction
        assert good.label == "acceptable" and bars.probabilities == pytest.approx(good.probabilities)

        await pilot.press(*["backspace"] * 4, *"sad .")
        await wait_until(pilot, lambda: predict.prediction.text == "the dogs were sad .")
        sad = predict.prediction
        assert sad.label == "unacceptable"
        assert sad.probabilities["unacceptable"] > good.probabilities["unacceptable"]
        assert bars.probabilities == pytest.approx(sad.probabilities)
        assert "unacceptable" in str(predict.query_one("#predict-label").render())

        await pilot.press("ctrl+t")
        await pilot.pause()
        attention = app.screen
        assert isinstance(attention, AttentionScreen) and app.current_mode == "attention"
        await wait_until(pilot, lambda: attention.result is not None
                         and attention.query_one("#att-text").value == "the dogs were sad .")
        await settle(pilot)
        assert attention.result.tokens == ["[CLS]", "the", "dogs", "were", "sad", ".", "[SEP]"]
        assert attention.model_spec == str(tiny_run)
