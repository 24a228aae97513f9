"""SVG snapshots (pytest-textual-snapshot) of the Predict screen for a token model at 80x24 and 120x40, with fixed
data: a tagger stand-in whose tags depend only on the words, a fixed latency and a fixed clock; text cursors do not
blink. Regenerate with `pytest tests/tui/test_predict_tokens_snapshots.py --snapshot-update` after a deliberate
change, and look at the report before committing the new SVGs."""

from __future__ import annotations

import re

import pytest
from screen_apps import ScreenApp, Selection, still_cursors, wait_until

from tunelab.core.entities import group_entities
from tunelab.core.predictor import TokenPrediction
from tunelab.tui.screens.predict import PredictScreen

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
TYPES = {"Angela": "PER", "Merkel": "PER", "Siemens": "ORG", "Energy": "ORG", "Berlin": "LOC", "German": "MISC"}


class FixedTagger:
    """Stands in for a token model's `Predictor`: each known word has its type, the rest are O, fixed scores."""

    name, backend, labels, is_pair, new_head, max_length, per_token = "runs/ner", "onnx", TAGS, False, False, 128, True

    def predict(self, text: str, pair: str | None = None) -> TokenPrediction:
        found = list(re.finditer(r"\w+|[^\w\s]", text))
        words, spans = [m.group() for m in found], [(m.start(), m.end()) for m in found]
        tags, previous = [], None
        for word in words:
            type_ = TYPES.get(word)
            tags.append("O" if type_ is None else f"{'I' if type_ == previous else 'B'}-{type_}")
            previous = type_
        scores = [0.91 + 0.01 * (len(w) % 8) for w in words]
        every = [{t: (s if t == tag else (1 - s) / (len(TAGS) - 1)) for t in TAGS} for tag, s in zip(tags, scores)]
        return TokenPrediction(text, words, [list(s) for s in spans], tags, scores, every,
                               group_entities(words, tags, scores, spans, text), 2.4)


def fixed_clock() -> float:
    return 0.0


async def predict_ready(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prediction is not None)
    await pilot.press("enter")
    await pilot.press("ctrl+u", *"Angela Merkel told Siemens Energy in Berlin about German exports.")
    await wait_until(pilot, lambda: screen.prediction.text.endswith("German exports."))
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.history) == 2)
    still_cursors(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen_for_a_token_model(snap_compare, size):
    app = ScreenApp(lambda: PredictScreen(text="Merkel visited Berlin.",
                                          predictor_factory=lambda model: FixedTagger(), clock=fixed_clock),
                    Selection(model="runs/ner"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=predict_ready)
