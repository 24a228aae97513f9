"""What fit promises beyond "the loss falls", each checked against an independent computation: the saved model is
the best evaluation's weights, gradient accumulation is the bigger batch it stands for, and the learning rate
warms up and decays as the schedule says."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from conftest import build_tiny_bert
from tunelab.core.config import FitConfig
from tunelab.core.events import EvalDone, StepLogged
from tunelab.core.fit import fit

EQN = "classify: label ~ sentence"


def config(model, data, out, **overrides):
    base = dict(model=str(model), data=str(data), eqn=EQN, out=str(out), batch_size=16, seed=3)
    return FitConfig(**{**base, **overrides})


def test_the_saved_model_is_the_best_evaluation_not_the_last(tiny_bert, toy_data, tmp_path):
    """A learning rate that warms up to far too high a peak learns the toy task, then unlearns it: the best
    evaluation comes early and the last ones are worse; what is saved must be the best one's weights."""
    from tunelab.core.evaluation import evaluate_model

    events = []
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=4, lr=5e-2, warmup=0.9, eval_every=2,
                        metric="accuracy"), on_event=events.append)
    evals = [e for e in events if isinstance(e, EvalDone)]
    best = [e for e in evals if e.is_best][-1]
    last = evals[-1]
    assert last.step == result.steps and best.step < last.step          # the run ends on an evaluation...
    assert last.metrics["accuracy"] < best.metrics["accuracy"]          # ...that is worse than the best one
    assert best.metrics["accuracy"] == max(e.metrics["accuracy"] for e in evals) == result.best_metric
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["validation"] == pytest.approx(best.metrics)
    assert metrics["validation"]["accuracy"] == result.best_metric
    # the saved weights, scored afresh on the same split, give the best evaluation's scores, not the last one's
    rescored = evaluate_model(str(tmp_path / "run"), split="validation")
    assert rescored.scores == pytest.approx(best.metrics, abs=1e-6)
    assert rescored.scores["accuracy"] != pytest.approx(last.metrics["accuracy"])


def test_grad_accum_2_of_batch_8_trains_exactly_like_batch_16(toy_data, tmp_path, monkeypatch):
    """Dropout is off in the tiny model. The batch-8 run is given the halves of the batch-16 run's batches, so
    each optimizer step sees the same 16 examples: losses and final weights must agree to float precision."""
    from safetensors.torch import load_file

    fit_module = importlib.import_module("tunelab.core.fit")
    from tunelab.core import batching

    model = build_tiny_bert(tmp_path / "m", seed=4)
    assert json.loads((model / "config.json").read_text())["hidden_dropout_prob"] == 0.0
    whole = []
    fit(config(model, toy_data, tmp_path / "b16", epochs=2, lr=2e-3), on_event=whole.append)

    original = batching.length_grouped_batches

    def halves_of_the_16s(lengths, batch_size, seed, epoch, group=50):
        assert batch_size == 8
        return [half for b in original(lengths, 16, seed, epoch, group) for half in (b[:8], b[8:])]

    monkeypatch.setattr(fit_module, "length_grouped_batches", halves_of_the_16s)
    accumulated = []
    fit(config(model, toy_data, tmp_path / "b8x2", epochs=2, lr=2e-3, batch_size=8, grad_accum=2),
        on_event=accumulated.append)

    def losses(events):
        return [(e.step, e.loss, e.learning_rate) for e in events if isinstance(e, StepLogged)]

    a, b = losses(whole), losses(accumulated)
    assert len(a) == len(b) == 20                                   # 160 examples / 16 per step x 2 epochs
    for (step, loss, lr), (step2, loss2, lr2) in zip(a, b):
        assert step == step2 and lr == pytest.approx(lr2)
        assert loss2 == pytest.approx(loss, rel=1e-4, abs=1e-6), step
    w16, w8 = load_file(str(tmp_path / "b16/model/model.safetensors")), load_file(str(tmp_path / "b8x2/model/model.safetensors"))
    assert w16.keys() == w8.keys()
    for name in w16:
        assert torch.allclose(w16[name], w8[name], atol=1e-4), name
    start = load_file(str(model / "model.safetensors"))
    moved = [k for k in w16 if "layer" in k and (w16[k] - start[k.removeprefix("bert.")]).abs().max() > 1e-2]
    assert len(moved) > 10                                          # it trained: not a comparison of two no-ops


def test_learning_rate_warms_up_linearly_then_decays_to_zero(tiny_bert, toy_data, tmp_path):
    """--warmup 0.2 of 60 steps: 12 steps rising linearly to --lr, then a straight line down to 0 at the last step."""
    events = []
    peak = 2e-3
    result = fit(config(tiny_bert, toy_data, tmp_path / "run", epochs=6, lr=peak, warmup=0.2), on_event=events.append)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (run["total_steps"], run["warmup_steps"], result.steps) == (60, 12, 60)
    lrs = {e.step: e.learning_rate for e in events if isinstance(e, StepLogged)}
    assert sorted(lrs) == list(range(1, 61))
    for step in range(1, 13):
        assert lrs[step] == pytest.approx(peak * step / 12), step        # linear rise from 0
    for step in range(12, 61):
        assert lrs[step] == pytest.approx(peak * (60 - step) / 48, abs=1e-12), step   # linear fall to 0
    assert lrs[12] == pytest.approx(peak) and max(lrs.values()) == lrs[12]
    assert all(lrs[s] < lrs[s + 1] for s in range(1, 12)) and all(lrs[s] > lrs[s + 1] for s in range(12, 60))
    assert lrs[60] == pytest.approx(0.0, abs=1e-12)
