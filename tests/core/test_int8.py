"""Opt-in int8 prediction and the fused graph for batches: the int8 graph is used only when asked for, it reports its
agreement with fp32 on the same inputs (labels agree on most, the largest probability difference is finite), it is
refused in one line where it cannot be had, and batch prediction and evaluation run the same fused graph as one
sentence does, with the PyTorch path's labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import agreement_rows, build_tiny_bert, train_tiny, write_toy_splits
from crafted_tagger import SENTENCE, build_tagger
from tunelab.core import onnx_backend, onnx_runtime
from tunelab.core.errors import TuneLabError
from tunelab.core.predictor import Predictor

TEXTS = [row["sentence"] for row in agreement_rows(60, seed=3)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny classifier fine-tuned once for this file (its labels are not coin flips, as an untrained head's are)."""
    root = tmp_path_factory.mktemp("int8")
    return train_tiny(root, write_toy_splits(root / "toy"), epochs=4, lr=2e-3).run_dir


def quantized_files(predictor) -> list:
    folder = onnx_runtime.cache_folder(predictor.model, predictor._path, per_token=predictor.per_token)
    return sorted(p.name for p in folder.glob("*int8*"))


def cached_ops(predictor, name: str) -> set:
    """The operators of a graph in the predictor's cache folder (model.onnx: fp32, model.int8.onnx: int8)."""
    import onnx

    folder = onnx_runtime.cache_folder(predictor.model, predictor._path, per_token=predictor.per_token)
    return {n.op_type for n in onnx.load(str(folder / name)).graph.node}


def test_int8_reports_its_agreement_with_fp32_on_the_inputs(run):
    predictor = Predictor(run, int8=True)
    assert (predictor.backend, predictor.precision, predictor.int8) == ("onnx", "int8", True)
    assert quantized_files(predictor) == ["int8.json", "model.int8.onnx"]
    assert predictor._onnx is predictor._sessions["int8"] is not predictor._sessions["fp32"]
    assert {"MatMulInteger", "QAttention"} <= cached_ops(predictor, "model.int8.onnx")
    preds = predictor.predict_batch(TEXTS)
    agreement = predictor.agreement(TEXTS, predictions=preds)
    assert agreement.compared == len(TEXTS) and agreement.unit == "inputs"
    assert agreement.label_agreement >= 0.9                               # labels agree on most rows
    assert math.isfinite(agreement.max_difference) and 0 < agreement.max_difference < 0.2   # int8 is not fp32
    fp32 = Predictor(run).predict_batch(TEXTS)      # what the agreement says is what fp32 and int8 answer
    same = sum(a.label == b.label for a, b in zip(fp32, preds))
    diff = max(abs(a.probabilities[k] - b.probabilities[k]) for a, b in zip(fp32, preds) for k in a.probabilities)
    assert agreement.same == same and agreement.max_difference == pytest.approx(diff, abs=1e-6)
    line = agreement.line()
    assert f"({same} of {len(TEXTS)})" in line and "largest probability difference" in line and "\n" not in line
    assert agreement.record()["label_agreement"] == same / len(TEXTS)


def test_without_int8_prediction_is_fp32_and_nothing_is_quantized(run, monkeypatch):
    def no_quantizing(*args, **kwargs):
        raise AssertionError("the int8 graph was made without being asked for")

    monkeypatch.setattr(onnx_runtime, "quantize", no_quantizing)
    predictor = Predictor(run)
    assert (predictor.backend, predictor.precision, predictor.int8) == ("onnx", "fp32", False)
    assert quantized_files(predictor) == []
    assert predictor._onnx is predictor._sessions["fp32"] and "int8" not in predictor._sessions
    assert not {"MatMulInteger", "QAttention"} & cached_ops(predictor, "model.onnx")
    ours = predictor.predict_batch(TEXTS[:10])
    torch = Predictor(run, backend="torch").predict_batch(TEXTS[:10])
    assert [p.label for p in ours] == [p.label for p in torch]
    with pytest.raises(TuneLabError, match="turn int8 on first"):
        predictor.agreement(TEXTS[:3])


def test_int8_toggles_on_and_off_on_a_loaded_predictor(run):
    predictor = Predictor(run)
    fp32 = predictor.predict(TEXTS[0])
    predictor.set_int8(True)
    assert predictor.precision == "int8"
    int8 = predictor.predict(TEXTS[0])
    assert int8.probabilities != fp32.probabilities
    predictor.set_int8(False)
    assert predictor.precision == "fp32" and predictor.predict(TEXTS[0]).probabilities == fp32.probabilities


def test_the_int8_graph_is_cached_beside_the_fp32_graph_and_checked(run, monkeypatch):
    Predictor(run, int8=True)
    calls = []
    real = __import__("onnxruntime.quantization", fromlist=["quantize_dynamic"]).quantize_dynamic
    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", lambda *a, **k: calls.append(1) or real(*a, **k))
    predictor = Predictor(run, int8=True)
    assert calls == []                                             # the cached graph was used
    folder = onnx_runtime.cache_folder(predictor.model, predictor._path)
    (folder / "model.int8.onnx").write_bytes(b"not a graph")       # a damaged cache is made again, not used
    Predictor(run, int8=True).predict(TEXTS[0])
    assert calls == [1]


@pytest.mark.parametrize("combo, message", [
    (dict(backend="torch"), "does not go with --backend torch"),
    (dict(device="cuda"), "runs on the CPU"),
])
def test_int8_where_it_cannot_run_is_one_line(run, combo, message, monkeypatch):
    import torch

    from tunelab.core import predictor as predictor_module

    # a machine whose GPU the device check accepts (this one has none: --device cuda would be refused before int8)
    monkeypatch.setattr(predictor_module, "pick_device",
                        lambda requested=None: torch.device("meta" if requested == "cuda" else "cpu"))
    with pytest.raises(TuneLabError, match=message) as err:
        Predictor(run, int8=True, **combo)
    assert "\n" not in str(err.value)


def test_int8_is_refused_for_a_task_onnx_does_not_serve_and_without_onnxruntime(monkeypatch):
    import torch

    from tunelab.core.tasks.base import task_for

    spans = task_for("classify_spans")
    with pytest.raises(TuneLabError, match="PyTorch only; --int8 quantizes the ONNX graph, so drop --int8"):
        onnx_backend.use_onnx("auto", torch.device("cpu"), spans, int8=True, name="qa", task="classify_spans")
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)
    with pytest.raises(TuneLabError, match="needs onnxruntime and onnx"):
        onnx_backend.use_onnx("auto", torch.device("cpu"), task_for("classify"), int8=True, name="m", task="classify")


def test_a_quantizer_that_fails_is_one_line(run, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Unable to find data type for weight_name='x'\nmore lines")

    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", broken)
    with pytest.raises(TuneLabError, match="could not quantize .* to int8: Unable to find data type") as err:
        Predictor(run, int8=True)
    assert "\n" not in str(err.value)


def test_batches_run_the_fused_graph_with_the_pytorch_labels(run, monkeypatch):
    predictor = Predictor(run)
    assert predictor.backend == "onnx" and onnx_runtime.available()
    torch_preds = Predictor(run, backend="torch").predict_batch(TEXTS, batch_size=8)

    def no_torch(*args, **kwargs):
        raise AssertionError("a batch went through PyTorch while ONNX serves the model")

    monkeypatch.setattr(predictor.model, "forward", no_torch)
    ours = predictor.predict_batch(TEXTS, batch_size=8)
    assert [p.label for p in ours] == [p.label for p in torch_preds]
    assert all(abs(a.probabilities[k] - b.probabilities[k]) < 1e-5 for a, b in zip(ours, torch_preds)
               for k in a.probabilities)
    assert all(abs(p.probabilities[p.label] - predictor.predict(p.text).score) < 1e-5 for p in ours[:5])


def test_token_batches_run_the_fused_graph_with_the_pytorch_tags(tmp_path, monkeypatch):
    tagger = build_tagger(tmp_path / "tagger")
    texts = [SENTENCE, "the cats sat on the mat.", "Paris, near the big red table: a dog ran!"]
    torch_preds = Predictor(str(tagger), backend="torch").predict_batch(texts)
    predictor = Predictor(str(tagger))
    assert predictor.backend == "onnx"
    monkeypatch.setattr(predictor.model, "forward", lambda *a, **k: (_ for _ in ()).throw(AssertionError("torch")))
    ours = predictor.predict_batch(texts)
    assert [p.tags for p in ours] == [p.tags for p in torch_preds]
    predictor.set_int8(True)
    agreement = predictor.agreement(texts)
    assert agreement.unit == "words" and agreement.compared == sum(len(p.words) for p in ours)
    assert agreement.label_agreement >= 0.9 and math.isfinite(agreement.max_difference)


def test_eval_on_the_onnx_backend_scores_as_pytorch_and_int8_reports_agreement(run, monkeypatch):
    from tunelab.core.evaluation import evaluate_model

    torch_report = evaluate_model(run)
    assert torch_report.int8_agreement is None
    evaluate_model(run, backend="onnx")                 # exports the graph (through PyTorch) and caches it
    import torch

    monkeypatch.setattr(torch.nn.Module, "__call__", lambda *a, **k: (_ for _ in ()).throw(AssertionError("torch")))
    onnx_report = evaluate_model(run, backend="onnx")    # scored by the cached fused graph alone
    assert onnx_report.confusion == torch_report.confusion and onnx_report.value == pytest.approx(torch_report.value)
    monkeypatch.undo()
    int8 = evaluate_model(run, int8=True).int8_agreement
    assert int8["compared"] == torch_report.examples and int8["label_agreement"] >= 0.9
    assert math.isfinite(int8["max_difference"]) and int8["of"] == "probability"


def test_an_untrained_model_gives_a_finite_agreement(tmp_path):
    model = build_tiny_bert(tmp_path / "m", num_labels=3, heads=4, seed=5)
    predictor = Predictor(str(model), int8=True)
    agreement = predictor.agreement(TEXTS[:20])
    assert agreement.compared == 20 and math.isfinite(agreement.max_difference)
    assert np.isfinite(agreement.label_agreement)


def test_a_regression_reports_its_largest_value_difference_and_no_labels(tmp_path):
    model = build_tiny_bert(tmp_path / "r", num_labels=1, seed=2)
    predictor = Predictor(str(model), int8=True)
    assert predictor.is_regression
    agreement = predictor.agreement(TEXTS[:10])
    assert (agreement.unit, agreement.same, agreement.label_agreement, agreement.of) == ("values", None, None, "value")
    assert agreement.compared == 10 and math.isfinite(agreement.max_difference)
    assert "largest value difference" in agreement.line() and "label" not in agreement.line()
