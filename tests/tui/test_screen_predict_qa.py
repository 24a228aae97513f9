"""The Predict screen on an extractive QA model: a question field and a context area; as either changes, the best
answer is highlighted in the context (in the theme's accent), with its probability, the next answers and the
probability of no answer; "no answer" is said in words and nothing is highlighted; enter keeps the question and
its answer; a long pasted context is read whole (in windows the user never sees). A stand-in reader with known
answers (qa_readers.py) for the exact strings, then the tiny QA run of conftest for the real thing."""

from __future__ import annotations

from qa_readers import FixedReader
from screen_apps import ScreenApp, Selection, wait_until
from textual.events import Paste
from widget_apps import run_async

from tunelab.themes import theme_color
from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.widgets.context_area import ContextArea

CONTEXT = "this is good . the dog sat near the red cabinet . the cat sat near the mat ."


def reader_app(**preset) -> ScreenApp:
    return ScreenApp(lambda: PredictScreen(predictor_factory=lambda model: FixedReader(), **preset),
                     Selection(model="runs/qa", data=None))


def highlighted(area: ContextArea, colour) -> list[str]:
    """The stretches of the context area's lines painted with `colour` as their background, as drawn."""
    found = []
    for y in range(area.size.height):
        run = ""
        for segment in area.render_line(y):
            if segment.style is not None and segment.style.bgcolor == colour:
                run += segment.text
            elif run:
                found.append(run)
                run = ""
        if run:
            found.append(run)
    return found


def shown(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


@run_async
async def test_the_answer_is_highlighted_in_the_context_as_the_user_types():
    app = reader_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        assert screen.reads_context and screen.has_class("-context")
        assert "answers a question from the context" in shown(screen, "#predict-model")
        assert screen.query_one("#predict-context-row").display and not screen.query_one("#predict-pair-row").display
        await pilot.press(*"where the dog sat ?", "tab")
        area = screen.query_one(ContextArea)
        assert screen.focused is area
        await pilot.press(*CONTEXT)
        await wait_until(pilot, lambda: screen.prediction is not None and screen.prediction.context == CONTEXT)
        await pilot.pause()
        accent = theme_color(app, "accent").rich_color
        assert area.answer_shown == "red cabinet"
        assert highlighted(area, accent) == ["red cabinet"]
        assert "answer red cabinet  0.870" in shown(screen, "#predict-label")
        more = shown(screen, "#predict-answer-more")
        assert "next  the red cabinet 0.060 · mat 0.020" in more      # the next answers, best first
        assert "no answer 0.030" in more

        # Another theme: the highlight takes its accent.
        from tunelab.themes import THEMES

        app.theme = THEMES[1].name
        await pilot.pause()
        light = theme_color(app, "accent").rich_color
        assert light != accent and highlighted(area, light) == ["red cabinet"]
        app.theme = THEMES[0].name
        await pilot.pause()

        # Edit the context: the highlight moves with the answer.
        area.text = CONTEXT.replace("the dog sat near the red cabinet", "the cat sat near the red cabinet") \
                           .replace("the cat sat near the mat", "the dog sat near the small mat")
        await wait_until(pilot, lambda: screen.prediction.context == area.text)
        await pilot.pause()
        assert highlighted(area, accent) == ["small mat"] and area.answer_shown == "small mat"

        # A question the context does not answer: "no answer", said plainly, nothing highlighted.
        screen.query_one("#predict-text").focus()
        await pilot.press("ctrl+u", *"where the girl sat ?")
        await wait_until(pilot, lambda: screen.prediction.question == "where the girl sat ?")
        await pilot.pause()
        assert "no answer  0.910" in shown(screen, "#predict-label")
        assert "finds no answer in the context" in shown(screen, "#predict-label")
        assert area.answer_shown is None and highlighted(area, accent) == []
        assert "small mat" in shown(screen, "#predict-answer-more")      # the best span is still offered

        # Enter keeps the question with its answer.
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.history) == 1)
        assert screen.history[0]["text"] == "where the girl sat ?" and screen.history[0]["label"] == "(no answer)"
        assert screen.history[0]["pair"] == area.text


@run_async
async def test_an_input_handed_over_fills_the_question_and_the_context():
    app = reader_app(text="where the cat sat ?", pair=CONTEXT)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        assert screen.query_one(ContextArea).text == CONTEXT
        assert screen.prediction.answer == "mat" and screen.query_one(ContextArea).answer_shown == "mat"
        screen.show_input("where the dog sat ?", CONTEXT)
        await wait_until(pilot, lambda: screen.prediction.question == "where the dog sat ?")
        assert screen.query_one(ContextArea).answer_shown == "red cabinet"


@run_async
async def test_a_long_pasted_context_is_answered_with_a_tiny_qa_run(tiny_qa_run):
    """A context several times the run's --max-length (64 tokens), pasted: the answer comes back as a span of the
    whole context, highlighted where it is; the screen never mentions windows."""
    model = str(tiny_qa_run)
    app = ScreenApp(lambda: PredictScreen(model=model), Selection(model=model, data=None))
    long = (" . ".join(["this is good"] * 25) + " . the dog sat near the big table . "
            + " . ".join(["that was big"] * 10))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready, timeout=120)
        assert screen.reads_context
        await pilot.press(*"where the dog sat ?")
        area = screen.query_one(ContextArea)
        area.focus()
        app.post_message(Paste(long))                          # as the terminal sends it: to the focused widget
        await wait_until(pilot, lambda: screen.prediction is not None and screen.prediction.context == long,
                         timeout=120)
        await pilot.pause()
        assert area.text == long
        p = screen.prediction
        assert p.windows > 1                                   # the model read it in windows
        label = shown(screen, "#predict-label")
        if p.start is None:
            assert "no answer" in label and area.answer_shown is None
        else:
            assert area.answer_shown == p.answer == long[p.start:p.end] and p.answer in label
        assert "window" not in label + shown(screen, "#predict-answer-more") + shown(screen, "#predict-latency")


@run_async
async def test_a_file_of_questions_and_contexts_is_answered_into_jsonl(tmp_path):
    import json

    source = tmp_path / "questions.tsv"
    source.write_text(f"where the dog sat ?\t{CONTEXT}\nwhere the boy sat ?\t{CONTEXT}\n", encoding="utf-8")
    app = reader_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*str(source), "enter", "enter")
        output = tmp_path / "questions.predictions.jsonl"
        await wait_until(pilot, lambda: output.exists() and "written" in shown(screen, "#predict-latency"))
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [(r["question"], r["answer"]) for r in rows] == [("where the dog sat ?", "red cabinet"),
                                                            ("where the boy sat ?", "")]
    assert rows[0]["start"] == CONTEXT.index("red cabinet") and rows[1]["no_answer_probability"] == 0.91


@run_async
async def test_an_answer_pages_down_a_long_context_is_scrolled_into_view():
    app = reader_app(text="where the dog sat ?")
    long = "\n".join(["this is good ."] * 60) + "\nthe dog sat near the red cabinet ."
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        area = screen.query_one(ContextArea)
        assert screen.focused is not area
        area.text = long                                   # as a paste would leave it, the question still focused
        await wait_until(pilot, lambda: screen.prediction is not None and screen.prediction.context == long)
        await pilot.pause()
        assert area.scroll_offset.y > 0
        assert highlighted(area, theme_color(app, "accent").rich_color) == ["red cabinet"]    # on screen
