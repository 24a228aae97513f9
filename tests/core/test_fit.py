"""Fine-tuning on tiny random models: the behaviour a user sees in a run directory."""

import json
import threading

import numpy as np
import pytest

from tunelab.core.config import FitConfig
from tunelab.core.errors import TuneLabError
from tunelab.core.events import StepLogged, read_events
from tunelab.core.fit import fit

from conftest import build_tiny_bert

EQN = "classify: label ~ sentence"


def config(model, data, out, **overrides):
    base = dict(model=str(model), data=str(data), eqn=EQN, out=str(out), epochs=6, lr=2e-3, batch_size=16, seed=3)
    return FitConfig(**{**base, **overrides})


def test_fit_learns_and_leaves_a_complete_run_directory(tiny_bert, toy_data, tmp_path):
    events = []
    result = fit(config(tiny_bert, toy_data, tmp_path / "run"), on_event=events.append)
    run = tmp_path / "run"
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert len(losses) == result.steps == 60                    # every optimizer step's loss is reported
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])   # the loss falls
    assert result.metrics["test"]["accuracy"] > 0.9
    assert result.status == "completed"
    for name in ("run.json", "events.jsonl", "metrics.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    replayed = list(read_events(run / "events.jsonl"))
    assert replayed == events                                   # events.jsonl replays exactly what the callback saw
    cfg = json.loads((run / "model" / "config.json").read_text())
    assert cfg["id2label"] == {"0": "acceptable", "1": "unacceptable"}
    assert cfg["label2id"] == {"acceptable": 0, "unacceptable": 1}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["figure_of_merit"] == "mcc" and metrics["test"]["mcc"] > 0.8


def test_the_saved_model_loads_in_a_transformers_pipeline_unchanged(tiny_bert, toy_data, tmp_path):
    from transformers import pipeline

    from tunelab.core.predictor import Predictor

    fit(config(tiny_bert, toy_data, tmp_path / "run"))
    pipe = pipeline("text-classification", model=str(tmp_path / "run" / "model"), device=-1)
    out = pipe("the cats are on the mat .", top_k=None)
    out = out[0] if isinstance(out[0], list) else out
    ours = Predictor(str(tmp_path / "run"), backend="torch").predict("the cats are on the mat .")
    assert {d["label"]: pytest.approx(d["score"], abs=1e-5) for d in out} == ours.probabilities
    assert ours.label == "acceptable"
    onnx = Predictor(str(tmp_path / "run"), backend="onnx")
    assert onnx.backend == "onnx"
    for text in ("the cats are on the mat .", "a dog", "the big red cat was near the table , happy and good ."):
        torch_probs = Predictor(str(tmp_path / "run"), backend="torch").predict(text).probabilities
        assert onnx.predict(text).probabilities == pytest.approx(torch_probs, abs=1e-5)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    """conftest runs torch on one thread; users run several, where reductions split differently: run both."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        torch.set_num_threads(before)


def test_stop_request_checkpoints_and_resume_matches_the_uninterrupted_run(tmp_path, toy_data, torch_threads):
    import torch

    assert torch.get_num_threads() == torch_threads
    model = build_tiny_bert(tmp_path / "m", seed=5)
    import json as _json
    cfg = _json.loads((model / "config.json").read_text())
    cfg["hidden_dropout_prob"] = 0.1          # dropout on: the resumed run must restore the RNG too
    (model / "config.json").write_text(_json.dumps(cfg))

    full = []
    fit(config(model, toy_data, tmp_path / "full", epochs=3, eval_every=7), on_event=full.append)
    full_losses = {e.step: e.loss for e in full if isinstance(e, StepLogged)}

    stop = threading.Event()
    first = []

    def stop_at_13(event):
        first.append(event)
        if isinstance(event, StepLogged) and event.step == 13:
            stop.set()

    # log_seconds=0: each step's event goes out as the step ends, so the request lands right after step 13
    result = fit(config(model, toy_data, tmp_path / "cut", epochs=3, eval_every=7, log_seconds=0), on_event=stop_at_13, stop=stop)
    assert result.status == "stopped" and result.steps == 13      # within one optimizer step of the request
    assert (tmp_path / "cut" / "checkpoints" / "last" / "trainer_state.json").is_file()
    assert not (tmp_path / "cut" / "model").exists()
    second = []
    resumed = fit(resume=str(tmp_path / "cut"), on_event=second.append)
    assert resumed.status == "completed" and resumed.steps == 30
    resumed_losses = {e.step: e.loss for e in second if isinstance(e, StepLogged)}
    assert min(resumed_losses) == 14
    for step, loss in resumed_losses.items():
        assert loss == pytest.approx(full_losses[step], rel=1e-4, abs=1e-6), step
    with pytest.raises(TuneLabError, match="no resumable checkpoint"):
        fit(resume=str(tmp_path / "cut"))


def test_early_stopping_and_frozen_layers(tiny_bert, toy_data, tmp_path):
    from safetensors.torch import load_file

    result = fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=30, lr=1e-5, eval_every=2, early_stop=2,
                        freeze_layers=1, metric="accuracy"))
    assert result.status == "early_stopped" and result.steps < 300
    before, after = load_file(str(tiny_bert / "model.safetensors")), load_file(str(tmp_path / "run/model/model.safetensors"))
    def get(sd, suffix):
        return next(v for k, v in sd.items() if k.endswith(suffix))
    assert (get(before, "embeddings.word_embeddings.weight") == get(after, "embeddings.word_embeddings.weight")).all()
    assert (get(before, "layer.0.attention.self.query.weight") == get(after, "layer.0.attention.self.query.weight")).all()
    assert not (get(before, "layer.1.attention.self.query.weight") == get(after, "layer.1.attention.self.query.weight")).all()


def test_regression_task_trains_and_reports_correlations(tiny_bert, tmp_path):
    from conftest import write_jsonl

    rows = [{"a": "the cat is happy ." if i % 2 else "the dog is sad .", "b": "the cat is happy .",
             "score": 5.0 if i % 2 else 1.0} for i in range(80)]
    d = tmp_path / "sts"
    d.mkdir()
    write_jsonl(d / "train.jsonl", rows)
    write_jsonl(d / "validation.jsonl", rows[:20])
    result = fit(FitConfig(model=str(tiny_bert), data=str(d), eqn="regress: score ~ a + b", out=str(tmp_path / "r"),
                           epochs=8, lr=3e-3, batch_size=16))
    assert result.figure_of_merit == "pearson" and result.metrics["validation"]["pearson"] > 0.9
    assert json.loads((tmp_path / "r/model/config.json").read_text())["problem_type"] == "regression"


@pytest.mark.parametrize("kw, fragment", [
    (dict(max_length=100), "beyond .* limit of 64"),
    (dict(batch_size=0), "--batch-size 0 is out of range: it must be from 1"),
    (dict(freeze_layers=5), "has only 2 layers"),
    (dict(eqn="classify: label ~ text"), "column 'text'"),
    (dict(metric="pearson"), "does not apply"),
    (dict(data="/nonexistent/train.csv"), "does not exist"),
    (dict(model="/nonexistent/model"), "does not exist"),
])
def test_bad_input_fails_before_anything_is_written(tiny_bert, toy_data, tmp_path, kw, fragment):
    with pytest.raises(TuneLabError, match=fragment):
        fit(config(**{"model": tiny_bert, "data": toy_data, "out": tmp_path / "run", **kw}))
    assert not (tmp_path / "run").exists()


def test_out_directory_holding_a_run_is_refused(tiny_bert, toy_data, tmp_path):
    fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=1))
    with pytest.raises(TuneLabError, match="already holds a run"):
        fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=1))


def test_a_stop_during_an_epochs_evaluation_is_scored_after_resume(tiny_bert, toy_data, tmp_path):
    """A stop that cancels the end-of-epoch evaluation used to save a checkpoint already in the next epoch: the
    resumed run never scored that epoch and its history had a hole."""
    from tunelab.core.events import EvalDone, EvalStarted

    stop = threading.Event()

    def on_event(event):
        if isinstance(event, EvalStarted) and not event.final:
            stop.set()                                   # lands while the first epoch's validation is scored

    first = fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=3), on_event=on_event, stop=stop)
    assert first.status == "stopped"
    events = []
    resumed = fit(resume=str(tmp_path / "run"), on_event=events.append)
    assert resumed.status == "completed"
    scored = [e.epoch for e in events if isinstance(e, EvalDone)]
    assert scored == [1.0, 2.0, 3.0]
