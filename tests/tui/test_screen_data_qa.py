"""The Data screen on extractive QA data: `--data demo-qa` picks `classify_spans: answers ~ question + context` by
itself; a file of SQuAD-shaped rows gets that equation guessed; the builder offers classify_spans with a question
and a context picker; the preview shows the question and the context cut around its answer, the answer marked in
the theme's accent, and the highlighted row whole below (question, answer, context); the max length hint is QA's
384."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import QA_EQN, build_tiny_bert, toy_qa_rows, write_jsonl
from fixtures.app_factory import install_runs, make_app
from test_app_screens import wait_for
from textual.widgets import DataTable, Input, Select, Static
from widget_apps import run_async

from tunelab.themes import theme_color
from tunelab.tui.screens.data import guess_span_equation
from tunelab.tui.selection import Selection

SIZE = (80, 24)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert", max_positions=512)   # QA reads 384


def summary_of(app) -> str:
    return str(app.screen.query_one("#data-summary-text", Static).render())


def marked(text, colour) -> list[str]:
    """The stretches of a Rich Text painted with `colour` as background."""
    return [text.plain[s.start:s.end] for s in text.spans if getattr(s.style, "bgcolor", None) == colour]


@run_async
async def test_demo_qa_picks_its_equation_and_previews_questions_with_marked_answers(workdir, tiny_model):
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="demo-qa"), start="data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "unanswerable" in summary_of(app), timeout=240, what="the summary")
        screen = app.screen
        assert screen.query_one("#data-eqn", Input).value == QA_EQN
        assert screen.query_one("#eqn-task", Select).value == "classify_spans"
        assert screen.query_one("#eqn-input", Select).value == "question"
        pair = screen.query_one("#eqn-pair", Select)
        assert pair.value == "context" and not pair.disabled
        assert screen.query_one("#data-max-length", Input).placeholder == "384"
        assert app.selection.eqn == QA_EQN

        preview = screen.query_one("#data-preview", DataTable)
        await wait_for(pilot, lambda: preview.row_count > 0, timeout=60, what="the preview")
        assert [str(c.label) for c in preview.ordered_columns][:2] == ["question", "context"]
        rows = screen._rows
        accent = theme_color(app, "accent").rich_color
        answerable = next(i for i, r in enumerate(rows) if r["answers"]["text"])
        first = rows[answerable]["answers"]["text"][0]
        assert marked(preview.get_row_at(answerable)[1], accent) == [first]      # the answer, marked in its context
        assert str(preview.get_row_at(answerable)[0]).startswith(rows[answerable]["question"][:8])

        preview.focus()
        preview.move_cursor(row=answerable)
        await pilot.pause()
        view = screen.query_one("#data-row", Static)
        lines = str(view.render()).splitlines()
        assert lines[0] == f"Q {rows[answerable]['question']}"
        assert lines[1] == f"A {first}"
        unanswerable = next(i for i, r in enumerate(rows) if not r["answers"]["text"])
        preview.move_cursor(row=unanswerable)
        await pilot.pause()
        assert str(view.render()).splitlines()[1] == "A (no answer)"


@run_async
async def test_squad_shaped_rows_get_the_qa_equation_guessed(workdir, tiny_model):
    (workdir / "qa").mkdir()
    for split, seed in (("train", 0), ("validation", 1), ("test", 2)):
        write_jsonl(workdir / "qa" / f"{split}.jsonl", toy_qa_rows(12, seed))
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="qa"), start="data")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "unanswerable" in summary_of(app), timeout=240, what="the summary")
        screen = app.screen
        assert screen.query_one("#data-eqn", Input).value == QA_EQN
        preview = screen.query_one("#data-preview", DataTable)
        assert [str(c.label) for c in preview.ordered_columns] == ["question", "context", "answers"]
        rows = toy_qa_rows(12, 0)
        assert [str(preview.get_row_at(i)[2]) for i in range(3)] == \
            [(r["answers"]["text"] or ["(no answer)"])[0] for r in rows[:3]]


def test_the_qa_equation_is_guessed_from_squad_shaped_answers():
    row = {"id": "1", "title": "t", "question": "q ?", "context": "c", "answers": {"text": ["c"], "answer_start": [0]}}
    assert guess_span_equation(list(row), [row]) == ("answers", "question", "context")
    other = {"id": "1", "query": "q ?", "passage": "c", "gold": {"text": [], "answer_start": []}}
    assert guess_span_equation(list(other), [other]) == ("gold", "query", "passage")
    assert guess_span_equation(["label", "sentence"], [{"label": 1, "sentence": "s"}]) is None
