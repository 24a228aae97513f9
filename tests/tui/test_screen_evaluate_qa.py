"""The Evaluate screen on an extractive QA model: exact match and F1 per kind of question (all, HasAns, NoAns, with
their counts), the figure of merit, the best F1 and the best null threshold; the most confident wrong answers,
each with its question and the context around both answers, the predicted span and the gold answer marked in
different colours (the overlap in a third) with a legend; `p` and `a` take the question and the whole context on.
A fixed report (qa_reports.py) for the exact strings, then the tiny QA run of conftest scored through the screen."""

from __future__ import annotations

from qa_reports import CONTEXT, qa_report
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import DataTable
from widget_apps import run_async

from tunelab.themes import theme_color
from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.screens.predict import PredictScreen


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def painted(text, colour) -> list[str]:
    """The stretches of the context (the lines before the legend) painted with `colour` as background, merged where
    they touch."""
    out, last = [], None
    legend = text.plain.rindex("\n")
    for span in sorted(text.spans, key=lambda s: s.start):
        if getattr(span.style, "bgcolor", None) != colour or span.end > legend:
            continue
        if last is not None and span.start == last:
            out[-1] += text.plain[span.start:span.end]
        else:
            out.append(text.plain[span.start:span.end])
        last = span.end
    return out


@run_async
async def test_a_qa_report_shows_squad_scores_and_wrong_answers_marked_in_their_context():
    app = ScreenApp(lambda: EvaluateScreen(report=qa_report()), Selection(model="runs/qa", data="demo-qa"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await settle(pilot)
        report = screen.report
        metrics = cells(screen.query_one("#eval-metrics", DataTable))
        assert [r[0].strip() for r in metrics] == ["★ f1", "exact_match", "best_f1", "best_null_threshold"]
        assert metrics[0][1:] == [f"{report.value:.3f}", "0.333"]                 # beside "no answer" everywhere
        assert metrics[3][1] == "-1.250"
        classes = screen.query_one("#eval-classes", DataTable)
        assert [str(c.label) for c in classes.ordered_columns] == ["kind of question", "EM", "F1", "n"]
        assert cells(classes) == [["all", "0.33", "0.44", "6"], ["HasAns", "0.25", "0.42", "4"],
                                  ["NoAns", "0.50", "0.50", "2"]]
        assert not screen.query_one("#eval-confusion").display

        mistakes = cells(screen.query_one("#eval-mistakes", DataTable))
        assert [r[:3] for r in mistakes] == [                                    # the surest first
            ["0.81", "60%", "13%"], ["0.64", "seven million", "seven million square kilometres"],
            ["0.58", "Peru", "(no answer)"], ["0.41", "(no answer)", "South America"]]
        assert mistakes[0][3].startswith("How much of the rainforest")
        assert "Wrong answers 4 of 4" in str(screen.query_one("#eval-filter").render())

        gold, predicted, both = (theme_color(app, v).rich_color for v in ("success", "error", "warning"))
        example = screen.query_one("#eval-example").content
        lines = example.plain.splitlines()
        assert lines[0] == "Q How much of the rainforest is in Peru?"
        assert painted(example, predicted)[0] == "60%" and "13%" in painted(example, gold)
        assert " predicted  60% 81%   gold  13%" in example.plain                  # the legend names each colour
        await pilot.press("down")                                                # partly right: they overlap
        example = screen.query_one("#eval-example").content
        assert "seven million" in painted(example, both) and " square kilometres" in painted(example, gold)
        assert " both " in example.plain and "F1 0.67" in example.plain
        await pilot.press("down", "down")                                        # said no answer: gold only
        example = screen.query_one("#eval-example").content
        assert painted(example, gold) == ["South America"] and painted(example, predicted) == []
        assert " predicted  (no answer)" in example.plain


@run_async
async def test_p_and_a_take_the_question_and_its_whole_context_on(monkeypatch):
    from tunelab.core.errors import TuneLabError

    def no_model(model, *args, **kwargs):         # the screens' own tests load models; here only the hand-over
        raise TuneLabError("not loaded in this test")

    monkeypatch.setattr("tunelab.core.predictor.Predictor", no_model)
    app = ScreenApp(lambda: EvaluateScreen(report=qa_report()), Selection(model="runs/qa", data="demo-qa"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PredictScreen))
        predict = app.screen
        assert predict.query_one("#predict-text").value == "How much of the rainforest is in Peru?"
        assert predict.query_one("#predict-context").text == CONTEXT
        assert predict.query_one("#predict-pair").value == CONTEXT
        app.pop_screen()
        await pilot.pause()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AttentionScreen))
        attention = app.screen
        assert attention.query_one("#att-text").value == "How much of the rainforest is in Peru?"
        assert attention.query_one("#att-pair").value == CONTEXT and attention.has_class("-pair")


@run_async
async def test_a_tiny_qa_run_is_scored_through_the_screen(tiny_qa_run):
    model = str(tiny_qa_run)
    app = ScreenApp(lambda: EvaluateScreen(model=model), Selection(model=model, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None, timeout=240)
        await settle(pilot)
        report = screen.report
        assert report.figure_of_merit == "f1"
        assert [r[0] for r in cells(screen.query_one("#eval-classes", DataTable))] == ["all", "HasAns", "NoAns"]
        assert sum(r["support"] for r in report.per_class[1:]) == report.per_class[0]["support"] == report.examples
        if report.mistakes:
            m = screen.selected_mistake
            text = str(screen.query_one("#eval-example").render())
            assert text.startswith(f"Q {m['question']}") and f"gold  {m['gold']}" in text


@run_async
async def test_a_qa_report_without_wrong_answers_says_so():
    from dataclasses import replace

    report = replace(qa_report(), mistakes=[], scores={**qa_report().scores, "exact_match": 1.0})
    app = ScreenApp(lambda: EvaluateScreen(report=report), Selection(model="runs/qa", data="demo-qa"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await settle(pilot)
        assert screen.has_class("-answers")
        assert "Wrong answers 0 of 0" in str(screen.query_one("#eval-filter").render())
        assert [str(c.label) for c in screen.query_one("#eval-mistakes", DataTable).ordered_columns] == \
            ["p", "predicted", "gold", "question"]
        assert "no mistakes to show" in str(screen.query_one("#eval-example").render())


def test_gold_answers_given_several_times_are_shown_once():
    from tunelab.tui.screens.evaluate import gold_text

    m = {"gold": "Denver Broncos | Denver Broncos | the Broncos",
         "spans": {"gold_answers": ["Denver Broncos", "Denver Broncos", "the Broncos"]}}
    assert gold_text(m) == "Denver Broncos | the Broncos"
    assert gold_text({"gold": "(no answer)", "spans": {"gold_answers": []}}) == "(no answer)"
