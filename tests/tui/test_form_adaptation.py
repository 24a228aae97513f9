"""The Train screen and LoRA, --reinit-layers and --layer-lr-decay: the form shows them in their own group and
refuses a contradiction in the CLI's words; a followed run's panel says how many parameters it trains."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Static

from fixtures.app_factory import install_runs, make_app
from test_app_screens import notifications, panel_text, wait_for
from widget_apps import run_async
from tunelab.tui.selection import Selection

SIZE = (120, 40)
NEW = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets", "reinit_layers", "layer_lr_decay")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    install_runs(tmp_path)
    return tmp_path


@run_async
async def test_the_form_has_an_adaptation_group_and_refuses_lora_with_frozen_layers(workdir):
    app = make_app(workdir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = app.screen.form
        groups = [str(s.render()) for s in form.query(".form-group").results(Static)]
        assert groups[:3] == ["data", "training", "adaptation"]
        for name in NEW:
            assert form.input_for(name).parent.has_class("form-row")
        assert form.values()["lora_r"] is None and form.values()["layer_lr_decay"] == 1.0
        form.input_for("lora_r").value = "8"
        form.input_for("freeze_layers").value = "2"
        await pilot.pause()
        assert form.problems() == {}                      # each value is in range; together they contradict
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("already freezes every pretrained weight" in n for n in notifications(app))
        assert not app.screen.launching and not list((workdir / "runs").glob("*-minilm-l6"))
        form.input_for("freeze_layers").value = "-1"
        form.input_for("layer_lr_decay").value = "0.9"
        await pilot.pause()
        config = form.config()
        assert (config.lora_r, config.layer_lr_decay, config.freeze_layers) == (8, 0.9, -1)
        assert config.to_argv()[-4:] == ["--lora-r", "8", "--layer-lr-decay", "0.9"]


@run_async
async def test_a_followed_run_says_how_many_parameters_it_trains(workdir):
    run = workdir / "runs" / "tiny-toy"
    events = run / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["event"] == "RunStarted" and "total_parameters" not in first     # recorded before they were
    lines[0] = json.dumps({**first, "trainable_parameters": 2_962, "total_parameters": 52_000})
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = make_app(workdir, selection=Selection(run=str(run)), follow_on_train=True)
    async with app.run_test(size=SIZE) as pilot:
        monitor = app.screen.monitor
        await wait_for(pilot, lambda: monitor.current_trace is not None and monitor.current_trace.info is not None,
                       what="the run's status")
        assert "trains 3.0k of 52k parameters (5.7%)" in panel_text(monitor.status_panel)


def test_the_model_card_of_a_lora_run_says_how_it_was_fine_tuned(tmp_path):
    """summarize_model reads the run's run.json; the card shows the method and the share trained."""
    from dataclasses import replace

    from tunelab.core.summary import ModelSummary
    from tunelab.tui.screens.models import model_card

    summary = ModelSummary("run", str(tmp_path), "bert", "BertForSequenceClassification", 6, 12, 384, 1536, 30522, 512,
                           22_713_986, 22_713_986, ["a", "b"])
    assert "fine-tuned" not in str(model_card(summary))
    tuned = replace(summary, fine_tuning={"method": "LoRA r 8 (alpha 16)", "trainable": 296_512, "total": 22_861_058})
    text = str(model_card(tuned))
    assert "fine-tuned   LoRA r 8 (alpha 16)" in text and "trained      296.5k of 22.9M (1.3%)" in text


def test_parameter_counts_that_are_not_counts_are_not_shown():
    from tunelab.core.events import RunStarted
    from tunelab.tui.widgets.status_panel import trained_line

    def started(trainable, total):
        return RunStarted("r", "m", "classify: label ~ sentence", "cpu", 10, 1, 10, trainable_parameters=trainable,
                          total_parameters=total)

    assert trained_line(started(5, 10)) == "trains 5.0 of 10 parameters (50.0%)"
    assert trained_line(started(10, 10)) == "trains all 10 parameters"
    for bad in (("x", 10), (5, "10"), (True, 10), (11, 10), (-1, 10), (0, 0), (None, 10)):
        assert trained_line(started(*bad)) == ""
    assert trained_line(None) == ""
