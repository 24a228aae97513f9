"""SVG snapshots of the attribution views at 80x24 and 120x40, with fixed explanations: the Predict screen with the
sentence coloured (ctrl+g). Regenerate with `pytest tests/tui/test_explain_snapshots.py --snapshot-update` after a
deliberate change, and look at the report before committing the new SVGs."""

from __future__ import annotations

import pytest
from screen_apps import ScreenApp, Selection, still_cursors, wait_until
from test_screen_snapshots import SIZES, FixedPredictor, fixed_clock, tiny_encoder  # noqa: F401 (a fixture)

from tunelab.core.explain import Explanation
from tunelab.tui.screens.predict import PredictScreen

SENTENCE = "The keys to the cabinet is on the table."
WORDS = ["The", "keys", "to", "the", "cabinet", "is", "on", "the", "table", "."]
SCORES = [0.01, 0.21, -0.02, 0.0, -0.09, 0.48, -0.05, 0.01, 0.03, -0.12]


class FixedExplainer:
    """Stands in for `Explainer`: fixed scores for the snapshot sentence, the target as asked."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def explain(self, text, pair=None, *, method="ig", target=None, **_):
        target = target or self.predictor.predict(text, pair).label
        sign = 1 if target == "unacceptable" else -1
        return Explanation(text, pair, list(WORDS), [0] * len(WORDS), [sign * s for s in SCORES], method, target,
                           True, False, 0.96, 0.45, 0.004, 32)


async def why_ready(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prediction is not None)
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: screen.explanation is not None)
    still_cursors(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_predict_screen_colours_the_sentence(snap_compare, size):
    app = ScreenApp(lambda: PredictScreen(text=SENTENCE, predictor_factory=lambda model: FixedPredictor(),
                                          explainer_factory=FixedExplainer, clock=fixed_clock),
                    Selection(model="runs/demo"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=why_ready)


class FixedMistakeExplainer:
    """For the Evaluate screen: each word of a mistake scored by a fixed rule, signed by the class explained."""

    def __init__(self, model) -> None:
        self.model = model

    def explain(self, text, pair=None, *, method="ig", target=None, **_):
        words = text.replace(".", " .").split()
        sign = 1 if target == "unacceptable" else -1
        scores = [sign * (0.5 if w in ("is", "are", "keys", "cabinet") else (len(w) % 3 - 1) * 0.06) for w in words]
        return Explanation(text, pair, words, [0] * len(words), scores, method, target, True, False, 0.9, 0.4,
                           0.003, 32)


async def evaluate_why_ready(pilot) -> None:
    from screen_apps import settle

    screen = pilot.app.screen
    await settle(pilot)
    await pilot.press("w")
    await wait_until(pilot, lambda: screen.why is not None)
    still_cursors(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_evaluate_screen_shows_why_a_mistake(snap_compare, size):
    from test_screen_snapshots import REPORT

    from tunelab.tui.screens.evaluate import EvaluateScreen

    app = ScreenApp(lambda: EvaluateScreen(report=REPORT, explainer_factory=FixedMistakeExplainer),
                    Selection(model="runs/demo"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=evaluate_why_ready)


class FixedExplainers:
    """For the Attention screen's `w`: an explainer whose rollout and IG scores are fixed per word."""

    class _Explainer:
        class predictor:
            new_head = False

        def prepare(self, text, pair=None):
            return text

        def explain(self, text, pair=None, *, method="ig", prepared=None, **_):
            words = text.split()
            if method == "rollout":
                scores = [0.30 if i == 0 else 0.05 + 0.02 * (i % 4) for i in range(len(words))]
                return Explanation(text, pair, words, [0] * len(words), scores, method, "acceptable", False, True, 0.9)
            scores = [0.4 if w in ("keys", "cabinet") else (-0.25 if w == "are" else 0.02 * (i % 3 - 1))
                      for i, w in enumerate(words)]
            return Explanation(text, pair, words, [0] * len(words), scores, method, "acceptable", True, False, 0.9,
                               0.4, 0.002, 32)

    def get(self, spec):
        return self._Explainer()


def attention_why_ready(pilot) -> None:
    async def ready(pilot) -> None:
        from screen_apps import settle

        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await settle(pilot)
        await pilot.press("w")
        await wait_until(pilot, lambda: screen.why is not None)
        still_cursors(pilot.app)
        await pilot.pause()

    return ready(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_attention_screen_puts_rollout_beside_ig(snap_compare, size, tiny_encoder, monkeypatch):
    from tunelab.tui.screens.attention import AttentionScreen

    monkeypatch.chdir(tiny_encoder)
    text = "the keys near the cabinet are on the big red table ."
    app = ScreenApp(lambda: AttentionScreen(text=text, explainers=FixedExplainers()), Selection(model="tiny-bert"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=attention_why_ready)
