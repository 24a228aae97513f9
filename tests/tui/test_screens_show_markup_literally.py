"""Every screen shows user text as it is: labels `[pos]`/`[/neg]`, sentences ending `[/b]` or holding `[bold]`, a
base model under `base[x]` and a run under `runs/[/x]run` went through Textual/Rich markup and ended the app
("internal error (MarkupError ...)") on Data, on Predict after enter and on Evaluate, or vanished from tables.

Also here, the other things a user sees on these screens: 3,000 classes keep the Evaluate and Predict screens
bounded, a notification stays one line, the Train form's status describes the latest start, and the Attention
screen looks at a run still training through its best checkpoint or its base model, and says which.
"""

from __future__ import annotations

import html
import re
import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from conftest import agreement_rows, build_tiny_bert, write_jsonl, write_toy_splits
from fixtures.app_factory import make_app
from screen_apps import ScreenApp, Selection as ScreenSelection, settle, wait_until
from widget_apps import run_async
from tunelab.tui.selection import Selection

EQN = "classify: label ~ sentence"
POS, NEG = "[pos]", "[/neg]"
SIZE = (100, 30)


def bracket_rows(n: int, seed: int) -> list[dict]:
    rows = agreement_rows(n, seed)
    for i, row in enumerate(rows):
        row["label"] = POS if row["label"] == "acceptable" else NEG
        row["sentence"] += " [/b]" if i % 2 else " [bold] x"
    return rows


@pytest.fixture(scope="module")
def bracketed(tmp_path_factory) -> dict:
    """A tiny run fine-tuned on bracketed labels and sentences into runs/[/x]run (the folder `[` holding `x]run`)."""
    from tunelab.core.config import FitConfig
    from tunelab.core.fit import fit

    root = tmp_path_factory.mktemp("markup-tui")
    data = write_toy_splits(root / "data-1", bracket_rows)
    base = build_tiny_bert(root / "base[x]")
    fit(FitConfig(model=str(base), data=str(data), eqn=EQN, out=str(root / "runs/[/x]run"), epochs=1, lr=1e-3,
                  batch_size=16, warmup=0))
    return {"root": root, "data": data, "base": base, "run": root / "runs" / "[" / "x]run"}


def screen_text(app) -> str:
    """What is on the screen, row by row (from the SVG screenshot: text grouped by its y position)."""
    svg = app.export_screenshot()
    rows: dict[float, list[str]] = {}
    for y, text in re.findall(r'<text[^>]*y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append(html.unescape(text).replace("\xa0", " "))
    return "\n".join("".join(rows[y]) for y in sorted(rows))


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def wait_for(pilot, condition, timeout: float = 120.0, what: str = "the screen") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def bracket_app(bracketed, **kwargs):
    run = str(bracketed["run"])
    app = make_app(bracketed["root"], selection=Selection(model=run, data=str(bracketed["data"]), eqn=EQN, run=run),
                   **kwargs)
    app.runs_dirs = [bracketed["root"] / "runs" / "["]
    return app


@run_async
async def test_data_screen_shows_bracketed_labels_and_sentences(bracketed):
    app = bracket_app(bracketed, start="data")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.summary is not None, what="the data summary")
        # the preview loads in its own worker, and its columns are sized from their cells on the table's next idle
        # pass: on a busy machine the summary can be there first
        await wait_for(pilot, lambda: "[/b]" in screen_text(app), what="the preview's sentences")
        # the summary object is set before its table is drawn: wait for the drawn label balance too
        await wait_for(pilot, lambda: f"  {NEG} " in screen_text(app), what="the summary's label balance")
        text = screen_text(app)
        assert f"  {NEG} " in text and f"  {POS} " in text          # the label balance, names and all
        assert "[/b]" in text and "[bold] x" in text                  # the sentences in the preview table
        assert app.return_code is None and not messages(app)


@run_async
async def test_predict_after_enter_and_evaluate_show_labels_literally(bracketed):
    app = bracket_app(bracketed, start="predict")
    async with app.run_test(size=SIZE) as pilot:
        field = app.screen.query_one("#predict-text", Input)
        await wait_for(pilot, lambda: not app.screen.query_one("#predict-text", Input).disabled and
                       "loading" not in screen_text(app).splitlines()[1], what="the model")
        field.focus()
        field.value = "the cat is good [/b] [bold]"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query_one("#predict-history").row_count == 1, what="the kept input")
        text = screen_text(app)
        assert f"{POS} " in text and f"{NEG} " in text and "the cat is good [/b] [bold]" in text
        assert "[/x]run" in text
        app.action_switch_screen_mode("evaluate")
        await wait_for(pilot, lambda: app.screen.report is not None, what="the evaluation")
        await pilot.pause()
        text = screen_text(app)
        assert "[/x]run" in text and "[/b]" in text
        assert re.search(r"\[pos\]\s+\S+\s+\S+", text) and re.search(r"\[/neg\]\s+\S+\s+\S+", text)
        assert app.return_code is None


@run_async
async def test_runs_models_train_attention_and_check_name_the_run_literally(bracketed):
    from tunelab.core.run_dir import remember_run

    remember_run(bracketed["run"])                                      # the history the Models screen lists
    app = bracket_app(bracketed, start="runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "x]run" in screen_text(app), what="the run listed")
        assert "base[x]" in screen_text(app)
        app.action_switch_screen_mode("models")
        await wait_for(pilot, lambda: "x]run" in screen_text(app), what="the run among the models")
        app.action_switch_screen_mode("train")
        await pilot.pause()
        assert app.screen.form.input_for("model").value == str(bracketed["run"]) and app.return_code is None
        app.action_switch_screen_mode("attention")
        await wait_for(pilot, lambda: app.screen.result is not None, what="the attention")
        await pilot.pause()
        assert "[/x]run" in screen_text(app)
        app.action_switch_screen_mode("check")
        await pilot.pause()
        await pilot.press("r")
        await wait_for(pilot, lambda: "overfits" in screen_text(app).lower() or "Overfits" in screen_text(app),
                       what="the checks")
        text = screen_text(app)
        assert f"{NEG}, {POS}" in text and "[/x]run" in text
        assert app.return_code is None


@run_async
async def test_a_notification_quoting_brackets_is_literal_and_one_line(bracketed):
    app = bracket_app(bracketed, start="runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.screen.notify("label [/neg] is odd [bold]")
        app.notify("x" * 5000)
        await pilot.pause()
        assert "label [/neg] is odd [bold]" in messages(app)
        assert all(not n.markup for n in app._notifications)        # a toast renders it as it is, not as markup
        assert max(len(m) for m in messages(app)) <= 300


# --- 3,000 classes ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_classes(tmp_path_factory) -> dict:
    from transformers import AutoConfig

    from conftest import WORDS

    root = tmp_path_factory.mktemp("classes-tui")
    n = 3000
    model = build_tiny_bert(root / "model", num_labels=n, hidden=16, layers=1, heads=2)
    config = AutoConfig.from_pretrained(model)
    config.id2label = {i: f"c{i:04d}" for i in range(n)}
    config.label2id = {name: i for i, name in config.id2label.items()}
    config.save_pretrained(model)
    rows = [{"sentence": f"{WORDS[i % len(WORDS)]} {WORDS[(i // 7) % len(WORDS)]} cat", "label": f"c{i:04d}"}
            for i in range(n)] + [{"sentence": "the cat", "label": "c0000"}]
    (root / "data").mkdir()
    write_jsonl(root / "data" / "test.jsonl", rows)
    odd = root / "odd"
    odd.mkdir()
    write_jsonl(odd / "test.jsonl", [{"sentence": "the cat", "label": "zzz"}])
    return {"model": str(model), "data": str(root / "data"), "odd": str(odd)}


@run_async
async def test_evaluate_with_3000_classes_stays_bounded(many_classes):
    from tunelab.tui.screens.evaluate import EvaluateScreen
    from tunelab.tui.widgets.confusion import ConfusionGrid

    app = ScreenApp(lambda: EvaluateScreen(model=many_classes["model"], data=many_classes["data"]),
                    ScreenSelection(model=many_classes["model"], data=many_classes["data"], eqn=EQN))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.report is not None and len(screen.report.labels) == 3000
        grid = screen.query_one(ConfusionGrid)
        assert len(grid._labels) == 20 and grid._labels[0] == "c0000"   # the class with the most examples
        assert screen.query_one("#eval-classes").row_count == 20
        assert "20 classes with the most examples shown, of 3,000" in str(screen.query_one("#eval-message").render())
        await pilot.press("t")                                             # steps through classes with mistakes
        await pilot.press("ctrl+q")                                        # and the app still answers


@run_async
async def test_a_label_mismatch_with_3000_classes_is_one_line(many_classes):
    from tunelab.tui.screens.evaluate import EvaluateScreen

    app = ScreenApp(lambda: EvaluateScreen(model=many_classes["model"], data=many_classes["odd"]),
                    ScreenSelection(model=many_classes["model"], data=many_classes["odd"], eqn=EQN))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        [message] = messages(app)
        assert "'zzz'" in message and "2,995 more" in message and len(message) < 300


@run_async
async def test_predict_bars_show_the_top_classes_of_3000(many_classes):
    from tunelab.tui.screens.predict import PredictScreen
    from tunelab.tui.widgets.probability_bars import ProbabilityBars

    app = ScreenApp(lambda: PredictScreen(model=many_classes["model"]),
                    ScreenSelection(model=many_classes["model"], data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.screen.query_one("#predict-text", Input)
        field.focus()
        field.value = "the cat"
        bars = app.screen.query_one(ProbabilityBars)
        await wait_until(pilot, lambda: len(bars.probabilities) == 3000 and "more classes" in str(bars.render()))
        lines = str(bars.render()).splitlines()
        assert len(lines) == 11 and "… and 2,990 more classes" in lines[-1]


# --- the Train form's status describes the latest attempt ----------------------------------------------------------


@run_async
async def test_train_status_describes_the_latest_start(tmp_path, tiny_bert):
    (tmp_path / "runs").mkdir()
    app = make_app(tmp_path, selection=Selection(model=str(tmp_path / "no-such-model")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.screen.launching, what="the check to fail")
        panel = app.screen.monitor.status_panel
        await wait_for(pilot, lambda: "no-such-model" in str(panel.render()), what="the model's problem")
        form = app.screen.form
        form.input_for("model").value = str(tiny_bert)                  # the model fixed,
        form.input_for("epochs").value = "-2"                           # another value wrong
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        shown = str(panel.render())
        assert "no-such-model" not in shown and "epochs" in shown, shown


# --- Attention on a run still training -----------------------------------------------------------------------------


def unfinished_copy(run: Path, where: Path, best: bool) -> Path:
    """A copy of `run` as it is while it trains: run.json and events, no model/; with `best`, checkpoints/best
    (a save_pretrained directory without a tokenizer, as fit writes it)."""
    where.mkdir(parents=True)
    for file in ("run.json", "events.jsonl"):
        shutil.copy(run / file, where / file)
    if best:
        shutil.copytree(run / "model", where / "checkpoints" / "best",
                        ignore=lambda d, names: [n for n in names if "token" in n or n == "vocab.txt"])
    return where


@pytest.mark.parametrize("best", [True, False])
@run_async
async def test_attention_on_a_run_still_training(bracketed, tmp_path, best):
    from tunelab.tui.screens.attention import AttentionScreen

    run = unfinished_copy(bracketed["run"], tmp_path / "training", best)
    app = ScreenApp(lambda: AttentionScreen(model=str(run)), ScreenSelection(model=str(run), data=None))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.result is not None or bool(messages(app)), timeout=120)
        await pilot.pause()
        assert not messages(app), messages(app)                          # not "holds no model"
        status = str(app.screen.query_one("#att-status").render())
        assert ("best checkpoint" in status) if best else ("base model" in status and "base[x]" in status), status


@run_async
async def test_evaluate_refusing_a_bracketed_label_says_so_literally(bracketed, tmp_path):
    """The engine's one line quotes the label and the model's labels; as markup it ended the app."""
    from tunelab.tui.screens.evaluate import EvaluateScreen

    odd = tmp_path / "odd"
    odd.mkdir()
    write_jsonl(odd / "test.jsonl", [{"sentence": "the cat [/b]", "label": "[/other]"}])
    run = str(bracketed["run"])
    app = ScreenApp(lambda: EvaluateScreen(model=run, data=str(odd)), ScreenSelection(model=run, data=str(odd), eqn=EQN))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        [message] = messages(app)
        assert "'[/other]'" in message and f"{NEG}, {POS}" in message
        # a toast renders its message as markup unless told not to: Content.from_markup raises on '[/other]'
        assert all(not n.markup for n in app._notifications)
        assert app.return_code is None and app.is_running
