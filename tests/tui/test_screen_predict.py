"""The Predict screen on a tiny fine-tuned model: the label and the probabilities follow what is typed, stale
results are dropped, enter keeps an input in the history and up/down recall it, a file of inputs is labelled
into JSONL, and a model that cannot load is a notification."""

from __future__ import annotations

import json

import pytest
from conftest import train_tiny, write_toy_splits
from screen_apps import ScreenApp, Selection, wait_until
from widget_apps import run_async

from tunelab.tui.screens.predict import LatestRequest, PredictScreen
from tunelab.tui.widgets.probability_bars import ProbabilityBars


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("predict-screen")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=6, lr=2e-3).run_dir


def test_mailbox_keeps_only_the_newest_request():
    box = LatestRequest()
    box.put((1, "a"))
    box.put((2, "ab"))
    assert box.take(0.01) == ("text", (2, "ab"))
    assert box.take(0.01) is None
    box.put((3, "abc"))
    box.put_file("in.txt", "out.jsonl")
    assert box.take(0.01) == ("file", ("in.txt", "out.jsonl"))  # files first, then the newest text
    assert box.take(0.01) == ("text", (3, "abc"))


@run_async
async def test_label_and_probabilities_follow_typing(tiny_run):
    app = ScreenApp(lambda: PredictScreen(text="the cat is good ."), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        first = screen.prediction
        assert first.text == "the cat is good ." and first.label == "acceptable"
        bars = screen.query_one(ProbabilityBars)
        assert bars.probabilities == pytest.approx(first.probabilities)
        assert "acceptable" in str(screen.query_one("#predict-label").render())
        assert "ms" in str(screen.query_one("#predict-latency").render())

        # Edit the sentence as a user would: the last word and the label change.
        await pilot.press("end", *["backspace"] * 6, *"bad .")
        await wait_until(pilot, lambda: screen.prediction.text == "the cat is bad .")
        second = screen.prediction
        assert second.label == "unacceptable"
        assert second.probabilities["unacceptable"] > first.probabilities["unacceptable"]
        assert bars.probabilities == pytest.approx(second.probabilities)

        # Enter keeps it; a new sentence, kept too; up and down walk the history and back to the draft.
        await pilot.press("enter")
        await pilot.press("ctrl+u", *"the dogs were happy .", "enter")
        await wait_until(pilot, lambda: len(screen.history) == 2)
        assert [h["text"] for h in screen.history] == ["the dogs were happy .", "the cat is bad ."]
        await pilot.press(*"x")
        await pilot.press("up")
        assert screen.query_one("#predict-text").value == "the dogs were happy ."
        await pilot.press("up")
        assert screen.query_one("#predict-text").value == "the cat is bad ."
        await pilot.press("down", "down")
        assert screen.query_one("#predict-text").value == "the dogs were happy .x"
        await wait_until(pilot, lambda: screen.prediction.text == "the dogs were happy .x")


@run_async
async def test_stale_results_are_dropped(tiny_run):
    app = ScreenApp(lambda: PredictScreen(text="the cat is good ."), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        shown = screen.prediction
        old = shown.__class__(**{**shown.__dict__, "text": "an old input", "label": "unacceptable"})
        screen.post_message(PredictScreen.PredictionReady(screen._seq - 1, old, 0.0))
        await pilot.pause()
        assert screen.prediction is shown  # an answer to an older request never replaces a newer one


@run_async
async def test_a_file_of_inputs_becomes_jsonl(tiny_run, tmp_path):
    source = tmp_path / "inputs.txt"
    source.write_text("the cat is good .\nthe dogs were sad .\nthe cat was happy near the table .\n", encoding="utf-8")
    app = ScreenApp(lambda: PredictScreen(), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen._ready)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*str(source), "enter", "enter")  # input file, then the default output
        output = tmp_path / "inputs.predictions.jsonl"
        await wait_until(pilot, lambda: output.exists() and "written" in str(screen.query_one("#predict-latency").render()))
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["the cat is good .", "the dogs were sad .", "the cat was happy near the table ."]
    assert [r["label"] for r in rows] == ["acceptable", "unacceptable", "acceptable"]
    assert set(rows[0]) >= {"label", "score", "probabilities", "latency_ms", "truncated"}


@run_async
async def test_a_model_that_cannot_load_is_a_notification(tmp_path):
    app = ScreenApp(lambda: PredictScreen(model=str(tmp_path / "missing")))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications))
        notes = [n.message for n in app._notifications]
        assert any("does not exist" in n for n in notes)
        assert "could not load" in str(app.screen.query_one("#predict-model").render())


@run_async
async def test_the_history_is_kept_for_the_next_session(tiny_run):
    class RememberingApp(ScreenApp):
        """The app's state file, in memory: what TuneLabApp loads at start and saves on change."""

        def __init__(self, state: dict) -> None:
            super().__init__(lambda: PredictScreen(text="the cat is good ."), Selection(run=tiny_run, data=None))
            self.state, self.saved = state, []

        def save_state(self) -> None:
            self.saved.append(json.loads(json.dumps(self.state)))

    first = RememberingApp({"theme": "tunelab-dark"})
    async with first.run_test(size=(80, 24)) as pilot:
        screen = first.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.history) == 1)
    kept = first.saved[-1]
    assert kept["theme"] == "tunelab-dark" and [e["text"] for e in kept["predict_history"]] == ["the cat is good ."]

    damaged = {"predict_history": [{"text": 3}, "junk", *kept["predict_history"]]}   # a hand-edited state file
    second = RememberingApp(damaged)
    async with second.run_test(size=(80, 24)) as pilot:
        screen = second.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        assert [e["text"] for e in screen.history] == ["the cat is good ."]
        await pilot.press("ctrl+u", "up")
        assert screen.query_one("#predict-text").value == "the cat is good ."


@run_async
async def test_a_model_that_ships_code_is_a_notification_and_its_code_never_runs(tmp_path):
    """The Predict screen's worker loads through the engine, which never opts in to a model's own code."""
    from conftest import build_tiny_bert

    marker = tmp_path / "ran-the-payload"
    model = build_tiny_bert(tmp_path / "coded", num_labels=2)
    (model / "configuration_evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "evil_bert",
                                                   "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}))
    app = ScreenApp(lambda: PredictScreen(model=str(model)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications))
        assert any("needs remote code" in n.message for n in app._notifications)
    assert not marker.exists()


@run_async
async def test_ctrl_n_turns_int8_on_and_off_and_says_so(tiny_run, tmp_path):
    from tunelab.core.predictor import Predictor

    made = []

    def factory(model, device="auto"):
        made.append(Predictor(model, device=device))
        return made[-1]

    source = tmp_path / "inputs.txt"
    source.write_text("the cat is good .\nthe dogs were sad .\n", encoding="utf-8")
    app = ScreenApp(lambda: PredictScreen(text="the cat is good .", predictor_factory=factory),
                    Selection(run=tiny_run, data=None))
    async with app.run_test(size=(100, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        fp32 = screen.prediction
        model_line = screen.query_one("#predict-model")
        assert "int8" not in str(model_line.render()) and not screen.int8 and made[0].precision == "fp32"
        assert any(b.binding.action == "toggle_int8" and b.enabled for b in screen.active_bindings.values())

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: screen.int8 and screen.prediction is not fp32
                         and "(int8)" in str(screen.query_one("#predict-latency").render()))
        assert made[0].precision == "int8" and screen.has_class("-int8")
        assert "onnx int8" in str(model_line.render())
        assert screen.prediction.label == fp32.label and screen.prediction.probabilities != fp32.probabilities

        # a file labelled with int8 on says how far it is from fp32
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*str(source), "enter", "enter")
        output = tmp_path / "inputs.predictions.jsonl"
        await wait_until(pilot, lambda: output.exists() and "written" in str(screen.query_one("#predict-latency").render()))
        assert "int8 against fp32" in str(screen.query_one("#predict-latency").render())

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: not screen.int8 and "(int8)" not in str(screen.query_one("#predict-latency").render())
                         and screen.prediction is not None and screen.prediction.probabilities == fp32.probabilities)
        assert made[0].precision == "fp32" and not screen.has_class("-int8")
        assert "int8" not in str(model_line.render())


@run_async
async def test_int8_that_cannot_be_had_is_a_notification_and_fp32_stays(tiny_run, monkeypatch):
    from tunelab.core import onnx_runtime

    def broken(*args, **kwargs):
        raise RuntimeError("the quantizer broke")

    monkeypatch.setattr(onnx_runtime, "quantize", broken)
    app = ScreenApp(lambda: PredictScreen(text="the cat is good ."), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(100, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: any("could not quantize" in n.message for n in app._notifications))
        assert not screen.int8 and "int8" not in str(screen.query_one("#predict-model").render())


@run_async
async def test_device_picker_shows_detected_gpus_and_reloads_the_model_there(tiny_run, monkeypatch):
    """With GPUs to pick from (NVML's list, stood in for here), the picker loads the model again on the chosen one;
    on a machine without a GPU there is no picker."""
    from textual.widgets import Select

    from tunelab.core import gpu_status
    from tunelab.core.predictor import Predictor

    asked = []

    def factory(model, device="auto"):
        asked.append(device)
        return Predictor(model, device="cpu")

    monkeypatch.setattr(gpu_status, "device_choices", lambda: [("auto", "auto"), ("cpu", "cpu"),
                                                               ("cuda:0 NVIDIA H100 (80 GB)", "cuda:0")])
    app = ScreenApp(lambda: PredictScreen(text="the cat is good .", predictor_factory=factory),
                    Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.prediction is not None)
        picker = screen.query_one("#predict-device", Select)
        assert [v for _, v in picker._options] == ["auto", "cpu", "cuda:0"] and asked == ["auto"]
        picker.value = "cpu"
        await wait_until(pilot, lambda: asked == ["auto", "cpu"] and screen._ready)
        assert screen.device == "cpu"

    monkeypatch.setattr(gpu_status, "device_choices", lambda: [("auto", "auto"), ("cpu", "cpu")])
    app = ScreenApp(lambda: PredictScreen(text="x"), Selection(run=tiny_run, data=None))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.screen.query("#predict-device")
