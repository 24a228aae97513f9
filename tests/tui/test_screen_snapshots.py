"""SVG snapshots (pytest-textual-snapshot) of the Evaluate, Predict and Attention screens at 80x24 and 120x40,
with fixed data: a fixed evaluation report, a predictor with fixed outputs and a fixed clock, and a tiny random
BERT built from a fixed seed in a folder with a fixed relative name. Text cursors do not blink.
Regenerate with `pytest tests/tui/test_screen_snapshots.py --snapshot-update` after a deliberate change, and
look at the report before committing the new SVGs."""

from __future__ import annotations

import math

import pytest
from conftest import build_tiny_bert
from screen_apps import ScreenApp, Selection, settle, still_cursors, wait_until

from tunelab.core.evaluation import EvalReport
from tunelab.core.predictor import Prediction
from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.screens.predict import PredictScreen

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
LABELS = ["acceptable", "unacceptable"]
MISTAKE_TEXTS = [
    ("The keys to the cabinet is on the table.", "unacceptable", "acceptable", 0.981),
    ("The label on the bottles are peeling off.", "unacceptable", "acceptable", 0.962),
    ("The author of the novels were very famous.", "unacceptable", "acceptable", 0.944),
    ("There is three books on the shelf.", "unacceptable", "acceptable", 0.918),
    ("The boys praised himself after the game.", "unacceptable", "acceptable", 0.887),
    ("These dog barks at the postman every day.", "unacceptable", "acceptable", 0.853),
    ("The girl near the windows was singing.", "acceptable", "unacceptable", 0.822),
    ("The picture of the mountains hangs in the hall.", "acceptable", "unacceptable", 0.791),
    ("The teachers of the school were proud of themselves.", "acceptable", "unacceptable", 0.744),
    ("There are a cat and a dog in the garden.", "acceptable", "unacceptable", 0.702),
    ("That books on the table belongs to her.", "unacceptable", "acceptable", 0.665),
    ("The women in the car laughed at herself.", "unacceptable", "acceptable", 0.631),
]

REPORT = EvalReport(
    model="runs/demo", data="demo", split="test", examples=300, task="classify: label ~ sentence",
    figure_of_merit="mcc", value=0.8734, scores={"mcc": 0.8734, "accuracy": 0.9367, "f1": 0.9375, "macro_f1": 0.9366},
    labels=LABELS,
    per_class=[{"label": "acceptable", "precision": 0.9338, "recall": 0.94, "f1": 0.9369, "support": 150},
               {"label": "unacceptable", "precision": 0.9396, "recall": 0.9333, "f1": 0.9365, "support": 150}],
    confusion=[[141, 9], [10, 140]],
    mistakes=[{"text": t, "gold": g, "predicted": p, "confidence": c} for t, g, p, c in MISTAKE_TEXTS],
    majority_baseline=0.0,
)


class FixedPredictor:
    """Stands in for `Predictor`: a fixed model name and latency, probabilities that depend only on the text."""

    name, backend, labels, is_pair, new_head, max_length = "runs/demo", "onnx", LABELS, False, False, 512

    def predict(self, text: str, pair: str | None = None) -> Prediction:
        wrong = 0.5 + 0.45 * math.tanh(text.count(" is ") * 2 - text.count(" are ") * 2 + 0.3)
        probabilities = {"acceptable": 1 - wrong, "unacceptable": wrong}
        label = max(probabilities, key=probabilities.get)
        return Prediction(text, pair, label, probabilities[label], probabilities, 3.2)


class FixedInt8Predictor(FixedPredictor):
    """FixedPredictor that can be switched to "int8": its probabilities then move by 0.01."""

    int8 = False

    def set_int8(self, on: bool) -> None:
        self.int8 = on

    def predict(self, text: str, pair: str | None = None) -> Prediction:
        p = super().predict(text, pair)
        if not self.int8:
            return p
        probabilities = {k: v + (0.01 if k == p.label else -0.01) for k, v in p.probabilities.items()}
        return Prediction(text, pair, p.label, probabilities[p.label], probabilities, 1.1)


def fixed_clock() -> float:
    return 0.0


async def evaluate_ready(pilot) -> None:
    await settle(pilot)
    still_cursors(pilot.app)
    await pilot.pause()


async def predict_ready(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prediction is not None)
    await pilot.press("enter")
    await pilot.press("ctrl+u", *"The keys to the cabinet are on the table.")
    await wait_until(pilot, lambda: screen.prediction.text.endswith("are on the table."))
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.history) == 2)
    still_cursors(pilot.app)
    await pilot.pause()


def attention_ready(open_head: bool):
    async def ready(pilot) -> None:
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await settle(pilot)
        await pilot.press("right", "down")
        if open_head:
            await pilot.press("enter", "down", "down", "down", "right", "right")
        still_cursors(pilot.app)
        await pilot.pause()

    return ready


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A 4-layer x 4-head random BERT, always the same, in a folder shown under a fixed relative name."""
    import torch
    from transformers import BertModel

    root = tmp_path_factory.mktemp("attention-snapshot")
    path = build_tiny_bert(root / "tiny-bert", layers=4, heads=4, seed=0)
    model = BertModel.from_pretrained(path)
    with torch.no_grad():  # sharper queries and keys: peaked, varied attention instead of a near-uniform blur
        for layer in model.encoder.layer:
            layer.attention.self.query.weight.mul_(12)
            layer.attention.self.key.weight.mul_(12)
    model.save_pretrained(path)
    return root


@pytest.mark.parametrize("size", SIZES)
def test_evaluate_screen(snap_compare, size):
    app = ScreenApp(lambda: EvaluateScreen(report=REPORT), Selection(model="runs/demo"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=evaluate_ready)


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen(snap_compare, size):
    app = ScreenApp(lambda: PredictScreen(text="The keys to the cabinet is on the table.",
                                          predictor_factory=lambda model: FixedPredictor(), clock=fixed_clock),
                    Selection(model="runs/demo"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=predict_ready)


async def predict_int8_ready(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prediction is not None)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: screen.int8 and screen.prediction.latency_ms == 1.1)
    pilot.app.clear_notifications()
    still_cursors(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen_with_int8_on(snap_compare, size):
    """ctrl+n: the model line says int8 in the warning colour, the latency says (int8)."""
    app = ScreenApp(lambda: PredictScreen(text="The keys to the cabinet is on the table.",
                                          predictor_factory=lambda model: FixedInt8Predictor(), clock=fixed_clock),
                    Selection(model="runs/demo"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=predict_int8_ready)


@pytest.mark.parametrize("size", SIZES)
def test_attention_screen(snap_compare, size, tiny_encoder, monkeypatch):
    monkeypatch.chdir(tiny_encoder)
    text = "the keys near the cabinet are on the big red table near the small dogs there ."
    app = ScreenApp(lambda: AttentionScreen(text=text), Selection(model="tiny-bert"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=attention_ready(open_head=size == "120x40"))
