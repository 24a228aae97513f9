"""Pilot tests of the TuneLab app at 80x24, one or more per screen: what a user sees and what their keys do.
Runs are real recorded run directories (tests/tui/fixtures) replayed through the same follower a live run uses;
models and data are the tiny ones built in tests/conftest.py. Nothing here starts a training process (see
test_app_e2e.py for that)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable, Input, Select, Static

from conftest import build_tiny_bert, write_toy_splits
from fixtures.app_factory import FIXED_NOW, install_runs, make_app
from widget_apps import run_async
from tunelab.core.config import SETTINGS_BY_NAME
from tunelab.core.errors import TuneLabError
from tunelab.tui.selection import Selection
from tunelab.tui.widgets.run_monitor import RunMonitor
from tunelab.tui.widgets.status_panel import StatusPanel

SIZE = (80, 24)


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds (workers finish in threads, so poll instead of sleeping)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def steps_of(monitor: RunMonitor, chart: str, series: str) -> np.ndarray:
    chart = {"loss": monitor.loss_chart, "metric": monitor.metric_chart, "lr": monitor.lr_chart}[chart]
    if series not in chart.series_names:
        return np.array([])
    return np.asarray(chart.series_data(series)[0])


def panel_text(panel: StatusPanel) -> str:
    return str(panel.render())


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A current directory with the recorded runs under runs/ (so paths show as runs/<name>)."""
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


# --- start-up ----------------------------------------------------------------------------------------------------


def test_first_screen_paints_without_torch_or_transformers(tmp_path):
    """The app is on screen, ready to train, before torch or transformers is imported (they load in workers)."""
    code = f"""
import sys, time, asyncio
t0 = time.perf_counter()
from tunelab.tui.app import TuneLabApp
async def main():
    app = TuneLabApp(state_file={str(tmp_path / 'tui.json')!r}, runs_dirs=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(type(app.screen).__name__, round(time.perf_counter() - t0, 2))
        print(sorted({{'torch', 'transformers', 'datasets'}} & set(sys.modules)))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    screen, heavy = out.stdout.strip().splitlines()[-2:]
    assert screen.split()[0] == "TrainScreen"
    assert heavy == "[]"


@run_async
async def test_train_form_is_generated_from_settings_and_checks_as_you_type(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = app.screen.form
        fields = [*form.query(Input), *form.query(Select)]
        named = {i.id.removeprefix("setting-") for i in fields if (i.id or "").startswith("setting-")}
        assert named == set(SETTINGS_BY_NAME)
        assert isinstance(form.input_for("device"), Select) and form.input_for("device").value == "auto"
        assert form.values()["device"] == "auto" and form.values()["attention"] == "auto"
        assert form.input_for("model").value == "minilm-l6" and form.input_for("data").value == "demo"
        epochs = form.input_for("epochs")
        epochs.focus()
        epochs.value = ""
        await pilot.press(*"-2")
        await pilot.pause()
        expected = SETTINGS_BY_NAME["epochs"].check(-2.0)
        assert form.problems() == {"epochs": expected}
        assert expected in str(app.screen.query_one("#problem-epochs", Static).render())
        await pilot.press("ctrl+s")                        # refused, with the CLI's words; nothing starts
        await pilot.pause()
        assert expected in notifications(app)
        assert not app.screen.launching and not list((workdir / "runs").glob("*-minilm-l6"))
        epochs.value = "3"
        await pilot.pause()
        assert form.problems() == {}
        assert form.config().epochs == 3.0


@run_async
async def test_train_replays_a_recorded_run_into_curves_and_status(workdir):
    run = workdir / "runs" / "tiny-toy"
    app = make_app(workdir, selection=Selection(run=str(run)), follow_on_train=True)
    async with app.run_test(size=SIZE) as pilot:
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) == 60, what="60 loss points")
        await wait_for(pilot, lambda: monitor.current_trace.info is not None, what="the run's status")
        assert steps_of(monitor, "loss", "loss").tolist() == list(range(1, 61))
        assert steps_of(monitor, "metric", "validation mcc").tolist() == [10, 20, 30, 40, 50, 60]
        assert len(steps_of(monitor, "lr", "learning rate")) == 60
        text = panel_text(monitor.status_panel)
        assert "completed" in text and "step 60/60" in text and "best mcc 1.000" in text
        assert not app.screen.form.display                 # 80 columns: the curves get the width


@run_async
async def test_a_resumed_run_continues_from_its_checkpoint(workdir):
    """The crashed segment logged steps 31-38 past its checkpoint at 30; the curve drops them and goes on."""
    run = workdir / "runs" / "tiny-resumed"
    app = make_app(workdir, selection=Selection(run=str(run)), follow_on_train=True)
    async with app.run_test(size=SIZE) as pilot:
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: monitor.current_trace.final is not None, what="the final event")
        steps = steps_of(monitor, "loss", "loss")
        assert steps.tolist() == list(range(1, 61))
        resumed = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
                   if '"RunStarted"' in line][-1]
        first_after = {json.loads(line)["step"]: json.loads(line)["loss"]
                       for line in (run / "events.jsonl").read_text().splitlines()
                       if '"StepLogged"' in line}            # the last value logged for each step wins
        loss = np.asarray(monitor.loss_chart.series_data("loss")[1])
        assert resumed["resumed_from_step"] == 30
        assert loss[35] == pytest.approx(first_after[36])     # step 36 is the resumed segment's, not the crashed one's


@run_async
async def test_train_start_stop_resume_say_why_when_there_is_nothing_to_do(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("no run to stop" in n for n in notifications(app))
        assert any("no run to resume" in n for n in notifications(app))


@run_async
async def test_train_reports_a_bad_model_with_the_engines_message(workdir):
    app = make_app(workdir, selection=Selection(model=str(workdir / "no-such-model")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.screen.launching, timeout=120, what="the check to fail")
        from tunelab.core.models import resolve_model

        with pytest.raises(TuneLabError) as expected:
            resolve_model(str(workdir / "no-such-model"))
        await wait_for(pilot, lambda: str(expected.value) in notifications(app), what="the notification")
        assert str(expected.value) in panel_text(app.screen.monitor.status_panel)


@run_async
async def test_train_refuses_more_processes_than_the_machine_has_before_launching(workdir, tiny_model):
    """The form's device group: processes and GPUs are checked against the machine before anything is launched
    (here: GPUs named for a run on the CPU), and the engine's one line is the notification."""
    app = make_app(workdir, selection=Selection(model=str(tiny_model)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = app.screen.form
        form.set_values({"device": "cpu", "processes": 2, "gpus": "0,1", "out": str(workdir / "runs" / "gpus")})
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.screen.launching, timeout=120, what="the check to fail")
        await wait_for(pilot, lambda: any("names GPUs, but this run is on cpu" in n for n in notifications(app)),
                       what="the notification")
        assert not (workdir / "runs" / "gpus" / "run.json").exists()


# --- Runs --------------------------------------------------------------------------------------------------------


def runs_rows(app) -> dict[str, list[str]]:
    table = app.screen.query_one(DataTable)
    return {Path(row.key.value).name: [str(c) for c in table.get_row(row.key)] for row in table.ordered_rows}


@run_async
async def test_runs_lists_opens_and_overlays(workdir):
    app = make_app(workdir, start="runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(runs_rows(app)) == 2, what="two runs listed")
        rows = runs_rows(app)
        assert rows["tiny-toy"][1:] == ["✔ completed", "tiny-toy", "tiny-bert", "toy", "60/60", "mcc 1.000", "3d ago"]
        assert rows["tiny-resumed"][1] == "✔ completed"
        monitor = app.screen.monitor
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) == 60, what="the opened run's curve")
        assert app.selection.run == str(monitor.current)
        await pilot.press("space", "down", "space", "o")
        await wait_for(pilot, lambda: monitor.overlaid and all(
            len(steps_of(monitor, "loss", name)) == 60 for name in ("tiny-toy", "tiny-resumed")), what="the overlay")
        assert sorted(monitor.metric_chart.series_names) == ["tiny-resumed", "tiny-toy"]
        text = panel_text(monitor.status_panel)
        assert "tiny-toy" in text and "tiny-resumed" in text


@run_async
async def test_runs_shows_why_a_run_failed(workdir):
    failed = workdir / "runs" / "tiny-failed"
    failed.mkdir()
    lines = (workdir / "runs" / "tiny-toy" / "events.jsonl").read_text().splitlines()[:30]
    error = "out of memory: lower --batch-size (now 16) or --max-length"
    lines.append(json.dumps({"event": "RunFailed", "v": 1, "step": 25, "error": error, "time": FIXED_NOW - 3600}))
    (failed / "events.jsonl").write_text("\n".join(lines) + "\n")
    (failed / "run.json").write_text((workdir / "runs" / "tiny-toy" / "run.json").read_text())
    app = make_app(workdir, start="runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(runs_rows(app)) == 3, what="three runs listed")
        assert runs_rows(app)["tiny-failed"][1] == "✘ failed"
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=[Path(r.key.value).name for r in table.ordered_rows].index("tiny-failed"))
        await pilot.pause()
        assert error in str(app.screen.query_one("#run-detail", Static).render())
        await pilot.press("enter")
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: monitor.current_trace is not None and monitor.current_trace.final is not None,
                       what="the failure")
        assert error in panel_text(monitor.status_panel)
        await pilot.press("x")                               # a failed run cannot be stopped: the engine says so
        await wait_for(pilot, lambda: any("not running: nothing to stop" in n for n in notifications(app)),
                       what="the refusal")


# --- Models and Data ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


def fixed_models(tiny_model: Path):
    from tunelab.core.summary import ModelEntry

    return [ModelEntry("minilm-l6", "bundled", "/bundled/minilm", "MiniLM-L6-H384 (BERT, 6 layers x 12 heads)"),
            ModelEntry(tiny_model.name, "local", str(tiny_model), "a directory you opened")]


@run_async
async def test_models_lists_and_shows_a_model_card(workdir, tiny_model, monkeypatch):
    monkeypatch.setattr("tunelab.core.summary.list_models", lambda: fixed_models(tiny_model))
    app = make_app(workdir, selection=Selection(model=str(tiny_model)), start="models")
    async with app.run_test(size=SIZE) as pilot:
        card = app.screen.query_one("#model-card-text", Static)
        await wait_for(pilot, lambda: "architecture" in str(card.render()), timeout=120, what="the model card")
        text = str(card.render())
        assert "BertModel" in text and "layers       2" in text and "heads        2 per layer" in text
        assert "hidden size  32" in text and "max length   64 tokens" in text
        await pilot.press("up")                               # to the bundled model, and back
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.selection.model == str(tiny_model)


@run_async
async def test_models_reports_a_missing_model(workdir, tiny_model, monkeypatch):
    monkeypatch.setattr("tunelab.core.summary.list_models", lambda: fixed_models(tiny_model))
    app = make_app(workdir, start="models")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"nowhere/at/all", "enter")
        card = app.screen.query_one("#model-card-text", Static)
        await wait_for(pilot, lambda: "does not exist" in str(card.render()), timeout=120, what="the message")
        assert any("model directory 'nowhere/at/all' does not exist" in n for n in notifications(app))


@run_async
async def test_data_summarises_and_keeps_bad_data_inline(workdir, tiny_model):
    toy = write_toy_splits(workdir / "toy")
    app = make_app(workdir, selection=Selection(model=str(tiny_model), data="toy"), start="data")
    async with app.run_test(size=SIZE) as pilot:
        summary = app.screen.query_one("#data-summary-text", Static)
        await wait_for(pilot, lambda: "majority baseline" in str(summary.render()), timeout=180, what="the summary")
        text = str(summary.render())
        assert "train 160 · validation 40 · test 40" in text
        assert app.screen.query_one("#data-eqn", Input).value == "classify: label ~ sentence"   # guessed
        assert app.selection.data == "toy" and app.selection.eqn == "classify: label ~ sentence"
        assert app.screen.query_one("#data-preview", DataTable).row_count == 50
        # a file with a missing column: the engine's one line, inline, and the screen goes on
        (toy / "bad.csv").write_text("sentence,mark\nthe cat is good .,1\n")
        source = app.screen.query_one("#data-source", Input)
        source.value = str(toy / "bad.csv")
        source.focus()
        await pilot.press("enter")
        error = app.screen.query_one("#data-error", Static)
        await wait_for(pilot, lambda: "label" in str(error.render()), timeout=120, what="the inline error")
        from tunelab.core.data import load_task_data

        with pytest.raises(TuneLabError) as expected:
            load_task_data(str(toy / "bad.csv"), "classify: label ~ sentence")
        assert str(error.render()) == str(expected.value)
        source.value = "toy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "majority baseline" in str(summary.render()), timeout=120, what="recovery")


# --- help, palette, themes -----------------------------------------------------------------------------------------


@run_async
async def test_help_lists_every_screens_keys(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")                 # off the form, so ? is a key and not a character
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text", Static).render())
        for words in ("ctrl+s", "Start", "Overlay", "space", "F4 or 4", "Runs", "ctrl+p", "Compare (c on Runs)",
                      "Time/params"):
            assert words in text
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "RunsScreen"


@run_async
async def test_every_key_is_in_the_command_palette(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        for mode in ("train", "runs"):
            await pilot.press({"train": "f3", "runs": "f4"}[mode])
            await pilot.pause()
            names = {c.title for c in app.get_system_commands(app.screen)}
            wanted = {b.description for b in type(app.screen).BINDINGS if b.description}
            assert wanted <= names, wanted - names
            assert {"Screen: Runs", "Screen: Models", "Help: keys", "Theme: tunelab-light"} <= names


@run_async
async def test_theme_switches_at_run_time_and_is_remembered(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "tunelab-dark"
        await pilot.press("f10")
        await pilot.pause()
        assert app.theme == "tunelab-light"
    assert json.loads((workdir / "tui.json").read_text())["theme"] == "tunelab-light"
    again = make_app(workdir)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "tunelab-light"


@run_async
async def test_screen_keys_switch_screens(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        for key, name in (("f4", "RunsScreen"), ("f3", "TrainScreen"), ("f4", "RunsScreen")):
            await pilot.press(key)
            await pilot.pause()
            assert type(app.screen).__name__ == name


def test_cli_opens_the_app_only_on_a_terminal(tmp_path):
    bare = subprocess.run([sys.executable, "-m", "tunelab"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert bare.returncode == 0 and "tui" in bare.stdout and "fit" in bare.stdout
    verb = subprocess.run([sys.executable, "-m", "tunelab", "tui", "--help"], capture_output=True, text=True, timeout=120)
    assert verb.returncode == 0 and "--run DIR" in verb.stdout and "--eqn" in verb.stdout
    missing = subprocess.run([sys.executable, "-m", "tunelab", "tui", "--run", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


@run_async
async def test_a_late_form_change_never_undoes_a_newer_selection(workdir):
    """The race seen under load: a Changed for the form's old text, handled after a run's settings were filled in,
    put the default model back into the selection and the form (and the two then chased each other)."""
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = app.screen.form
        late = form.Changed(form, "model", "minilm-l6", None, "minilm-l6")   # posted when the text was the default
        app.select(model="/somewhere/else", data="/some/data")
        await pilot.pause()
        assert form.input_for("model").value == "/somewhere/else"
        app.screen.post_message(late)
        await pilot.pause()
        await pilot.pause()
        assert app.selection.model == "/somewhere/else" and form.input_for("model").value == "/somewhere/else"
        form.input_for("model").value = "/typed/by/hand"           # a current change still goes through
        await wait_for(pilot, lambda: app.selection.model == "/typed/by/hand", what="the typed model selected")


@run_async
async def test_runs_t_follows_the_run_on_the_train_screen_with_its_settings(workdir):
    app = make_app(workdir, start="runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(runs_rows(app)) == 2, what="two runs listed")
        await pilot.press("t")                                   # the first row: the newest run, tiny-resumed
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="the Train screen")
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: len(steps_of(monitor, "loss", "loss")) == 60, what="its curve")
        assert monitor.current.name == "tiny-resumed"
        assert app.screen.form.values()["freeze_layers"] == 1    # from its run.json


@run_async
async def test_a_screen_that_cannot_import_stays_listed_and_says_why(workdir, monkeypatch):
    """A broken screen module is a bug to see, not a screen that silently vanishes from the navigation line."""
    import tunelab.tui.app as app_module

    broken = tuple(("check", "f8", "Check", "tunelab.tui.screens.no_such_screen", "CheckScreen") if e[0] == "check" else e
                   for e in app_module.SCREENS)
    monkeypatch.setattr(app_module, "SCREENS", broken)
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "check" in [mode for mode, _, _ in app.nav_entries]
        await pilot.press("f8")
        await pilot.pause()
        assert type(app.screen).__name__ != "CheckScreen"
        assert any("Check screen cannot open" in str(n.message) and "no_such_screen" in str(n.message)
                   for n in app._notifications)


def test_a_sweep_run_is_listed_by_its_name_not_its_path():
    """A sweep's runs are named like `003-lr=5e-05-seed=2`: the `=` once made the run column show the whole path
    (`/tmp/try/s…` at 80 columns, every sweep run alike); the name is shown, cut in the middle so its seed stays."""
    from tunelab.tui.screens.runs import run_label

    root = "/home/me/sweeps/cola/003-lr=5e-05-seed=2"
    assert run_label(root, 24) == "003-lr=5e-05-seed=2"
    short = run_label(root, 12)
    assert len(short) == 12 and short.startswith("003") and short.endswith("seed=2")
    assert run_label("runs/demo", 12) == "demo"


def test_the_best_column_cuts_the_metric_name_not_the_number():
    from tunelab.tui.screens.runs import best_text

    assert best_text("mcc", 0.4123, 10) == "mcc 0.412"
    assert best_text("accuracy", 0.7344, 10) == "acc… 0.734"       # was shown as "accuracy 0"
    assert best_text("entity_f1", -0.5, 8) == "-0.500"
    assert best_text("mcc", None, 10) == ""
