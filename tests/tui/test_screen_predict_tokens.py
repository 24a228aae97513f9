"""The Predict screen on token-classification models (the hand-crafted tagger of tests/crafted_tagger.py, whose tags
are known): as the user types, the sentence shows each entity highlighted in its type's theme colour with its type,
over a legend of the model's types; a table gives each word's tag and probability; answers to older requests are
dropped; a file of sentences becomes JSONL with words, tags and entities; POS-like tags show word by word, with no
entity colours; and enter keeps a tagged sentence in the history."""

from __future__ import annotations

import json

import pytest
from crafted_tagger import SENTENCE, build_tagger
from screen_apps import ScreenApp, Selection, wait_until
from widget_apps import run_async

from tunelab.themes import theme_color
from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.widgets.entity_sentence import EntitySentence
from tunelab.tui.widgets.word_tags import WordTagTable


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> str:
    return str(build_tagger(tmp_path_factory.mktemp("predict-tagger") / "tagger"))


@pytest.fixture(scope="module")
def pos_tagger(tmp_path_factory) -> str:
    return str(build_tagger(tmp_path_factory.mktemp("predict-pos") / "pos", names=["NN", "VB", "DT", "JJ", "IN"]))


def tagger_app(model: str, text: str | None = None) -> ScreenApp:
    return ScreenApp(lambda: PredictScreen(text=text, model=model), Selection(model=model, data=None))


def highlights(widget: EntitySentence) -> dict[str, object]:
    """Each highlighted stretch of the sentence line, by its text: the background colour it is painted with."""
    text = widget.render()
    line = text.plain.split("\n")[0]
    found = {}
    for span in text.spans:
        style = span.style
        if span.end <= len(line) and getattr(style, "bgcolor", None) is not None:
            found[line[span.start:span.end]] = style.bgcolor
    return found


@run_async
async def test_entities_are_highlighted_by_type_as_the_user_types(tagger):
    app = tagger_app(tagger)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        assert "tags words" in str(screen.query_one("#predict-model").render())
        await pilot.press("ctrl+b")                                     # a tagger reads no pairs: no pair field
        assert not screen.has_class("-pair") and not screen.query_one("#predict-pair-row").display
        await pilot.press(*SENTENCE)
        await wait_until(pilot, lambda: screen.prediction is not None and screen.prediction.text == SENTENCE)
        sentence = screen.query_one(EntitySentence)
        shown = sentence.render().plain.split("\n")
        assert shown[0] == "Angela Merkel PER visited Paris LOC near the table LOC."
        assert shown[1].split() == ["entities", "PER", "LOC"]          # the legend: the model's types, in order
        colours = highlights(sentence)
        loc, per = (theme_color(app, name).rich_color for name in ("entity-1", "entity-2"))   # sorted types: LOC, PER
        assert colours["Angela Merkel"] == per and colours["Paris"] == loc and colours["table"] == loc
        assert colours[" PER"] == per                                   # the type sits inside its highlight
        assert "3 entities in 8 words" in str(screen.query_one("#predict-label").render())

        table = screen.query_one(WordTagTable)
        assert [(w, t) for w, t, _ in table.rows_shown] == [
            ("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Paris", "B-LOC"), ("near", "O"),
            ("the", "O"), ("table", "I-LOC"), (".", "O")]
        assert all(float(p) > 0.9 for _, _, p in table.rows_shown)

        # Edit it: the entities follow the new words.
        await pilot.press("ctrl+u", *"the dog sat on the mat")
        await wait_until(pilot, lambda: screen.prediction.text == "the dog sat on the mat")
        assert sentence.render().plain.split("\n")[0] == "the dog PER sat on the mat LOC"
        assert not sentence.is_stale and not table.has_class("-stale")
        assert [t for _, t, _ in table.rows_shown] == ["O", "B-PER", "O", "O", "O", "B-LOC"]

        # Enter keeps it in the history with its entity types.
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.history) == 1)
        assert screen.history[0]["label"] == "PER LOC" and screen.history[0]["score"] > 0.9


@run_async
async def test_an_answer_to_an_older_request_never_replaces_a_newer_one(tagger):
    app = tagger_app(tagger, text="the cat sat on the mat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        shown = screen.prediction
        old = shown.__class__(**{**shown.__dict__, "text": "an old input", "entities": []})
        screen.post_message(PredictScreen.PredictionReady(screen._seq - 1, old, 0.0))
        await pilot.pause()
        assert screen.prediction is shown
        assert screen.query_one(EntitySentence).prediction is shown
        assert screen.query_one(WordTagTable).prediction is shown


@run_async
async def test_a_file_of_sentences_is_tagged_into_jsonl(tagger, tmp_path):
    source = tmp_path / "sentences.txt"
    source.write_text(f"{SENTENCE}\nthe dog sat on the mat\n", encoding="utf-8")
    app = tagger_app(tagger)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*str(source), "enter", "enter")
        output = tmp_path / "sentences.predictions.jsonl"
        await wait_until(pilot, lambda: output.exists() and "written" in str(screen.query_one("#predict-latency").render()))
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [SENTENCE, "the dog sat on the mat"]
    assert rows[0]["tags"] == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "I-LOC", "O"]
    assert [(e["type"], e["text"]) for e in rows[0]["entities"]] == [("PER", "Angela Merkel"), ("LOC", "Paris"),
                                                                     ("LOC", "table")]
    assert rows[1]["words"] == ["the", "dog", "sat", "on", "the", "mat"]


@run_async
async def test_a_file_of_pairs_is_refused_for_a_tagger(tagger, tmp_path):
    source = tmp_path / "pairs.txt"
    source.write_text("the cat sat\ton the mat\n", encoding="utf-8")
    app = tagger_app(tagger)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*str(source), "enter", "enter")
        await wait_until(pilot, lambda: "not labelled" in str(screen.query_one("#predict-latency").render()))
        assert any("one sentence per line" in n.message for n in app._notifications)
    assert not (tmp_path / "pairs.predictions.jsonl").exists()


@run_async
async def test_tags_without_entities_show_word_by_word_without_colours(pos_tagger):
    app = tagger_app(pos_tagger, text="the cat sat on the mat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        sentence = screen.query_one(EntitySentence)
        rendered = sentence.render()
        assert rendered.plain == "the/NN cat/VB sat/NN on/NN the/NN mat/JJ"    # no legend line
        assert not highlights(sentence)
        assert "6 words tagged" in str(screen.query_one("#predict-label").render())
        assert [t for _, t, _ in screen.query_one(WordTagTable).rows_shown] == ["NN", "VB", "NN", "NN", "NN", "JJ"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.history) == 1)
        assert screen.history[0]["label"] == "6 words"


class GatedTagger:
    """A token model's Predictor whose answers wait for `release` (after the first): the test sees the screen while
    a newer prediction is on its way, whatever the machine's speed."""

    def __init__(self, model: str) -> None:
        import threading

        from tunelab.core.predictor import Predictor

        self._inner = Predictor(model, backend="torch")
        self.release = threading.Event()
        self.answered = 0
        for name in ("name", "backend", "labels", "is_pair", "new_head", "max_length", "per_token"):
            setattr(self, name, getattr(self._inner, name))

    def predict(self, text: str, pair: str | None = None):
        if self.answered:
            self.release.wait(30)
        self.answered += 1
        return self._inner.predict(text, pair)


@run_async
async def test_what_is_shown_dims_until_the_newer_prediction_replaces_it(tagger):
    made = []
    app = ScreenApp(lambda: PredictScreen(text="the cat sat", model=tagger,
                                          predictor_factory=lambda m: made.append(GatedTagger(m)) or made[-1]),
                    Selection(model=tagger, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        first = screen.prediction
        sentence, table = screen.query_one(EntitySentence), screen.query_one(WordTagTable)
        assert not sentence.is_stale
        await pilot.press(*" on the mat")
        await pilot.pause(0.3)                            # past the debounce: the request is out, its answer held
        assert screen.prediction is first and sentence.prediction is first      # the old answer stays, dimmed
        assert sentence.is_stale and table.has_class("-stale")
        made[0].release.set()
        await wait_until(pilot, lambda: screen.prediction.text == "the cat sat on the mat")
        assert not sentence.is_stale and not table.has_class("-stale")
        assert sentence.render().plain.split("\n")[0] == "the cat PER sat on the mat LOC"


@run_async
async def test_words_past_the_maximum_length_say_they_were_not_read(tagger):
    from tunelab.core.predictor import Predictor

    text = "Angela " + "the cat " * 20 + "Paris"
    app = ScreenApp(lambda: PredictScreen(text=text, model=tagger,
                                          predictor_factory=lambda m: Predictor(m, max_length=12)),
                    Selection(model=tagger, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        assert "last 37 words were past the model's maximum length" in str(screen.query_one("#predict-label").render())
        rows = screen.query_one(WordTagTable).rows_shown
        assert rows[-1] == ("Paris", "O", "not read") and rows[0][1] == "B-PER"
