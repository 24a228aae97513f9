"""The Attention screen on token-classification models and runs: it opens on a tagger (a model directory, and a run
fitted with `classify_tokens`), the chosen row starts on the first word (a word's row decides its tag), `,` and `.`
step from word to word over sub-word pieces, the row strip follows the head picked in the grid, the heat map's
cursor row is the chosen row both ways, and Predict's ctrl+t hands over the word chosen in its table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_bert
from crafted_tagger import SENTENCE, build_tagger
from screen_apps import ScreenApp, Selection, settle, wait_until
from widget_apps import run_async

from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.widgets.attention_row import AttentionRow
from tunelab.tui.widgets.heatmap import AttentionHeatmap
from tunelab.tui.widgets.word_tags import WordTagTable


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> str:
    return str(build_tagger(tmp_path_factory.mktemp("attention-tagger") / "tagger"))


@pytest.fixture(scope="module")
def token_run(tmp_path_factory) -> str:
    """A tiny BERT fitted for one epoch with `classify_tokens: ner_tags ~ tokens`."""
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("attention-token-run")
    rows = [{"tokens": ["the", "cat", "sat", "on", "the", "mat"], "ner_tags": ["O", "B-PER", "O", "O", "O", "B-LOC"]},
            {"tokens": ["a", "dog", "ran", "near", "the", "table"], "ner_tags": ["O", "B-PER", "O", "O", "O", "B-LOC"]}]
    data = root / "data"
    data.mkdir()
    for split, n in (("train", 16), ("validation", 4), ("test", 4)):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(rows[i % 2]) + "\n" for i in range(n)))
    base = build_tiny_bert(root / "base")
    return fit(FitConfig(model=str(base), data=str(data), eqn="classify_tokens: ner_tags ~ tokens",
                         out=str(root / "run"), epochs=1, lr=1e-3, batch_size=8, warmup=0)).run_dir


def shown_row(screen) -> np.ndarray:
    return screen.query_one(AttentionRow).weights


@run_async
async def test_a_tagger_opens_on_its_first_word_and_the_keys_pick_word_rows(tagger):
    app = ScreenApp(lambda: AttentionScreen(text=SENTENCE, model=tagger), Selection(model=tagger, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await settle(pilot)
        result, starts = screen.result, screen.word_starts
        assert screen.per_token
        # the tiny vocabulary spells most words out: "angela" is a ##n ##g ##e ##l ##a, one word of six tokens
        assert [result.tokens[i] for i in starts][:4] == ["a", "m", "v", "p"]
        assert starts[:2] == [1, 7] and all(t.startswith("##") for t in result.tokens[2:7])
        assert screen.row == starts[0] == 1
        assert np.array_equal(shown_row(screen), result.attentions[0, 0, starts[0]])
        assert str(screen.query_one(AttentionRow).render()).startswith("row a [1] →")

        await pilot.press("full_stop", "full_stop", "full_stop")     # three words on: "Paris"
        assert screen.row == starts[3] and screen.word == "p"
        assert np.array_equal(shown_row(screen), result.attentions[0, 0, starts[3]])
        await pilot.press("comma")
        assert screen.row == starts[2] and screen.word == "v"

        await pilot.press("right_curly_bracket")                     # another layer: the same word's row
        assert screen.head == (1, 0)
        assert np.array_equal(shown_row(screen), result.attentions[1, 0, starts[2]])

        await pilot.press("enter")                                   # the head view: its cursor is on that row
        heatmap = screen.query_one(AttentionHeatmap)
        assert screen.has_class("-head") and heatmap.cursor[0] == starts[2]
        await pilot.press("up")                                      # and the heat map's cursor row is the row
        await pilot.pause()
        assert screen.row == starts[2] - 1 and screen.word == result.tokens[starts[2] - 1]
        assert np.array_equal(shown_row(screen), result.attentions[1, 0, starts[2] - 1])
        await pilot.press("full_stop")
        assert screen.row == starts[2] and heatmap.cursor[0] == starts[2]


@run_async
async def test_a_token_run_opens_in_attention(token_run):
    app = ScreenApp(lambda: AttentionScreen(text="the cat sat on the mat"), Selection(run=token_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None)
        await settle(pilot)
        assert screen.model_spec == token_run and screen.per_token
        assert screen.result.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"]
        assert screen.word == "the" and screen.word_starts == [1, 2, 3, 4, 5, 6]
        await pilot.press("full_stop")
        assert screen.word == "cat"
        assert "no attention" not in str(screen.query_one("#att-status").render())


@run_async
async def test_predict_hands_attention_the_word_chosen_in_its_table(token_run, tmp_path):
    from tunelab.tui.app import TuneLabApp
    from tunelab.tui.screens.predict import PredictScreen
    from tunelab.tui.selection import Selection as AppSelection

    app = TuneLabApp(AppSelection(), open_run=token_run, start="predict", state_file=tmp_path / "tui.json",
                     refresh_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        predict = app.screen
        assert isinstance(predict, PredictScreen)
        await wait_until(pilot, lambda: predict._ready)
        await pilot.press(*"the cat sat on the mat")
        await wait_until(pilot, lambda: predict.prediction is not None
                         and predict.prediction.text == "the cat sat on the mat")
        assert len(predict.query_one(WordTagTable).rows_shown) == 6
        await pilot.press("tab")                                      # the word table, then down to "cat"
        assert isinstance(app.focused, WordTagTable)
        await pilot.press("down")
        assert app.focused.cursor_row == 1
        await pilot.press("ctrl+t")
        await pilot.pause()
        attention = app.screen
        assert isinstance(attention, AttentionScreen)
        await wait_until(pilot, lambda: attention.result is not None
                         and attention.query_one("#att-text").value == "the cat sat on the mat")
        await settle(pilot)
        assert attention.word == "cat" and attention.row == 2
