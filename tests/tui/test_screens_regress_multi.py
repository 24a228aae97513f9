"""The Data, Evaluate and Predict screens on a regression with several outputs (`regress: valence + arousal + dominance
~ word`): the builder composes the equation from the keyboard, an output at a time; the summary gives each output's
values, the evaluation one score row per output (both used to assume a single label column and raised on the nested
rows), and Predict a bar per output, named, with its value, on that output's range in training."""

from __future__ import annotations

import pytest
from conftest import VAD_CUES, VAD_OUTPUTS, build_tiny_bert, write_vad_csv
from fixtures.app_factory import make_app
from screen_apps import ScreenApp, Selection, settle, wait_until
from textual.widgets import DataTable, Input, Select, Static
from widget_apps import run_async

from tunelab.tui.screens.evaluate import EvaluateScreen
from tunelab.tui.screens.predict import PredictScreen, short_value
from tunelab.tui.widgets.output_bars import OutputBars
from tunelab.tui.widgets.probability_bars import ProbabilityBars
from tunelab.tui.selection import Selection as AppSelection

EQN = "regress: valence + arousal + dominance ~ word"


@pytest.fixture(scope="module")
def vad(tmp_path_factory) -> dict:
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("vad-screens")
    data = write_vad_csv(root / "data")
    base = build_tiny_bert(root / "base")
    result = fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(root / "run"), epochs=4, lr=2e-3,
                           batch_size=16, warmup=0))
    return {"run": result.run_dir, "data": str(data), "base": str(base)}


@run_async
async def test_data_screen_gives_each_outputs_values(vad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, selection=AppSelection(model=vad["base"], data=vad["data"], eqn=EQN), start="data")
    async with app.run_test(size=(80, 24)) as pilot:
        summary = app.screen.query_one("#data-summary-text", Static)
        await wait_until(pilot, lambda: "label values" in str(summary.render()))
        lines = str(summary.render()).splitlines()
        header = lines.index("label values (train)")
        assert lines[header + 1].split() == ["mean", "std", "range"]
        for i, output in enumerate(VAD_OUTPUTS):           # a row each, fitting the summary's column unwrapped
            values = [cue[i] for cue in VAD_CUES.values()]
            row = lines[header + 2 + i].split()
            assert row[0] == output and row[3] == f"{min(values):.3g}…{max(values):.3g}"


@run_async
async def test_evaluate_screen_gives_one_score_row_per_output(vad):
    app = ScreenApp(lambda: EvaluateScreen(), Selection(run=vad["run"]))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        table = screen.query_one("#eval-classes", DataTable)
        assert [str(c.label) for c in table.ordered_columns][1:4] == ["pearson", "spearman", "mse"]
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["valence", "arousal", "dominance"]
        by_name = {row["label"]: row for row in screen.report.per_class}
        assert rows[0][1] == f"{by_name['valence']['pearson']:.2f}"


# ---------------------------------------------------------------- the Data screen's builder

async def pick(pilot, select: Select, value: str) -> None:
    """Choose `value` in a picker from the keyboard: focus, enter, arrows down to it, enter."""
    select.focus()
    await pilot.press("enter")
    await pilot.pause()
    values = [v for _, v in select._options]
    overlay = select.query_one("SelectOverlay")
    for _ in range(len(values)):
        if values[overlay.highlighted] == value:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


def shown(widget) -> str:
    return str(widget.render())


@run_async
async def test_the_builder_composes_a_regression_with_several_outputs(vad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, selection=AppSelection(model=vad["base"], data=vad["data"]), start="data")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: bool(screen.columns))
        eqn, row = screen.query_one("#data-eqn", Input), screen.query_one("#eqn-outputs-row")
        more, outputs = screen.query_one("#eqn-more", Select), screen.query_one("#eqn-outputs", Static)
        assert not row.display                                       # classify: one label, as ever
        await pick(pilot, screen.query_one("#eqn-task", Select), "regress")
        await pick(pilot, screen.query_one("#eqn-label", Select), "valence")
        await pick(pilot, screen.query_one("#eqn-input", Select), "word")
        assert eqn.value == "regress: valence ~ word"
        assert row.display and shown(outputs) == "one output: valence"
        assert [str(text) for text, _ in more._options[1:]] == ["+ arousal", "+ dominance"]   # numbers, not word
        await pick(pilot, more, "arousal")
        assert eqn.value == "regress: valence + arousal ~ word"
        await pick(pilot, more, "dominance")
        assert eqn.value == EQN
        assert shown(outputs) == "3 outputs: valence + arousal + dominance"
        assert [str(text) for text, _ in more._options[1:]] == ["− valence", "− arousal", "− dominance"]
        summary = screen.query_one("#data-summary-text", Static)
        await wait_until(pilot, lambda: "dominance " in shown(summary) and app.selection.eqn == EQN, timeout=120)

        await pick(pilot, more, "valence")                           # dropping the first: the next is the label
        assert eqn.value == "regress: arousal + dominance ~ word"
        assert screen.query_one("#eqn-label", Select).value == "arousal"
        eqn.value = EQN                                              # typed: the pickers follow
        await pilot.pause()
        assert screen.query_one("#eqn-label", Select).value == "valence" and "3 outputs" in shown(outputs)
        await pick(pilot, screen.query_one("#eqn-task", Select), "classify")    # a task of one output
        assert eqn.value == "classify: valence ~ word" and not row.display


@run_async
async def test_the_builder_of_a_single_output_is_as_it_was(toy_data, tiny_bert, tmp_path, monkeypatch):
    """No numeric column to add (the toy task's label is a word) and one output: no outputs row, same equation."""
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, selection=AppSelection(model=str(tiny_bert), data=str(toy_data)), start="data")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: bool(screen.columns))
        eqn = screen.query_one("#data-eqn", Input)
        assert eqn.value == "classify: label ~ sentence"             # guessed, as before
        await pick(pilot, screen.query_one("#eqn-task", Select), "regress")
        assert eqn.value == "regress: label ~ sentence" and not screen.query_one("#eqn-outputs-row").display


# ---------------------------------------------------------------- the Predict screen

@run_async
async def test_predict_shows_a_named_bar_per_output_with_its_value(vad):
    from tunelab.core.predictor import Predictor

    text = "the dog is sad ."
    app = ScreenApp(lambda: PredictScreen(text=text), Selection(model=vad["run"]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        await pilot.pause()
        assert "regression · 3 outputs" in shown(screen.query_one("#predict-model", Static))   # not "3 classes"
        assert "3 outputs" in shown(screen.query_one("#predict-label", Static))
        assert "each output's range in training" in shown(screen.query_one("#predict-label", Static))
        bars = screen.query_one(OutputBars)
        assert bars.display and not screen.query_one(ProbabilityBars).display
        expected = Predictor(vad["run"], backend="torch").predict(text).values
        lines = shown(bars).splitlines()
        assert [line.split()[0] for line in lines] == list(VAD_OUTPUTS)
        for i, (line, output) in enumerate(zip(lines, VAD_OUTPUTS)):
            values = [cue[i] for cue in VAD_CUES.values()]
            assert line.split()[-2] == f"{screen.prediction.values[output]:.3f}"     # the value, then the range
            assert line.split()[-1] == f"{min(values):.4g}…{max(values):.4g}"
            assert screen.prediction.values[output] == pytest.approx(expected[output], abs=1e-4)
        assert any(ch in lines[2] for ch in "█▌▐")                  # a bar drawn on dominance's 0…1 track
        await pilot.press("enter")                                   # kept: each output's value in the history
        await wait_until(pilot, lambda: len(screen.history) == 1)
        assert screen.history[0]["label"] == " ".join(short_value(v) for v in screen.prediction.values.values())
        assert short_value(-0.8123) == "-.81" and short_value(0.7) == ".70" and short_value(12.345) == "12.35"
