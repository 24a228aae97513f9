"""The ONNX export is run through ONNX Runtime's transformer optimizer (fused attention, SkipLayerNorm, BiasGelu,
fp32): the fused graph gives the plain graph's labels and probabilities, and when the optimizer is missing, fails
or disagrees, the plain graph is used and prediction goes on as before. A sentence model's prediction does not go
through the task's own prediction hook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import build_tiny_bert

from tunelab.core import onnx_runtime
from tunelab.core.predictor import Predictor
from tunelab.core.tasks.base import Task

SENTENCES = ["the cats are on the mat .", "a dog", "the keys to the cabinet are on the table ."]


def cache_meta(model: Path) -> dict:
    from tunelab.core.run_dir import state_dir

    return json.loads((state_dir() / "onnx" / onnx_runtime._cache_key(str(model)) / "export.json").read_text())


def answers(model: Path, backend: str = "onnx") -> list:
    pred = Predictor(str(model), backend=backend)
    return [(p.label, p.probabilities) for p in map(pred.predict, SENTENCES)]


def agree(p: list, q: list, tol: float) -> bool:
    return all(a[0] == b[0] and all(abs(a[1][k] - b[1][k]) < tol for k in a[1]) for a, b in zip(p, q))


@pytest.fixture
def model(tmp_path):
    return build_tiny_bert(tmp_path / "m", num_labels=3, heads=4, seed=5)


def test_the_fused_graph_gives_the_plain_graphs_labels_and_probabilities(model, monkeypatch):
    if onnx_runtime._optimizer() is None:
        pytest.skip("onnxruntime without its transformer optimizer")
    fused = answers(model)
    meta = cache_meta(model)
    assert meta["optimized"] is True
    from tunelab.core.run_dir import state_dir

    shutil.rmtree(state_dir() / "onnx")
    monkeypatch.setattr(onnx_runtime, "_optimizer", lambda: None)
    plain = answers(model)
    assert cache_meta(model)["optimized"] is False
    assert agree(fused, plain, 1e-5)
    assert agree(fused, answers(model, "torch"), 1e-5)


def test_the_fused_graph_has_fused_attention(model, tmp_path):
    if onnx_runtime._optimizer() is None:
        pytest.skip("onnxruntime without its transformer optimizer")
    import onnx

    pred = Predictor(str(model), backend="onnx")
    # the export switched to eager attention for the optimizer's sake; the PyTorch model (predict_batch) is as loaded
    loaded = Predictor(str(model), backend="torch").model.config._attn_implementation
    assert pred.model.config._attn_implementation == loaded
    from tunelab.core.run_dir import state_dir

    graph = onnx.load(str(state_dir() / "onnx" / onnx_runtime._cache_key(str(model)) / "model.onnx"))
    ops = {n.op_type for n in graph.graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops


def failing_optimizer(*args, **kwargs):
    raise RuntimeError("the optimizer broke")


def test_an_optimizer_that_fails_leaves_the_plain_graph(model, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "_optimizer", lambda: failing_optimizer)
    pred = Predictor(str(model), backend="onnx")
    assert pred.backend == "onnx"
    assert cache_meta(model)["optimized"] is False
    assert agree(answers(model), answers(model, "torch"), 1e-5)
    from tunelab.core.run_dir import state_dir

    folder = state_dir() / "onnx" / onnx_runtime._cache_key(str(model))
    assert sorted(f.name for f in folder.iterdir()) == ["export.json", "model.onnx"]   # nothing half-written left


def test_an_optimizer_that_changes_the_answers_is_not_used(model, tmp_path, monkeypatch):
    """A fused graph whose logits are not the plain graph's (here: another model's graph) is thrown away."""
    other = build_tiny_bert(tmp_path / "other", num_labels=3, heads=4, seed=9)
    Predictor(str(other), backend="onnx")
    from tunelab.core.run_dir import state_dir

    wrong = (state_dir() / "onnx" / onnx_runtime._cache_key(str(other)) / "model.onnx").read_bytes()

    class Wrong:
        def save_model_to_file(self, path):
            Path(path).write_bytes(wrong)

    monkeypatch.setattr(onnx_runtime, "_optimizer", lambda: lambda *a, **k: Wrong())
    assert agree(answers(model), answers(model, "torch"), 1e-5)
    assert cache_meta(model)["optimized"] is False


def test_a_sentence_models_predict_does_not_call_the_tasks_own_hook(model, monkeypatch):
    pred = Predictor(str(model), backend="onnx")
    calls = []
    monkeypatch.setattr(Task, "predict_batch", lambda *a, **k: calls.append(a))
    assert pred.predict(SENTENCES[0]).label in pred.labels
    assert [p.label for p in pred.predict_batch(SENTENCES)] == [pred.predict(s).label for s in SENTENCES]
    assert calls == []
