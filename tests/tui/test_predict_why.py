"""The Predict screen's attribution colouring (ctrl+g): after the prediction settles, the same model thread explains
it with Integrated Gradients, and the sentence is shown with the cue word coloured for the class; typing on shows the
new sentence's explanation, never a stale one; ctrl+r explains another class; snapshots at 80x24 and 120x40."""

from __future__ import annotations

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, wait_until
from widget_apps import run_async

from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.widgets.attribution_words import AttributionWords, strength


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("predict-why")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


def top_word(e) -> str:
    return e.words[max(range(len(e.scores)), key=lambda i: e.scores[i])]


@run_async
async def test_ctrl_g_colours_the_words_that_drove_the_label(tiny_run):
    app = ScreenApp(lambda: PredictScreen(text="the cat is good near the table ."), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        assert not screen.query_one(AttributionWords).display       # off until asked for
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.explanation is not None, timeout=120)
        e = screen.explanation
        assert e.text == "the cat is good near the table ." and e.method == "ig"
        assert e.target == screen.prediction.label == "acceptable" and top_word(e) == "good"
        widget = screen.query_one(AttributionWords)
        assert widget.display
        shown = widget.render()
        assert "why acceptable" in shown.plain and "good" in shown.plain
        good = next(span for span in shown.spans if shown.plain[span.start:span.end] == "good")
        assert good.style.bgcolor is not None and good.style.bold          # the strongest word: the fullest colour

        # typing on: the explanation that comes is the new sentence's, never the old one's
        await pilot.press("end", *["backspace"] * 21, *"sad .")
        await wait_until(pilot, lambda: screen.explanation is not None
                         and screen.explanation.text == "the cat is sad .", timeout=120)
        assert screen.explanation.target == "unacceptable" and top_word(screen.explanation) == "sad"

        # ctrl+r: explain a chosen class; the cue word now pushes against it
        await pilot.press("ctrl+r")
        assert screen.why_target == "acceptable"
        await wait_until(pilot, lambda: screen.explanation is not None
                         and screen.explanation.target == "acceptable", timeout=120)
        e = screen.explanation
        assert e.scores[e.words.index("sad")] == min(e.scores)

        await pilot.press("ctrl+g")                                   # off again
        assert not screen.explaining and not screen.query_one(AttributionWords).display


def test_strength_steps_are_few_and_apart():
    assert [strength(s, 1.0) for s in (0, 0.1, 0.3, 0.6, 1.0, -1.0)] == [0, 0.25, 0.5, 0.75, 1.0, 1.0]


@pytest.mark.parametrize("theme_name", ["tunelab-dark", "tunelab-light", "tunelab-high-contrast"])
def test_attribution_colours_stay_apart_in_256_colours(theme_name):
    """Each strength step of red and of blue, blended onto the theme's surface, is its own xterm-256 colour, none the
    surface's, and the text on it keeps a readable contrast."""
    from rich.color import Color as RichColor, ColorSystem
    from textual.color import Color

    from tunelab.themes import THEMES

    theme = next(t for t in THEMES if t.name == theme_name)
    surface = Color.parse(theme.surface)

    def xterm(color) -> int:
        return RichColor.parse(color.hex).downgrade(ColorSystem.EIGHT_BIT).number

    seen = {xterm(surface)}
    for name in ("attribution-against", "attribution-for"):
        for level in (0.25, 0.5, 0.75, 1.0):
            shade = surface.blend(Color.parse(theme.variables[name]), level)
            assert xterm(shade) not in seen, (name, level)
            seen.add(xterm(shade))
            text = shade.get_contrast_text(1.0)
            assert abs(text.brightness - shade.brightness) > 0.35
