"""The Evaluate screen on a token-classification model: a crafted tagger (tests/crafted_tagger.py: each word's tag is
set by its first sub-word, so its mistakes are known) scored on tiny NER data. The per-type table, the entity-type
confusion (with O), the sentences with the most entity errors and their typed errors, the gold and predicted
entities of the selected sentence, filtering by a confusion cell, and `p` / `a` sending the sentence on; then a
fixed report on a narrow screen (the grid and the per-type table by turns) and POS-style tags (no entities)."""

from __future__ import annotations

import pytest
from conftest import write_jsonl
from crafted_tagger import build_tagger
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import DataTable
from token_reports import token_report
from widget_apps import run_async

from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.screens.evaluate import EvaluateScreen, error_summary, mistake_pairs
from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.widgets.confusion import ConfusionGrid

EQN = "classify_tokens: ner_tags ~ tokens"
POS = {"O": "DT", "B-PER": "NN", "I-PER": "VB", "B-LOC": "JJ", "I-LOC": "IN"}   # the tagger's tags renamed
# words the crafted tagger reads as: a B-PER, m I-PER, p B-LOC, cat/dog B-PER, mat B-LOC, table I-LOC, others O
ROWS = [
    (["the", "cat", "sat", "near", "p"], ["O", "B-PER", "O", "O", "B-LOC"]),                     # right
    (["a", "big", "m", "is", "happy"], ["B-PER", "I-PER", "I-PER", "O", "O"]),                   # PER cut in two
    (["the", "keys", "are", "on", "the", "mat"], ["O", "B-LOC", "O", "O", "O", "O"]),            # missed, spurious
    (["the", "dog", "ran", "near", "the", "table"], ["O", "B-LOC", "O", "O", "O", "B-LOC"]),     # wrong type
]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("evaluate-tokens")
    data = root / "ner"
    data.mkdir()
    write_jsonl(data / "test.jsonl", [{"tokens": w, "ner_tags": t} for w, t in ROWS])
    write_jsonl(data / "pos.jsonl", [{"tokens": w, "pos_tags": [POS[x] for x in t]} for w, t in ROWS])
    return {"model": str(build_tagger(root / "tagger")), "data": str(data / "test.jsonl"),
            "pos": str(build_tagger(root / "pos", names=list(POS.values()))), "pos_data": str(data / "pos.jsonl")}


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def evaluate_app(tagged, model: str = "model", data: str = "data", eqn: str = EQN) -> ScreenApp:
    model, data = tagged[model], tagged[data]
    return ScreenApp(lambda: EvaluateScreen(model=model, data=data), Selection(model=model, data=data, eqn=eqn))


@run_async
async def test_a_token_model_shows_per_type_scores_the_entity_confusion_and_typed_errors(tagged):
    app = evaluate_app(tagged)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        report = screen.report
        assert report.figure_of_merit == "entity_f1" and report.labels == ["LOC", "PER"]

        classes = screen.query_one("#eval-classes", DataTable)
        assert str(classes.ordered_columns[0].label) == "entity type"      # the report's per_class_title
        rows = cells(classes)
        assert [r[0] for r in rows] == ["LOC", "PER"]
        loc = report.per_class[0]
        assert rows[0][1:] == [f"{loc['precision']:.2f}", f"{loc['recall']:.2f}", f"{loc['f1']:.2f}", str(loc["support"])]

        grid = screen.query_one(ConfusionGrid)
        assert grid._labels == ["LOC", "PER", "O"] and grid._counts == report.entity_confusion
        assert grid.display and classes.display                           # side by side at 120 columns

        # the sentences with the most entity errors first, each error typed
        mistakes = cells(screen.query_one("#eval-mistakes", DataTable))
        assert [(r[0], r[1], r[2]) for r in mistakes] == [
            ("2", "boundary ×2", "a big m is happy"),
            ("2", "missed, spurious", "the keys are on the mat"),
            ("1", "type", "the dog ran near the table")]
        example = str(screen.query_one("#eval-example").render())
        assert "gold [a big m]PER is happy" in example and "pred [a]PER big [m]PER is happy" in example
        assert "wrong boundary PER 'a big m' read as 'a'" in example

        await pilot.press("down")
        example = str(screen.query_one("#eval-example").render())
        assert "gold the [keys]LOC are on the mat" in example and "pred the keys are on the [mat]LOC" in example
        assert "missed LOC 'keys'" in example and "spurious LOC 'mat'" in example
        await pilot.press("down")
        example = str(screen.query_one("#eval-example").render())
        assert "pred the [dog]PER ran" in example and "wrong type 'dog' LOC read as PER" in example

        # a confusion cell (gold LOC, predicted O: missed LOC entities) filters the sentences
        grid.focus()
        await pilot.press("right", "right", "enter")
        assert screen._filters == {"gold": "LOC", "predicted": "O"}
        assert [r[2] for r in cells(screen.query_one("#eval-mistakes", DataTable))] == ["the keys are on the mat"]
        await pilot.press("c")
        await pilot.press("t")                                            # true type: LOC (wrong type, missed)
        assert [r[2] for r in cells(screen.query_one("#eval-mistakes", DataTable))] == [
            "the keys are on the mat", "the dog ran near the table"]


@run_async
async def test_p_and_a_send_the_selected_sentence_to_predict_and_attention(tagged, monkeypatch):
    from tunelab.core.errors import TuneLabError

    def no_predictor(model, *args, **kwargs):     # what Predict shows of a token model is its own screen's test
        raise TuneLabError("not loaded in this test")

    monkeypatch.setattr("tunelab.core.predictor.Predictor", no_predictor)
    app = evaluate_app(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        evaluate = app.screen
        await wait_until(pilot, lambda: evaluate.report is not None)
        await settle(pilot)
        await pilot.press("down")
        chosen = evaluate.selected_mistake
        assert chosen["text"] == "the keys are on the mat"
        await pilot.press("p")
        await pilot.pause()
        predict = app.screen
        assert isinstance(predict, PredictScreen)
        assert predict.query_one("#predict-text").value == "the keys are on the mat"
        app.pop_screen()
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        attention = app.screen
        assert isinstance(attention, AttentionScreen)
        assert attention.query_one("#att-text").value == "the keys are on the mat"
        await wait_until(pilot, lambda: attention.result is not None)


@run_async
async def test_a_narrow_screen_shows_the_table_or_the_grid_by_turns():
    app = ScreenApp(lambda: EvaluateScreen(report=token_report()), Selection(model="runs/ner"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        classes, grid = screen.query_one("#eval-classes", DataTable), screen.query_one(ConfusionGrid)
        assert classes.display and not grid.display
        assert [r[0] for r in cells(classes)] == ["LOC", "MISC", "ORG", "PER"]
        assert str(screen.query_one("#eval-filter").render()).endswith("g: confusion")
        await pilot.press("g")
        assert grid.display and not classes.display and grid._labels == ["LOC", "MISC", "ORG", "PER", "O"]
        assert str(screen.query_one("#eval-filter").render()).endswith("g: per type")
        await pilot.press("g")
        assert classes.display and not grid.display
        assert cells(screen.query_one("#eval-mistakes", DataTable))[0][1] == "boundary, type"


@run_async
async def test_words_past_the_maximum_length_are_a_metric_row():
    import dataclasses

    report = dataclasses.replace(token_report(), words_cut=1234)
    app = ScreenApp(lambda: EvaluateScreen(report=report), Selection(model="runs/ner"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = cells(app.screen.query_one("#eval-metrics", DataTable))
        assert ["  words cut (missed)", "1,234", ""] in rows
        assert not any("words cut" in row[0] for row in cells(app.screen.query_one("#eval-classes", DataTable)))


def test_mistake_pairs_name_what_the_grid_names():
    report = token_report()
    first = report.mistakes[0]                     # Angela Merkel cut short, Paris read as ORG
    assert mistake_pairs(first) == {("PER", "PER"), ("LOC", "ORG")} and error_summary(first) == "boundary, type"
    assert mistake_pairs({"text": "x", "gold": "a", "predicted": "b", "confidence": 0.9}) == {("a", "b")}
    tags = {"words": ["the", "cat"], "gold_tags": ["DT", "NN"], "pred_tags": ["DT", "VB"], "errors": 1, "text": "the cat"}
    assert mistake_pairs(tags) == {("NN", "VB")} and error_summary(tags) == "NN→VB"


@run_async
async def test_tags_without_entities_list_the_wrong_words(tagged):
    app = evaluate_app(tagged, "pos", "pos_data", "classify_tokens: pos_tags ~ tokens")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None or bool(app._notifications))
        await settle(pilot)
        assert screen.report is not None, [n.message for n in app._notifications]
        assert str(screen.query_one("#eval-classes", DataTable).ordered_columns[0].label) == "tag"
        rows = cells(screen.query_one("#eval-mistakes", DataTable))
        assert rows and all("→" in r[1] for r in rows)
        example = str(screen.query_one("#eval-example").render())
        assert example.startswith("gold ") and "read as" in example


@run_async
async def test_entity_colours_follow_the_theme():
    app = ScreenApp(lambda: EvaluateScreen(report=token_report()), Selection(model="runs/ner"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        example = app.screen.query_one("#eval-example")

        def per_colour() -> str:          # the colour of the first gold entity, [Angela Merkel]PER
            text = example.render()
            start = str(text).index("[Angela")
            return next(str(span.style.foreground) for span in text.spans if span.start <= start < span.end)

        before = per_colour()
        app.theme = "tunelab-light"
        await pilot.pause()
        assert per_colour() != before


@run_async
async def test_a_token_model_without_mistakes_says_so_in_its_own_terms():
    import dataclasses

    report = dataclasses.replace(token_report(), mistakes=[])
    app = ScreenApp(lambda: EvaluateScreen(report=report), Selection(model="runs/ner"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#eval-mistakes", DataTable)
        assert [str(c.label) for c in table.ordered_columns] == ["err", "errors", "sentence"]
        assert "Sentences with errors 0 of 0" in str(app.screen.query_one("#eval-filter").render())
        assert "no mistakes to show" in str(app.screen.query_one("#eval-example").render())
