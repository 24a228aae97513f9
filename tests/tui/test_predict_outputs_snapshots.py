"""SVG snapshots (pytest-textual-snapshot) of the Predict screen for a regression with three outputs (valence,
arousal, dominance) at 80x24 and 120x40, with fixed data: a stand-in whose values depend only on the words, each
output's range in training as a run records it, a fixed latency and a fixed clock; text cursors do not blink.
Regenerate with `pytest tests/tui/test_predict_outputs_snapshots.py --snapshot-update` after a deliberate change,
and look at the report before committing the new SVGs."""

from __future__ import annotations

import pytest
from conftest import VAD_CUES, VAD_OUTPUTS
from screen_apps import ScreenApp, Selection, still_cursors, wait_until

from tunelab.core.predictor import Prediction
from tunelab.tui.screens.predict import PredictScreen

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


class FixedRegressor:
    """Stands in for a three-output regression's `Predictor`: the mean of the cue words' values, fixed latency."""

    name, backend, labels, is_pair, new_head, max_length = "runs/vad", "onnx", list(VAD_OUTPUTS), False, False, 128
    is_regression = True
    output_ranges = {name: (min(c[i] for c in VAD_CUES.values()), max(c[i] for c in VAD_CUES.values()))
                     for i, name in enumerate(VAD_OUTPUTS)}

    def predict(self, text: str, pair: str | None = None) -> Prediction:
        cues = [VAD_CUES[word] for word in text.lower().split() if word in VAD_CUES] or [(0.1, 0.2, 0.4)]
        values = {name: round(sum(c[i] for c in cues) / len(cues) * 0.9, 4) for i, name in enumerate(VAD_OUTPUTS)}
        label = ", ".join(f"{name} {v:.4f}" for name, v in values.items())
        return Prediction(text, pair, label, values["valence"], {}, 2.8, values=values)


def fixed_clock() -> float:
    return 0.0


async def predict_ready(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prediction is not None)
    await pilot.press("enter")
    await pilot.press("ctrl+u", *"the dog is sad and bad .")
    await wait_until(pilot, lambda: screen.prediction.text.endswith("and bad ."))
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.history) == 2)
    still_cursors(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen_for_three_outputs(snap_compare, size):
    app = ScreenApp(lambda: PredictScreen(text="the cat is happy .",
                                          predictor_factory=lambda model: FixedRegressor(), clock=fixed_clock),
                    Selection(model="runs/vad"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=predict_ready)
