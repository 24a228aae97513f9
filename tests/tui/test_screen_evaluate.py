"""The Evaluate screen on a tiny fine-tuned model and a labelled file with some labels flipped (so there are
confident mistakes): the metrics show the figure of merit beside the majority baseline, the confusion grid and
per-class table match the report, the mistakes browser filters by true and predicted class, `p` and `a` send the
selected mistake on, and cancelling or a model without a trained head ends in a message, not a traceback."""

from __future__ import annotations

import json

import pytest
from conftest import build_tiny_bert, train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import DataTable
from widget_apps import run_async

from tunelab.tui.screens.attention import AttentionScreen
from tunelab.tui.screens.evaluate import EvaluateScreen, split_pair
from tunelab.tui.screens.predict import PredictScreen
from tunelab.tui.widgets.confusion import ConfusionGrid


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("evaluate-screen")
    data = write_toy_splits(root / "toy")
    run = train_tiny(root, data, epochs=6, lr=2e-3).run_dir
    rows = [json.loads(line) for line in (data / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    for i, row in enumerate(rows):  # every third label flipped: the model's confident answers become mistakes
        if i % 3 == 0:
            row["label"] = "unacceptable" if row["label"] == "acceptable" else "acceptable"
    flipped = root / "flipped.jsonl"
    flipped.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {"run": run, "flipped": str(flipped), "base": str(root / "base")}


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@run_async
async def test_scores_a_labelled_file_and_browses_the_mistakes(tiny):
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run=tiny["run"], data=tiny["flipped"]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        report = screen.report
        assert report.examples == 40 and report.labels == ["acceptable", "unacceptable"]

        metrics = cells(screen.query_one("#eval-metrics", DataTable))
        assert metrics[0] == [f"★ {report.figure_of_merit}", f"{report.value:.3f}", f"{report.majority_baseline:.3f}"]
        assert any(row[0].strip() == "accuracy" for row in metrics[1:])
        grid = screen.query_one(ConfusionGrid)
        assert grid._counts == report.confusion
        assert [row[0] for row in cells(screen.query_one("#eval-classes", DataTable))] == report.labels

        mistakes = screen.query_one("#eval-mistakes", DataTable)
        wrong = sum(sum(row) - row[i] for i, row in enumerate(report.confusion))
        assert wrong >= 5 and mistakes.row_count == wrong == len(report.mistakes)
        confidences = [float(row[0]) for row in cells(mistakes)]
        assert confidences == sorted(confidences, reverse=True)

        await pilot.press("t")  # true class: acceptable
        assert {row[1] for row in cells(mistakes)} == {"acceptable"}
        assert mistakes.row_count == report.confusion[0][1]
        await pilot.press("o", "o")  # predicted: acceptable, then unacceptable
        assert {(row[1], row[2]) for row in cells(mistakes)} <= {("acceptable", "unacceptable")}
        await pilot.press("c")
        assert mistakes.row_count == wrong

        # A confusion cell filters both ways at once.
        grid.focus()
        await pilot.press("down", "enter")
        assert screen._filters == {"gold": "unacceptable", "predicted": "acceptable"}
        assert mistakes.row_count == report.confusion[1][0]
        assert "unacceptable" in str(screen.query_one("#eval-filter").render())


@run_async
async def test_sends_the_selected_mistake_to_predict_and_attention(tiny):
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run=tiny["run"], data=tiny["flipped"]))
    async with app.run_test(size=(80, 24)) as pilot:
        evaluate = app.screen
        await wait_until(pilot, lambda: evaluate.report is not None)
        await settle(pilot)
        await pilot.press("down")
        chosen = evaluate.selected_mistake
        assert chosen == evaluate.report.mistakes[1]
        await pilot.press("p")
        await pilot.pause()
        predict = app.screen
        assert isinstance(predict, PredictScreen)
        assert predict.query_one("#predict-text").value == chosen["text"]
        await wait_until(pilot, lambda: predict.prediction is not None)
        assert predict.prediction.text == chosen["text"] and predict.prediction.label == chosen["predicted"]
        app.pop_screen()
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        attention = app.screen
        assert isinstance(attention, AttentionScreen)
        await wait_until(pilot, lambda: attention.result is not None)
        assert attention.query_one("#att-text").value == chosen["text"]


@run_async
async def test_cancel_drops_the_result(tiny, monkeypatch):
    import threading

    import tunelab.core.evaluation as evaluation

    release, calls = threading.Event(), []

    def slow_evaluate(*args, **kwargs):  # scoring that takes as long as the test wants
        calls.append(args)
        release.wait(30)
        return object()

    monkeypatch.setattr(evaluation, "evaluate_model", slow_evaluate)
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run=tiny["run"], data=tiny["flipped"]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: bool(calls))
        assert screen.has_class("-running")
        await pilot.press("x")
        assert not screen.has_class("-running")
        assert "cancelled" in str(screen.query_one("#eval-message").render())
        release.set()
        await settle(pilot)
        assert screen.report is None  # the scoring finished in the background and was dropped
        assert "cancelled" in str(screen.query_one("#eval-message").render())


@run_async
async def test_a_model_without_a_trained_head_is_a_notification(tiny):
    app = ScreenApp(lambda: EvaluateScreen(model=tiny["base"], data="demo"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications))
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("no trained classification head" in m for m in messages), messages
        assert "not scored" in str(app.screen.query_one("#eval-message").render())
        assert app.screen.report is None


def test_pairs_come_back_apart():
    assert split_pair("a cat [SEP] the cat") == ("a cat", "the cat")
    assert split_pair("one sentence") == ("one sentence", None)


@run_async
async def test_the_bundled_model_waits_for_a_run():
    app = ScreenApp(lambda: EvaluateScreen(), Selection())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.has_class("-running") and not list(app.workers)
        assert "no trained head" in str(screen.query_one("#eval-message").render())


def test_r_while_scoring_waits_for_the_scoring_under_way(tiny, tmp_path):
    """A second `r` right after the first, in a fresh process: the two scorings imported transformers at once in
    two threads ("ImportError: cannot import name 'AutoTokenizer'") and the screen said "failed"."""
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).parents[1]
    code = f"""
import asyncio, sys
sys.path[:0] = [{str(tests)!r}, {str(tests / 'tui')!r}]
from screen_apps import ScreenApp, Selection, settle
from tunelab.tui.screens.evaluate import EvaluateScreen
async def main():
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run={tiny['run']!r}, model={tiny['run']!r}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.action_run()
        await settle(pilot)
        print("NOTES", [n.message for n in app._notifications])
        print("REPORT", app.screen.report is not None)
asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NOTES []" in done.stdout and "REPORT True" in done.stdout, done.stdout
